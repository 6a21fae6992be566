/// The release, shown by `fibfast --version` and in the man page's footer
/// (the Makefile reads it from here, so it is written once).
enum FibfastVersion {
    static let string = "0.1.0"
}
