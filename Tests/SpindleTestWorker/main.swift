import Glibc
import PoolConformance
import Spindle

// The worker executable the tests' process pools run, since `swift test` owns the test
// process's `main`. It links the jobs of PoolConformance, which is all a worker can ever run.
//
// SPINDLE_TEST_WORKER_MODE makes it misbehave the ways a real program might:
// - "forgot-bootstrap": skips `bootstrap()` and tries to start a pool, as a program that forgot it;
// - "silent": skips `bootstrap()` and sleeps, never answering.
switch getenv("SPINDLE_TEST_WORKER_MODE").map({ String(cString: $0) }) {
case "forgot-bootstrap":
    do {
        _ = try ProcessPool(workers: 1)
        print("started a pool inside a worker")
    } catch {
        print("as expected: \(error)")
    }
    exit(1)
case "silent":
    sleep(600)
default:
    try await Spindle.bootstrap()
    print("SpindleTestWorker serves ProcessPool tests; it is not meant to be run by hand.")
}
