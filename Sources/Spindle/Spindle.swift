/// Process-wide entry points of the library.
public enum Spindle {
    /// Call first thing in `main`: in a ``ProcessPool`` worker process it serves jobs and never
    /// returns (the process exits when its pool lets it go); in a normal run it returns at once.
    ///
    /// A `ProcessPool` starts this same program again as its workers, marked through the
    /// environment. Without this call a worker would run your program instead of serving: the pool
    /// notices (the worker cannot start a pool of its own, and does not answer) and fails with
    /// ``SpindleError/Code/workerStartFailed``.
    ///
    /// ```swift
    /// @main struct App {
    ///     static func main() async throws {
    ///         try await Spindle.bootstrap()
    ///         // ...
    ///     }
    /// }
    /// ```
    public static func bootstrap() async throws {
        await WorkerMain.serveIfWorker()
    }
}
