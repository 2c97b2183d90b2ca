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
        enum Storage: Hashable, Sendable {
            case poolShutDown, cancelled, timedOut, invalidArgument, systemError
        }
        let storage: Storage

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

        public var description: String {
            switch storage {
            case .poolShutDown: "poolShutDown"
            case .cancelled: "cancelled"
            case .timedOut: "timedOut"
            case .invalidArgument: "invalidArgument"
            case .systemError: "systemError"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for humans about this occurrence.
    public let message: String

    /// Creates an error with a code and a human-readable message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "SpindleError.\(code): \(message)" }

    static func shutDown() -> Self { .init(.poolShutDown, "cannot submit work: the pool has been shut down") }
    @usableFromInline
    static func cancelled() -> Self { .init(.cancelled, "the task was cancelled before it finished") }
    static func timedOut(after timeout: Duration) -> Self {
        .init(.timedOut, "the task did not finish within \(timeout)")
    }
}
