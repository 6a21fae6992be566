import Glibc

/// C library functions that Glibc declares only under _GNU_SOURCE (accept4,
/// sched_setaffinity, ...), which Swift's Glibc module is not built with;
/// the library exports them all the same, so they are looked up by name.
enum GNUSymbol {
    static func load<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
}
