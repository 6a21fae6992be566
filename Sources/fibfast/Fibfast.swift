import ArgumentParser

@main
struct Fibfast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fibfast",
        abstract: "Forward IP packets in XDP, with the kernel's FIB as the only source of truth.",
        discussion: """
            fibfast attaches an XDP fast path to a router's ports. Every packet it can forward \
            exactly as the kernel would is forwarded in XDP; everything else goes to the kernel. \
            When fibfast stops or crashes, the kernel forwards alone.
            """,
        version: FibfastVersion.string,
        subcommands: [Attach.self, Detach.self, Status.self, Stats.self, Top.self, Lookup.self, Routes.self]
    )
}
