public import Spindle
import Glibc

// Jobs that misbehave the ways real jobs do, for the tests of backends whose workers are
// processes: they crash, exit, hog memory, print, and break the wire. A worker binary links them.

/// How a ``Die`` job ends its worker process.
public enum Death: String, Codable, Sendable, CaseIterable {
    /// `fatalError`: a Swift runtime trap (SIGTRAP or SIGILL).
    case fatalError
    /// `abort()`: SIGABRT.
    case abort
    /// A write through a null pointer: SIGSEGV.
    case segfault
    /// `exit(3)`.
    case exit3
    /// SIGKILL, as from the OOM killer.
    case sigkill

    /// Ends the calling process this way.
    public func happen() -> Never {
        switch self {
        case .fatalError: Swift.fatalError("a Die job's fatalError")
        case .abort: Glibc.abort()
        case .segfault:
            // An unmapped address the optimiser cannot prove invalid.
            let address = UnsafeMutablePointer<Int>(bitPattern: 16 + Int(getpid()) & 0)!
            address.pointee = 42
            Glibc.exit(99)  // not reached
        case .exit3: Glibc.exit(3)
        case .sigkill:
            Glibc.kill(getpid(), SIGKILL)
            Glibc.exit(98)  // not reached
        }
    }

    /// How a worker that died this way ends, as `SpindleError.Termination` reports it; `nil` when
    /// more than one signal is possible (a trap is SIGTRAP or SIGILL, depending on the build).
    public var expectedTermination: SpindleError.Termination? {
        switch self {
        case .fatalError: nil
        case .abort: .signalled(SIGABRT)
        case .segfault: .signalled(SIGSEGV)
        case .exit3: .exited(3)
        case .sigkill: .signalled(SIGKILL)
        }
    }
}

/// Returns its input, except at `failing`, where it ends its worker process by `death`.
public struct Die: Job {
    public var failing: Int
    public var death: Death
    public init(at failing: Int, by death: Death) {
        self.failing = failing
        self.death = death
    }
    public func run(_ x: Int) async throws -> Int {
        if x == failing { death.happen() }
        return x
    }
}

/// Returns its input, except for one input in twenty, which ends its worker in one of the five
/// ways of ``Death`` in turn: the stress test's job.
public struct Chaos: Job {
    public init() {}

    /// How input `x` ends its worker, if it does.
    public static func death(for x: Int) -> Death? {
        x % 20 == 7 ? Death.allCases[(x / 20) % Death.allCases.count] : nil
    }

    public func run(_ x: Int) async throws -> Int {
        Self.death(for: x)?.happen()
        return x
    }
}

/// Creates the file at its input path once it runs, then blocks its worker for a minute, ignoring
/// cancellation: a job that has certainly started and can only be stopped by killing it.
public struct AnnounceThenBlock: Job {
    public init() {}
    public func run(_ path: String) async throws -> Bool {
        close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600))
        sleep(60)
        return false
    }
}

/// Returns the pid of the worker that ran it.
public struct WorkerPID: Job {
    public init() {}
    public func run(_: Int) async throws -> Int32 { getpid() }
}

/// Allocates and touches its input in MiB, holds it for a moment, and returns the count.
public struct Hog: Job {
    public init() {}
    public func run(_ mebibytes: Int) async throws -> Int {
        let bytes = mebibytes << 20
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { memory.deallocate() }
        memset(memory, 1, bytes)
        usleep(500_000)
        return mebibytes
    }
}

/// Allocates `input` blocks of 8 MiB, touches them and frees them all: memory a job used and
/// gave back, which must not count against the next job under a memory limit.
public struct Churn: Job {
    public init() {}
    public func run(_ blocks: Int) async throws -> Int {
        let size = 8 << 20
        let memory = (0..<blocks).map { _ in UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16) }
        for block in memory { memset(block, 1, size) }
        for block in memory { block.deallocate() }
        return blocks
    }
}

/// Prints its input to stdout and "warning: " + its input to stderr, then returns it.
public struct Talk: Job {
    public init() {}
    public func run(_ line: String) async throws -> String {
        let text = Array("\(line)\n".utf8)
        _ = text.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        let warning = Array("warning: \(line)\n".utf8)
        _ = warning.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        return line
    }
}

/// Prints a line with Swift's `print` (buffered by the C library) and then aborts: the line must
/// still reach the pool's output.
public struct PrintThenAbort: Job {
    public init() {}
    public func run(_ line: String) async throws -> String {
        print(line)
        abort()
    }
}

