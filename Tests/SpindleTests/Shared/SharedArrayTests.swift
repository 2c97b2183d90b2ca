import Foundation
import Glibc
import PoolConformance
import Testing

@testable import Spindle

/// `SharedArray` and `SharedAtomic`: the same memory on both sides of a pool, never a copy, and
/// nothing left behind.
@Suite(.timeLimit(.minutes(5)))
struct SharedArrayTests {
    @Test func anArrayReadsAndWritesLikeAnArray() throws {
        let array = try SharedArray<Double>(repeating: 1.5, count: 5)
        array[2] = 7
        #expect(array.elements == [1.5, 1.5, 7, 1.5, 1.5])
        #expect(array.count == 5 && Array(array.indices) == [0, 1, 2, 3, 4])
        let copy = array
        copy[0] = -1
        #expect(array[0] == -1, "copies of a SharedArray share its memory")
        let slice = array.slice(1..<4)
        slice[0] = 9
        #expect(slice.count == 3 && array[1] == 9 && slice.sharesMemory(with: array))
        #expect(array.readOnly.slice(2..<4).elements == [7, 1.5])
        #expect(try SharedArray(0..<4).map { $0 * 2 } == [0, 2, 4, 6])
        #expect(try SharedArray<Int>(repeating: 0, count: 0).isEmpty)
        #expect("\(try SharedArray(0..<20))".hasSuffix("… 20 elements])"))
    }

    @Test func badSizesAreClearErrors() {
        #expect(throws: SpindleError.self) { try SharedArray<Int>(repeating: 0, count: -1) }
        #expect(throws: SpindleError.self) { try SharedArray<Int>(repeating: 0, count: Int.max / 4) }
    }

