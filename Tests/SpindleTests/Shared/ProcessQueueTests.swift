import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// ProcessQueue within one process: order, capacity, timeouts, close, wrapping, threads, and its
/// handle crossing a wire message.
@Suite(.timeLimit(.minutes(5)))
struct ProcessQueueTests {
    @Test func valuesComeOutInOrderAndCountsAddUp() async throws {
        let queue = try ProcessQueue<QueueMessage>(capacity: 100)
        #expect(queue.isEmpty && queue.count == 0 && queue.capacity == 100)
        for i in 0..<100 { #expect(try queue.tryPut(QueueMessage(producer: 1, sequence: i))) }
        #expect(queue.count == 100)
        for i in 0..<100 {
            let message = try #require(try queue.tryGet())
            #expect(message == QueueMessage(producer: 1, sequence: i))
            #expect(queue.count == 99 - i)
        }
        #expect(try queue.tryGet() == nil)
        #expect(queue.isEmpty)
    }

    @Test func aFullQueueRefusesByCountAndByBytes() throws {
        let byCount = try ProcessQueue<Int>(capacity: 3)
        for i in 0..<3 { #expect(try byCount.tryPut(i)) }
        #expect(try byCount.tryPut(3) == false)
        #expect(try byCount.tryGet() == 0)
        #expect(try byCount.tryPut(3))

        // "aaaa…" of 20 bytes encodes in 21 bytes (a tag byte), plus the key table's trailer, plus
        // the 4-byte length: two fit in 64 bytes, three do not.
        let byBytes = try ProcessQueue<String>(capacity: 100, byteCapacity: 64)
        let text = String(repeating: "a", count: 20)
        #expect(try byBytes.tryPut(text))
        #expect(try byBytes.tryPut(text))
        #expect(try byBytes.tryPut(text) == false)
        #expect(try byBytes.tryGet() == text)
        #expect(try byBytes.tryPut(text))
    }

    @Test func aValueLargerThanTheRingIsAnInvalidArgument() async throws {
        let queue = try ProcessQueue<String>(capacity: 10, byteCapacity: 64)
        await expectSpindleError(.invalidArgument) { try queue.tryPut(String(repeating: "x", count: 100)) }
        await expectSpindleError(.invalidArgument) { try await queue.put(String(repeating: "x", count: 100)) }
        await expectSpindleError(.invalidArgument) { try ProcessQueue<Int>(capacity: 0) }
        await expectSpindleError(.invalidArgument) { try ProcessQueue<Int>(capacity: 1, byteCapacity: 8) }
    }

    @Test func messagesWrapAroundTheRingIntact() throws {
        // A ring of 257 bytes and messages of 0...96 text bytes: lengths and bodies split at the end.
        let queue = try ProcessQueue<QueueMessage>(capacity: 1_000, byteCapacity: 257)
        var next = 0
        for sequence in 0..<5_000 {
            while try !queue.tryPut(QueueMessage(producer: 2, sequence: sequence)) {
                let message = try #require(try queue.tryGet())
                #expect(message == QueueMessage(producer: 2, sequence: next))
                next += 1
            }
        }
        while let message = try queue.tryGet() {
            #expect(message == QueueMessage(producer: 2, sequence: next))
            next += 1
        }
        #expect(next == 5_000)
    }

    @Test func blockingAndAsyncGetsTimeOut() async throws {
        let queue = try ProcessQueue<Int>(capacity: 4)
        let start = ContinuousClock.now
        await expectSpindleError(.timedOut) { try await queue.get(timeout: .milliseconds(50)) }
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        let blocking = await onPlainThread { () -> Result<Int, any Error> in
            let start = ContinuousClock.now
            let result = Result { try queue.get(timeout: .milliseconds(50)) }
            return ContinuousClock.now - start >= .milliseconds(50) ? result : .success(-1)
        }
        #expect((blocking.failure as? SpindleError)?.code == .timedOut)
        for i in 0..<4 { try await queue.put(i) }
        await expectSpindleError(.timedOut) { try await queue.put(4, timeout: .milliseconds(20)) }
        let empty = try ProcessQueue<Int>(capacity: 1)
        await expectSpindleError(.timedOut) { try await empty.get(timeout: .zero) }
    }

    @Test func closingEndsPutsAndDrainsGets() async throws {
        let queue = try ProcessQueue<Int>(capacity: 10)
        try await queue.put(1)
        try await queue.put(2)
        queue.close()
        queue.close()
        #expect(queue.isClosed)
        await expectSpindleError(.closed) { try await queue.put(3) }
        await expectSpindleError(.closed) { try queue.tryPut(3) }
        #expect(try await queue.get() == 1)
        #expect(try queue.tryGet() == 2)
        await expectSpindleError(.closed) { try queue.tryGet() }
        await expectSpindleError(.closed) { try await queue.get() }
    }

    @Test func closingWakesWaitersOnBothSides() async throws {
        let empty = try ProcessQueue<Int>(capacity: 1)
        let full = try ProcessQueue<Int>(capacity: 1)
        try await full.put(0)
        let getter = Task { try await empty.get() }
        let putter = Task { try await full.put(1) }
        let blockingGetter = blockingTask { try empty.get() }
        // The signal that they wait: the rings count their sleepers.
        try #require(await eventually { empty.ring.sleepers.consumers == 2 && full.ring.sleepers.producers == 1 })
        empty.close()
        full.close()
        await expectSpindleError(.closed) { try await getter.value }
        await expectSpindleError(.closed) { try await putter.value }
        await expectSpindleError(.closed) { try await blockingGetter.value }
    }

    @Test func aCancelledAsyncGetStopsWaiting() async throws {
        let queue = try ProcessQueue<Int>(capacity: 1)
        let getter = Task { try await queue.get() }
        // Asleep first, so that the cancellation reaches a wait, not a task yet to start one.
        try #require(await eventually { queue.ring.sleepers.consumers == 1 })
        getter.cancel()
        await expectSpindleError(.cancelled) { try await getter.value }
        // The queue still works, and a value put now is not lost to the cancelled getter.
        try await queue.put(7)
        #expect(try await queue.get(timeout: .seconds(10)) == 7)
    }

    @Test func threadsProduceAndConsumeEveryValueExactlyOnce() async throws {
        let queue = try ProcessQueue<QueueMessage>(capacity: 16, byteCapacity: 1_024)
        let producers = 3, perProducer = 5_000
        let consumers = (0..<2).map { _ in
            blockingTask {
                var got: [QueueMessage] = []
                while true {
                    do { got.append(try queue.get()) } catch let error as SpindleError where error.code == .closed {
                        return got
                    }
                }
            }
        }
        let producing = (0..<producers).map { producer in
            blockingTask {
                for sequence in 0..<perProducer { try queue.put(QueueMessage(producer: producer, sequence: sequence)) }
                return perProducer
            }
        }
        for future in producing { _ = try await future.value }
        queue.close()
        var all: [QueueMessage] = []
        for consumer in consumers {
            let got = try await consumer.value
            // One consumer sees each producer's values in the order they were put.
            for producer in 0..<producers {
                let sequences = got.filter { $0.producer == producer }.map(\.sequence)
                #expect(sequences == sequences.sorted())
            }
            all += got
        }
        #expect(all.count == producers * perProducer)
        #expect(Set(all).count == all.count)
        #expect(all.allSatisfy { $0.isWellFormed })
    }

    @Test func aHandleCrossesAWireMessageToTheSameMemory() async throws {
        let queue = try ProcessQueue<Int>(capacity: 8)
        var bytes: [UInt8] = []
        var segments: [SharedSegment] = []
        try WireEncoder.encode(queue, into: &bytes, segments: &segments)
        #expect(segments.count == 1)
        let received = try bytes.withUnsafeBytes {
            try WireDecoder.decode(
                ProcessQueue<Int>.self,
                from: $0,
                segments: receivedCopies(of: [segments[0]])
            )
        }
        try await queue.put(42)
        #expect(try await received.get() == 42)
        received.close()
        #expect(queue.isClosed)
        #expect(throws: (any Error).self) {
            try bytes.withUnsafeBytes {
                try WireDecoder.decode(
                    ProcessQueue<String>.self,
                    from: $0,
                    segments: receivedCopies(of: [segments[0]])
                )
            }
        }
    }
}

/// Runs a blocking `body` on a plain thread of its own; the task gives its outcome.
func blockingTask<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> Task<T, any Error> {
    Task { try await onPlainThread { Result { try body() } }.get() }
}
