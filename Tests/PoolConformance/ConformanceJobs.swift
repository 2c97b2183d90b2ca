public import Spindle
import Glibc

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

/// Holds its worker (blocking the thread, not suspending) until its task is cancelled, for at
/// most its input in seconds; then throws `CancellationError`, or returns `false` if nobody
/// cancelled it in time. Occupies a worker for sure, which `Nap` does not on a thread pool: a
/// suspended task leaves its thread free for other jobs.
public struct Hold: Job {
    public init() {}
    public func run(_ seconds: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            usleep(1_000)
        }
        return false
    }
}

/// Blocks its worker for its input in milliseconds, ignoring cancellation, then returns it.
public struct Busy: Job {
    public init() {}
    public func run(_ milliseconds: Int) async throws -> Int {
        usleep(UInt32(milliseconds) * 1_000)
        return milliseconds
    }
}

/// Holds its worker (blocking the thread) until the file at its input path exists, and returns
/// `true`; returns `false` when the file's folder is gone instead (its ``FileGate`` was dropped
/// unopened, as when a test fails early), or after ten minutes. A file is a signal every backend
/// can see, even a worker in another process. There is no shorter time-out: on a machine slowed
/// enough (ThreadSanitizer beside the whole suite), a test once took longer than a minute to open
/// its gate.
public struct WaitForFile: Job {
    public init() {}
    public func run(_ path: String) async throws -> Bool {
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            if access(path, F_OK) == 0 { return true }
            if access(folder, F_OK) != 0 { return false }
            usleep(1_000)
        }
        return false
    }
}

/// A signal for ``WaitForFile`` jobs: a unique path in a folder of its own, which ``open()``
/// creates; `deinit` removes the folder, which releases any job still waiting.
public final class FileGate: Sendable {
    /// The path to hand to ``WaitForFile``.
    public let path: String
    private let folder: String

    public init() {
        var template = Array("/tmp/spindle-gate-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        folder = made ?? { preconditionFailure("mkdtemp failed") }()
        path = folder + "/open"
    }

    /// Creates the file: every waiting job returns.
    public func open() {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        close(fd)
    }

    deinit {
        // With whatever else a test put beside the file (flags named after the path).
        if let directory = opendir(folder) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(folder + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(folder)
    }
}