/// An error type that is not `Codable`, so it can only cross a process boundary as text.
public struct PlainError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "plain failure: \(reason)" }
}

/// Throws ``PlainError`` with its input as the reason.
public struct ThrowPlain: Job {
    public init() {}
    public func run(_ reason: String) async throws -> Int { throw PlainError(reason: reason) }
}

/// A value that refuses to be encoded when `poisoned`, to show encoding failures.
public struct Fragile: Codable, Sendable, Equatable {
    public var poisoned: Bool
    public init(poisoned: Bool) { self.poisoned = poisoned }
    public func encode(to encoder: any Encoder) throws {
        if poisoned {
            throw EncodingError.invalidValue(self, .init(codingPath: [], debugDescription: "a poisoned Fragile"))
        }
        var container = encoder.singleValueContainer()
        try container.encode(poisoned)
    }
    public init(from decoder: any Decoder) throws {
        poisoned = try decoder.singleValueContainer().decode(Bool.self)
    }
}

/// Returns a ``Fragile`` poisoned as its input says: an output that cannot be encoded.
public struct MakeFragile: Job {
    public init() {}
    public func run(_ poisoned: Bool) async throws -> Fragile { Fragile(poisoned: poisoned) }
}

/// Takes a ``Fragile`` and returns whether it was poisoned: an input that may not encode.
public struct TakeFragile: Job {
    public init() {}
    public func run(_ value: Fragile) async throws -> Bool { value.poisoned }
}

/// Writes bytes that are not a frame into its worker's socket to the pool (descriptor 3), then
/// returns: the pool must take it as a protocol error.
public struct Garble: Job {
    public init() {}
    public func run(_: Int) async throws -> Int {
        let junk: [UInt8] = [0x00, 0xFF, 0x13, 0x37, 0, 0, 0, 0, 1, 2, 3]
        _ = junk.withUnsafeBytes { write(3, $0.baseAddress, $0.count) }
        return 0
    }
}

/// Sums an array: for moving large inputs.
public struct SumDoubles: Job {
    public init() {}
    public func run(_ values: [Double]) async throws -> Double { values.reduce(0, +) }
}

/// Returns its input: for moving large values both ways.
public struct EchoDoubles: Job {
    public init() {}
    public func run(_ values: [Double]) async throws -> [Double] { values }
}

/// Returns its input, unless it starts with an infinity: then it ends its worker by a segfault.
/// For a chunk of large inputs that is retried after a crash.
public struct EchoDoublesUnlessInfinite: Job {
    public init() {}
    public func run(_ values: [Double]) async throws -> [Double] {
        if values.first?.isInfinite == true { Death.segfault.happen() }
        return values
    }
}

/// Takes an array and sleeps for ten minutes: a late job with a large input.
public struct SleepOnDoubles: Job {
    public init() {}
    public func run(_ values: [Double]) async throws -> Int {
        try await Task.sleep(for: .seconds(600))
        return values.count
    }
}

/// Set by ``MarkWorker`` in a worker process, read by ``ReadMark``.
nonisolated(unsafe) var workerMark = ""

/// An initializer that stores its text in the worker, for ``ReadMark`` to return.
public struct MarkWorker: WorkerInitializer {
    public var text: String
    public var fails: Bool
    public init(text: String, fails: Bool = false) {
        self.text = text
        self.fails = fails
    }
    public func initialize() async throws {
        if fails { throw PlainError(reason: "the initializer was told to fail") }
        workerMark = text
    }
}

/// An initializer that keeps its worker starting up until the file at `path` exists (a
/// ``FileGate``'s), as a slow start would, for at most ten minutes.
public struct AwaitFileFirst: WorkerInitializer {
    public var path: String
    public init(path: String) { self.path = path }
    public func initialize() async throws {
        _ = try await WaitForFile().run(path)
    }
}

/// Returns what ``MarkWorker`` stored in this worker.
public struct ReadMark: Job {
    public init() {}
    public func run(_: Int) async throws -> String { workerMark }
}

/// Multiplies by `factor`: a generic job, which a worker must find by its full type name.
public struct Scale<Value: BinaryFloatingPoint & Codable & Sendable>: Job {
    public var factor: Value
    public init(factor: Value) { self.factor = factor }
    public func run(_ x: Value) async throws -> Value { x * factor }
}
