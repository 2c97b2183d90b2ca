import PoolConformance
import Spindle

/// The worker executable the tests' pools run: `SpindleTestWorker`, built next to the test bundle.
let testWorkerPath = siblingExecutable("SpindleTestWorker")

/// A process pool of the test worker.
///
/// Its workers print no crash reports (each takes a fraction of a second, and the tests check the
/// causes of death themselves), and under a sanitizer they die of their signals the ordinary way,
/// rather than by the sanitizer's report and exit status.
func makeTestPool(workers: Int = 2, _ configure: (inout ProcessPool.Options) -> Void = { _ in }) throws -> ProcessPool {
    var options = ProcessPool.Options(executable: testWorkerPath)
    options.environment = [
        "SWIFT_BACKTRACE": "enable=no",
        "TSAN_OPTIONS": "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigtrap=0:handle_sigfpe=0",
    ]
    // A worker answers its handshake within milliseconds, but under ThreadSanitizer beside the
    // whole suite one took longer than the default 5 s, and the pool failed its start.
    options.handshakeTimeout = .seconds(60)
    configure(&options)
    return try ProcessPool(workers: workers, options: options)
}