    @Test(arguments: [PoolKind.threads, .processes])
    func workersFillDisjointSlicesAndTheCallerSeesEveryValue(kind: PoolKind) async throws {
        let pool = try kind.makePool(workers: 2)
        let count = 100_000, parts = 16
        let output = try SharedArray<Int>(repeating: -1, count: count)
        let bounds = (0...parts).map { $0 * count / parts }
        let inputs = (0..<parts).map {
            OutputPart(slice: output.slice(bounds[$0]..<bounds[$0 + 1]), first: bounds[$0])
        }
        var workers: Set<Int32> = []
        for try await pid in pool.map(FillSquares(offset: 3), inputs, options: .init(chunking: .fixed(1))) {
            workers.insert(pid)
        }
        await pool.shutdown()
        let wrong = output.withUnsafeBufferPointer { buffer in buffer.indices.filter { buffer[$0] != $0 * $0 + 3 } }
        #expect(wrong.isEmpty, "\(wrong.count) values not written, the first at \(wrong.first ?? -1)")
        if kind == .processes { #expect(!workers.contains(getpid()), "the work was done in other processes") }
    }

    @Test(arguments: [PoolKind.threads, .processes])
    func aJobReadsAnArrayAsItIsNow(kind: PoolKind) async throws {
        let pool = try kind.makePool(workers: 2)
        let data = try SharedArray<Double>(repeating: 1, count: 1 << 16)
        let job = SumShared(data: data.readOnly)
        #expect(try await pool.submit(job, 0..<data.count).value == 65_536)
        // The same array again, changed since: a worker that kept it mapped sees the change.
        data[0] = 1_001
        #expect(try await pool.submit(job, 0..<data.count).value == 66_536)
        #expect(try await pool.submit(job, 0..<1).value == 1_001)
        await pool.shutdown()
    }

    @Test func anArrayMadeInAWorkerOutlivesIt() async throws {
        let pool = try makeTestPool(workers: 1)
        let made = try await pool.submit(MakeCounting(), 1_000).value
        await pool.shutdown()
        #expect(made.elements == Array(0..<1_000), "the worker has exited; the memory stays while the caller holds it")
        made[999] = 0
        #expect(made[999] == 0)
    }

    @Test(arguments: [PoolKind.threads, .processes])
    func aSharedCounterCountsEveryIncrement(kind: PoolKind) async throws {
        let pool = try kind.makePool(workers: 2)
        let counter = try SharedAtomic(0)
        let perTask = 10_000, tasks = 8
        for try await _ in pool.map(Increment(counter: counter), Array(repeating: perTask, count: tasks)) {}
        await pool.shutdown()
        #expect(counter.load() == perTask * tasks)
        #expect(counter.exchange(5) == perTask * tasks && counter.load() == 5)
        #expect(counter.compareExchange(expected: 5, desired: 6).exchanged && counter.load() == 6)
        let flag = try SharedAtomic(false)
        flag.store(true)
        #expect(flag.load())
        let sum = try SharedAtomic(0.5)
        #expect(sum.add(0.25) == 0.75)
        let small = try SharedAtomic<Int8>(127)
        #expect(small.add(1) == -128, "adding wraps around")
    }

    @Test func nothingIsLeftMappedOrOpenOnceThePoolAndArraysAreGone() async throws {
        let pool = try makeTestPool(workers: 1)
        var inode: UInt64 = 0
        do {
            let data = try SharedArray<Double>(repeating: 2, count: 4096)
            inode = data.segment.identity.inode
            #expect(try await pool.submit(SumShared(data: data.readOnly), 0..<4096).value == 8192)
            let seen = try await pool.submit(MappedSegments(), 0).value
            #expect(seen.contains(inode), "the worker keeps the array mapped while the caller has it")
        }
        // The caller let go: the worker's next task finds it unmapped.
        let after = try await pool.submit(MappedSegments(), 0).value
        #expect(!after.contains(inode), "the worker let go of the array once nobody owned it")
        await pool.shutdown()
        #expect(!mappedSharedSegments(of: "self").contains(inode))
        #expect(!openSegmentInodes().contains(inode))
    }

    @Test func anIdleWorkerLetsGoOfAFreedArray() async throws {
        let pool = try makeTestPool(workers: 1)
        let pid = try await pool.submit(WorkerPID(), 0).value
        var inode: UInt64 = 0
        do {
            let data = try SharedArray<Double>(repeating: 2, count: 4096)
            inode = data.segment.identity.inode
            _ = try await pool.submit(SumShared(data: data.readOnly), 0..<1).value
        }
        // No task comes: the worker sweeps every 100 ms while it holds segments.
        let deadline = ContinuousClock.now + .seconds(10)
        while mappedSharedSegments(of: "\(pid)").contains(inode) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!mappedSharedSegments(of: "\(pid)").contains(inode))
        await pool.shutdown()
    }

    @Test func sharedMemoryAWorkerReadsDoesNotCountAgainstItsMemoryLimit() async throws {
        let pool = try makeTestPool(workers: 1) { $0.memoryLimit = 64 << 20 }
        let data = try SharedArray<Double>(repeating: 1, count: 16 << 20)  // 128 MiB
        #expect(try await pool.submit(SumShared(data: data.readOnly), 0..<data.count).value == Double(16 << 20))
        await pool.shutdown()
    }

