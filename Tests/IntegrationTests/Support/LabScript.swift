/// Builds a lab with one of Tests/lab's scripts (`SCRIPT up NAME`) under a
/// fresh name; a failed build is taken down again before the error is thrown.
/// The script ties the lab to this process, so it goes even if the test
/// process dies before its teardown runs.
enum LabScript {
    static func up(_ script: String, prefix: String, options: [String] = []) throws -> String {
        let name = prefix + String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let result = try Command.run([script, "up", name] + options)
        guard result.succeeded else {
            _ = try? Command.run([script, "down", name])
            throw LabError.setup(result.stderr + result.stdout)
        }
        return name
    }
}
