/// The one error type Spindle itself throws; switch on its ``code``.
///
/// Errors thrown by your own jobs are never wrapped: they reach the caller unchanged. A
/// `SpindleError` means something happened *around* a job: the pool was shut down, the task was
/// cancelled or ran out of time, or an argument made no sense.
///
/// ```swift
/// do {
///     _ = try await pool.submit(Square(), 7, timeout: .seconds(1)).value
/// } catch let error as SpindleError {
///     switch error.code {
///     case .timedOut: print("too slow")
///     case .cancelled, .poolShutDown: break
///     default: throw error
///     }
/// }
/// ```
public struct SpindleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a value that a `switch` can match.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable, CaseIterable {
            case poolShutDown, cancelled, timedOut, invalidArgument, systemError
            case workerDied, jobFailed, encodingFailed, protocolError, workerStartFailed, memoryLimitExceeded, rankLost
            case commandNotFound, commandNotRunnable
            case ownerDied, brokenBarrier, closed
        }
        let storage: Storage

        init(storage: Storage) { self.storage = storage }

        /// The pool was shut down before the task was submitted.
        public static var poolShutDown: Self { .init(storage: .poolShutDown) }
        /// The task was cancelled before it finished: by `Future.cancel()`, by an immediate
        /// shutdown, or because the caller stopped consuming a `map`.
        public static var cancelled: Self { .init(storage: .cancelled) }
        /// The task did not finish within its timeout, or a wait ran out of time.
        public static var timedOut: Self { .init(storage: .timedOut) }
        /// An argument was out of range, such as a pool with zero workers.
        public static var invalidArgument: Self { .init(storage: .invalidArgument) }
        /// The operating system refused a resource, such as a new thread; the message names the call and errno.
        public static var systemError: Self { .init(storage: .systemError) }

        /// The worker process running the job died: a crash, `exit`, a signal such as the OOM
        /// killer's SIGKILL. ``SpindleError/termination`` says how; the message names the job.
        public static var workerDied: Self { .init(storage: .workerDied) }
        /// A job in a worker process threw an error whose type is not `Codable`, so it came back as
        /// text: the message holds its type and description. (A `Codable` error comes back as itself.)
        public static var jobFailed: Self { .init(storage: .jobFailed) }
        /// A job, input or output could not be encoded or decoded to cross to or from a worker.
        public static var encodingFailed: Self { .init(storage: .encodingFailed) }
        /// A worker process sent a malformed message; it was killed and replaced.
        public static var protocolError: Self { .init(storage: .protocolError) }
        /// Worker processes could not be started or did not answer: a missing executable, a
        /// program whose `main` does not call `Spindle.bootstrap()` first, an initializer that threw.
        public static var workerStartFailed: Self { .init(storage: .workerStartFailed) }
        /// The worker process grew past the pool's memory limit and was killed.
        public static var memoryLimitExceeded: Self { .init(storage: .memoryLimitExceeded) }
        /// A whole server rank of an MPI job went silent (its process or its host died) while the
        /// task was on it; the message names the rank, its host and how long it had been silent.
        public static var rankLost: Self { .init(storage: .rankLost) }

        /// A command to run and time was not found (a shell exits 127 for it).
        public static var commandNotFound: Self { .init(storage: .commandNotFound) }
        /// A command to run and time was found but could not be run: no permission, not an
        /// executable format (a shell exits 126 for it).
        public static var commandNotRunnable: Self { .init(storage: .commandNotRunnable) }

        /// A process-shared lock's previous owner died while holding it, so what the lock protects
        /// may be half-changed. The lock has been made usable again and released; whoever gets this
        /// error should check or repair the protected state before taking the lock again.
        public static var ownerDied: Self { .init(storage: .ownerDied) }
        /// A barrier was broken: one of its parties died, timed out or aborted it, so the others
        /// would wait for ever. It stays broken until reset.
        public static var brokenBarrier: Self { .init(storage: .brokenBarrier) }
        /// A queue or channel was closed: nothing more can be put into it, and nothing is left to take.
        public static var closed: Self { .init(storage: .closed) }

        /// The code's name, as written in Swift: "timedOut", "workerDied", ...
        public var description: String { "\(storage)" }

        /// The code of that name (its ``description``), as it crosses between processes.
        package init?(name: String) {
            guard let storage = Storage.allCases.first(where: { "\($0)" == name }) else { return nil }
            self.storage = storage
        }
    }

    /// How a worker process ended, for ``Code/workerDied`` errors.
    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        /// It called `exit` with this status.
        case exited(Int32)
        /// A signal killed it: SIGSEGV (11) for a crash, SIGABRT (6) for `abort`, SIGKILL (9) from
        /// the OOM killer or a `kill -9`, SIGTRAP (5) or SIGILL (4) for a Swift runtime trap.
        case signalled(Int32)

        /// Decodes a wait status from `wait4` or `waitpid` (WIFEXITED/WEXITSTATUS, WTERMSIG).
        init(waitStatus status: Int32) {
            self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        }

        public var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signalled(let signal): "was killed by \(signalName(signal))"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for humans about this occurrence.
    public let message: String
    /// How the worker process ended, for ``Code/workerDied``; `nil` otherwise.
    public let termination: Termination?

    /// Creates an error with a code and a human-readable message.
    public init(_ code: Code, _ message: String, termination: Termination? = nil) {
        self.code = code
        self.message = message
        self.termination = termination
    }

    public var description: String { "SpindleError.\(code): \(message)" }

    package static func shutDown() -> Self { .init(.poolShutDown, "cannot submit work: the pool has been shut down") }
    @usableFromInline
    package static func cancelled() -> Self { .init(.cancelled, "the task was cancelled before it finished") }
    package static func timedOut(after timeout: Duration) -> Self {
        .init(.timedOut, "the task did not finish within \(timeout)")
    }
}
