public import Spindle
import Glibc

// Jobs that work on shared memory, for the tests of SharedArray and SharedAtomic: the same job
// must see the same memory on a thread pool and in a worker process.

/// Sums the elements in its input range of a read-only shared array.
public struct SumShared: Job {
    public var data: ReadOnlySharedArray<Double>
    public init(data: ReadOnlySharedArray<Double>) { self.data = data }
    public func run(_ range: Range<Int>) async throws -> Double {
        data.withUnsafeBufferPointer { $0[range].reduce(0, +) }
    }
}

/// One part of an output to fill: a slice of a shared array and the index its first element has
/// in the whole.
public struct OutputPart: Codable, Sendable {
    public var slice: SharedArray<Int>
    public var first: Int
    public init(slice: SharedArray<Int>, first: Int) {
        self.slice = slice
        self.first = first
    }
}

/// Writes `i * i + offset` at every index `i` of its part, and returns the process that did it.
public struct FillSquares: Job {
    public var offset: Int
    public init(offset: Int) { self.offset = offset }
    public func run(_ part: OutputPart) async throws -> Int32 {
        part.slice.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = (part.first + i) * (part.first + i) + offset }
        }
        return getpid()
    }
}

/// Makes a new shared array of its input's length, counting up from 0, and returns it: memory made
/// in a worker that the caller keeps.
public struct MakeCounting: Job {
    public init() {}
    public func run(_ count: Int) async throws -> SharedArray<Int> {
        try SharedArray(0..<count)
    }
}

/// Adds 1 to a shared counter its input number of times.
public struct Increment: Job {
    public var counter: SharedAtomic<Int>
    public init(counter: SharedAtomic<Int>) { self.counter = counter }
    public func run(_ times: Int) async throws -> Int {
        for _ in 0..<times { counter.add(1) }
        return times
    }
}

/// Returns the inodes of the shared segments its process has mapped (from /proc/self/maps): what a
/// test reads to see that a worker let go of memory.
public struct MappedSegments: Job {
    public init() {}
    public func run(_: Int) async throws -> [UInt64] {
        mappedSharedSegments(of: "self")
    }
}

/// The inodes of Spindle's shared segments that process `pid` ("self" for this one) has mapped.
public func mappedSharedSegments(of pid: String) -> [UInt64] {
    guard let file = fopen("/proc/\(pid)/maps", "r") else { return [] }
    defer { fclose(file) }
    var inodes: Set<UInt64> = []
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard text.contains("memfd:spindle-shared-") else { continue }
        // address perms offset device inode path
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count > 4, let inode = UInt64(fields[4]) { inodes.insert(inode) }
    }
    return inodes.sorted()
}
