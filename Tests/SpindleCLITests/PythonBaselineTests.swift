import Foundation
import Glibc
@testable import SpindleCLI
import Testing

/// The Python baselines of `spindle bench`: a script that hangs, as a Python process pool can,
/// is stopped with its whole process group rather than hanging the benchmark.
@Suite struct PythonBaselineTests {
    struct Nothing: Decodable {}

    @Test(.enabled(if: PythonBaselineTests.hasPython)) func aHangingScriptIsStoppedWithItsChildren() throws {
        let pidFile = NSTemporaryDirectory() + "spindle-python-child-\(getpid())"
        defer { unlink(pidFile) }
        // The script starts a child that would sleep for a minute, then sleeps itself.
        let script = """
            import os, subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open(sys.argv[1], "w").write(str(child.pid))
            time.sleep(60)
            """
        let started = ContinuousClock.now
        let result = PythonBaseline.runScript(
            arguments: ["-c", script, pidFile],
            decoding: Nothing.self,
            timeLimitSeconds: 2
        )
        #expect(ContinuousClock.now - started < .seconds(30))
        guard case .failure(let error) = result else {
            Issue.record("a script that never finished succeeded")
            return
        }
        #expect(error.description.contains("did not finish within 2 s"))
        let child = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8)))
        // The child was killed with its group; it may linger a moment as an orphan being reaped by init.
        var alive = kill(child, 0) == 0
        let deadline = ContinuousClock.now + .seconds(10)
        while alive && ContinuousClock.now < deadline {
            usleep(10_000)
            alive = kill(child, 0) == 0
        }
        #expect(!alive, "the script's child outlived the time limit")
    }

    static var hasPython: Bool {
        PythonBaseline.runScript(arguments: ["-c", "print('{}')"], decoding: Nothing.self).isSuccess
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { true } else { false }
    }
}
