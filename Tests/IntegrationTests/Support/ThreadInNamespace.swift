import Foundation

/// Runs code with the calling thread in another network namespace, so that
/// BPF_PROG_TEST_RUN's ingress device, devmap entries and FIB lookups are the
/// lab router's. Only this thread moves, and it moves back.
enum ThreadInNamespace {
    // Glibc's module map hides setns (it needs _GNU_SOURCE); the symbol is there.
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    static let setns: SetNS = unsafeBitCast(dlsym(dlopen(nil, RTLD_NOW), "setns"), to: SetNS.self)
    static let CLONE_NEWNET: Int32 = 0x4000_0000

    static func run<T>(in name: String, _ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY)
        let target = open("/run/netns/\(name)", O_RDONLY)
        defer { close(original); close(target) }
        guard original >= 0, target >= 0 else { throw LabError.setup("cannot open network namespaces") }
        guard setns(target, CLONE_NEWNET) == 0 else { throw LabError.setup("setns: \(String(cString: strerror(errno)))") }
        defer { precondition(setns(original, CLONE_NEWNET) == 0, "cannot return to the test's namespace") }
        return try body()
    }
}
