public import Spindle

// Jobs the conformance suite runs. They are plain `Job` values, so every backend can run them,
// including those whose workers are other processes: a worker binary links this module.

/// Squares its input and adds `offset`.
public struct Square: Job {
    public var offset: Int
    public init(offset: Int = 0) { self.offset = offset }
    public func run(_ x: Int) async throws -> Int { x * x + offset }
}

/// The error ``FailAt`` throws; its description names the input, so it can be recognised even
/// after crossing a process boundary as text.
public struct ConformanceFailure: Error, Codable, Hashable, CustomStringConvertible {
    public var input: Int
    public init(input: Int) { self.input = input }
    public var description: String { "conformance failure at input \(input)" }
}

/// Returns its input, except that it throws ``ConformanceFailure`` at `failing`.
public struct FailAt: Job {
    public var failing: Int
    public init(failing: Int) { self.failing = failing }
    public func run(_ x: Int) async throws -> Int {
        if x == failing { throw ConformanceFailure(input: x) }
        return x
    }
}

/// Sleeps for its input in milliseconds (cancellably), then returns it.
public struct Nap: Job {
    public init() {}
    public func run(_ milliseconds: Int) async throws -> Int {
        try await Task.sleep(for: .milliseconds(milliseconds))
        return milliseconds
    }
}

/// Waits until its task is cancelled, for at most its input in seconds, then throws
/// `CancellationError`; returns `false` if nobody cancelled it in time.
public struct WaitForCancellation: Job {
    public init() {}
    public func run(_ seconds: Int) async throws -> Bool {
        try await Task.sleep(for: .seconds(seconds))
        return false
    }
}
