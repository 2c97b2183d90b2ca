/// Process-wide entry points of the library.
public enum Spindle {
    /// Call first thing in `main`: in a Spindle worker process it serves jobs and never returns;
    /// in a normal run it returns at once.
    ///
    /// Thread pools need no worker processes, so today it always returns at once. Calling it from
    /// day one means a program is ready for `ProcessPool`, which re-launches the same binary as
    /// its workers, without changing a line.
    ///
    /// ```swift
    /// @main struct App {
    ///     static func main() async throws {
    ///         try await Spindle.bootstrap()
    ///         // ...
    ///     }
    /// }
    /// ```
    public static func bootstrap() async throws {}
}
