import Foundation
import XCTest

/// Small BPF programs that tests build on the spot (a tc filter, a program
/// the verifier refuses), with the compiler the project builds with
/// (scripts/bpf-cc.sh: the toolchain's clang and the kernel's headers).
enum BPFSource {
    /// Compiles `source` into an object in a fresh directory that the test
    /// removes when it ends; returns the object's path.
    static func compile(_ source: String, name: String, test: XCTestCase) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ff-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("\(name).bpf.c")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let object = directory.appendingPathComponent("\(name).bpf.o")
        let compiler = Command.root.appendingPathComponent("scripts/bpf-cc.sh").path
        let build = try Command.run([compiler, "-O2", "-g", "-c", file.path, "-o", object.path])
        guard build.succeeded else { throw LabError.command("bpf-cc.sh \(name)", build.stderr) }
        return object.path
    }
}
