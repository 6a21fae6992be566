import Glibc

enum Sockets {
    /// A TCP socket closed on exec. Kept in a file that imports Glibc alone:
    /// next to Foundation, clean builds intermittently lose SOCK_STREAM.
    static func stream(family: Int32) -> Int32 {
        socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }
}
