import Glibc

/// A file descriptor this process owns and closes when the last reference
/// goes away. BPF objects (programs, maps, links) live as long as some
/// descriptor or pin holds them, so ownership has to be explicit.
public final class OwnedDescriptor: @unchecked Sendable {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    deinit { close(rawValue) }
}
