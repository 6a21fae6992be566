import Foundation
import XCTest

/// Small BPF programs that tests build on the spot (a tc filter, a program
/// the verifier refuses), with the clang the project builds with.
enum BPFSource {
    static var clang: String {
        FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/clang") ? "/opt/swift/usr/bin/clang" : "clang"
    }

    /// Compiles `source` into an object in a fresh directory that the test
    /// removes when it ends; returns the object's path.
    static func compile(_ source: String, name: String, test: XCTestCase) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ff-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("\(name).bpf.c")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let object = directory.appendingPathComponent("\(name).bpf.o")
        var machine = utsname()
        uname(&machine)
        let arch = withUnsafeBytes(of: machine.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let build = try Command.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/\(arch)-linux-gnu",
                                     "-c", file.path, "-o", object.path])
        guard build.succeeded else { throw LabError.command("clang \(name)", build.stderr) }
        return object.path
    }
}