    @Test func anArrayIsNotDataForOtherEncoders() throws {
        let array = try SharedArray<Int>(repeating: 1, count: 3)
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(array) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SharedArray<Int>.self, from: Data("[0,1]".utf8)) }
        var bytes: [UInt8] = []
        #expect(throws: WireError.self, "a message that cannot carry segments") {
            try WireEncoder.encode(array, into: &bytes)
        }
    }

    @Test func forgedOrStaleHandlesFailCleanly() throws {
        var bytes: [UInt8] = []
        var segments: [SharedSegment] = []
        do {
            let array = try SharedArray<Int>(repeating: 7, count: 100)
            try WireEncoder.encode([array, array.slice(10..<20)], into: &bytes, segments: &segments)
            #expect(segments.count == 1, "one segment however many views of it")
        }
        // Decoded with its segment: both views, sharing memory.
        let decoded = try bytes.withUnsafeBytes {
            try WireDecoder.decode(
                [SharedArray<Int>].self,
                from: $0,
                segments: receivedCopies(of: [segments[0]])
            )
        }
        #expect(decoded[0].count == 100 && decoded[1].count == 10 && decoded[1].sharesMemory(with: decoded[0]))
        // Stale: the handle's bytes without the message's segments (the array is gone).
        segments.removeAll()
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes { try WireDecoder.decode([SharedArray<Int>].self, from: $0) }
        }
        // Forged: the index names a segment the message did not carry.
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes {
                try WireDecoder.decode([SharedArray<Int>].self, from: $0, segments: ReceivedSegments([]))
            }
        }
        // A descriptor that is not a segment, and a segment of another kind.
        let notASegment = open("/dev/null", O_RDONLY | O_CLOEXEC)
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes {
                try WireDecoder.decode([SharedArray<Int>].self, from: $0, segments: ReceivedSegments([notASegment]))
            }
        }
        let atomic = try SharedAtomic(1)
        var atomicBytes: [UInt8] = []
        var atomicSegments: [SharedSegment] = []
        try WireEncoder.encode(atomic, into: &atomicBytes, segments: &atomicSegments)
        #expect(throws: WireError.self) {
            try atomicBytes.withUnsafeBytes {
                try WireDecoder.decode(
                    SharedArray<Int>.self,
                    from: $0,
                    segments: receivedCopies(of: [atomicSegments[0]])
                )
            }
        }
        // A handle of another element type, and one whose range runs past its segment.
        let other = try SharedArray<Int32>(repeating: 1, count: 4)
        var otherBytes: [UInt8] = []
        var otherSegments: [SharedSegment] = []
        try WireEncoder.encode(other, into: &otherBytes, segments: &otherSegments)
        #expect(throws: WireError.self) {
            try otherBytes.withUnsafeBytes {
                try WireDecoder.decode(
                    SharedArray<Float>.self,
                    from: $0,
                    segments: receivedCopies(of: [otherSegments[0]])
                )
            }
        }
        let past = SharedArray<Int32>(segment: other.segment, offset: 2, count: 4096)
        var pastBytes: [UInt8] = []
        var pastSegments: [SharedSegment] = []
        try WireEncoder.encode(past, into: &pastBytes, segments: &pastSegments)
        #expect(throws: WireError.self) {
            try pastBytes.withUnsafeBytes {
                try WireDecoder.decode(
                    SharedArray<Int32>.self,
                    from: $0,
                    segments: receivedCopies(of: [pastSegments[0]])
                )
            }
        }
    }
}

/// The two pools that run in-machine jobs, for tests that must pass the same on both.
enum PoolKind: String, Sendable, CustomTestStringConvertible {
    case threads, processes

    var testDescription: String { rawValue }

    func makePool(workers: Int) throws -> any Pool {
        switch self {
        case .threads: try ThreadPool(workers: workers)
        case .processes: try makeTestPool(workers: workers)
        }
    }
}

/// The inodes of the Spindle shared segments (of `kind`, if given) that process `pid` has open as
/// descriptors: this process by default.
func openSegmentInodes(of pid: Int32 = getpid(), kind: SharedSegment.Kind? = nil) -> Set<UInt64> {
    let name = "memfd:" + SharedSegment.namePrefix + (kind.map { "\($0)" } ?? "")
    var inodes: Set<UInt64> = []
    for fd in ProcReader.numericEntries("/proc/\(pid)/fd") {
        guard let target = ProcReader.descriptorTarget(pid: pid, fd: Int(fd)), target.contains(name) else { continue }
        var status = stat()
        if stat("/proc/\(pid)/fd/\(fd)", &status) == 0 { inodes.insert(UInt64(status.st_ino)) }
    }
    return inodes
}
