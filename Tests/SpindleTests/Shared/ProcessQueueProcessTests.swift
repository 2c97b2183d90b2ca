import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// ProcessQueue between processes: jobs in a pool's workers put and get while the parent does, and
/// workers die with `SIGKILL` in the middle of it.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProcessQueueProcessTests {
    @Test func producersInWorkersReachTheParentExactlyOnce() async throws {
        let queue = try ProcessQueue<QueueMessage>(capacity: 64, byteCapacity: 4_096)
        let producers = 4, perProducer = 5_000
        try await withTestPool(closing: queue.close) { pool in
            let jobs = (0..<producers).map { pool.submit(PutMessages(queue: queue, producer: $0), perProducer) }
            var next = [Int](repeating: 0, count: producers)
            for _ in 0..<(producers * perProducer) {
                let message = try await queue.get(timeout: .seconds(60))
                #expect(message.isWellFormed)
                // Each producer's messages come in the order it put them, none twice, none missing.
                #expect(message.sequence == next[message.producer])
                next[message.producer] = message.sequence + 1
            }
            for job in jobs { #expect(try await job.value == perProducer) }
            #expect(next == [Int](repeating: perProducer, count: producers))
            #expect(try queue.tryGet() == nil)
        }
    }

    @Test func consumersInWorkersShareTheParentsMessagesAndSeeTheClose() async throws {
        let queue = try ProcessQueue<QueueMessage>(capacity: 32)
        let count = 10_000
        try await withTestPool(closing: queue.close) { pool in
            let consumers = (0..<2).map { _ in pool.submit(GetMessages(queue: queue), 0) }
            for sequence in 0..<count { try await queue.put(QueueMessage(producer: 0, sequence: sequence)) }
            queue.close()
            var all: [QueueMessage] = []
            for consumer in consumers {
                let got = try await consumer.value
                #expect(got.map(\.sequence) == got.map(\.sequence).sorted())
                all += got
            }
            #expect(all.map(\.sequence).sorted() == Array(0..<count))
            #expect(all.allSatisfy { $0.isWellFormed })
        }
    }

    @Test func aWorkersGetTimesOutAndWakesForAValueOrTheClose() async throws {
        let queue = try ProcessQueue<Int>(capacity: 4)
        try await withTestPool(workers: 1, closing: queue.close) { pool in
            #expect(try await pool.submit(WaitToGet(queue: queue), 50).value == "timedOut")
            let waiting = pool.submit(WaitToGet(queue: queue), 60_000)
            try #require(await eventually { queue.ring.sleepers.consumers == 1 })
            try await queue.put(5)
            #expect(try await waiting.value == "value 5")
            let closing = pool.submit(WaitToGet(queue: queue), 60_000)
            try #require(await eventually { queue.ring.sleepers.consumers == 1 })
            queue.close()
            #expect(try await closing.value == "closed")
        }
    }

    @Test(arguments: QueueCrash.allCases)
    func aWorkerKilledInsideAnOperationLeavesTheQueueWhole(_ crash: QueueCrash) async throws {
        let queue = try ProcessQueue<QueueMessage>(capacity: 16)
        for sequence in 0..<3 { try await queue.put(QueueMessage(producer: 1, sequence: sequence)) }
        try await withTestPool(workers: 1, closing: queue.close) { pool in
            let error = await #expect(throws: SpindleError.self) {
                try await pool.submit(DieInQueueOperation(queue: queue), crash).value
            }
            #expect(error?.termination == .signalled(SIGKILL))
        }
        // The dead process held the mutex: the next operation recovers it.
        let remaining = try drain(queue)
        #expect(queue._ownerDeathsRecovered == 1)
        let expected: [QueueMessage] =
            switch crash {
            case .putBeforeCommit: (0..<3).map { QueueMessage(producer: 1, sequence: $0) }
            case .putAfterCommit:
                (0..<3).map { QueueMessage(producer: 1, sequence: $0) } + [.init(producer: 99, sequence: 999)]
            case .getBeforeCommit: (0..<3).map { QueueMessage(producer: 1, sequence: $0) }
            case .getAfterCommit: (1..<3).map { QueueMessage(producer: 1, sequence: $0) }
            }
        #expect(remaining == expected)
        try await queue.put(QueueMessage(producer: 2, sequence: 0))
        #expect(queue.count == 1)
        #expect(try await queue.get() == QueueMessage(producer: 2, sequence: 0))
    }

    @Test func producersKilledAtRandomNeverCorruptTheQueue() async throws {
        var recovered = 0
        for round in 0..<8 {
            let queue = try ProcessQueue<QueueMessage>(capacity: 256, byteCapacity: 8_192)
            try await withTestPool(closing: queue.close) { pool in
                // Two producers die at random moments while the parent takes what they put.
                let killers = (0..<2).map { producer in
                    pool.submit(PutUntilKilled(queue: queue, producer: producer), Int.random(in: 500...20_000))
                }
                let bystander = pool.submit(PutMessages(queue: queue, producer: 2), 2_000)
                // When all three have ended, the close is the parent's signal that nothing more comes.
                let running = Locked(3)
                let ended: @Sendable (Any) -> Void = { _ in
                    if running.withLock({
                        $0 -= 1; return $0 == 0
                    }) {
                        queue.close()
                    }
                }
                for job in killers { job.onComplete(ended) }
                bystander.onComplete(ended)
                var next = [0, 0, 0]
                while true {
                    let message: QueueMessage
                    do { message = try await queue.get(timeout: .seconds(60)) } catch let error as SpindleError
                        where error.code == .closed
                    { break }
                    #expect(message.isWellFormed, "round \(round)")
                    #expect(message.sequence == next[message.producer], "round \(round): nothing lost, nothing twice")
                    next[message.producer] = message.sequence + 1
                }
                for job in killers {
                    let error = await #expect(throws: SpindleError.self) { try await job.value }
                    #expect(error?.termination == .signalled(SIGKILL))
                }
                #expect(try await bystander.value == 2_000)
                #expect(next[2] == 2_000, "every message of the producer that lived came through")
                #expect(queue.count == 0)
            }
            recovered += queue._ownerDeathsRecovered
        }
        // How many kills landed with the mutex held varies; it is reported, not required.
        print("ProcessQueue: \(recovered) of 16 random kills found the mutex held")
    }

    @Test func consumersKilledAtRandomLoseAtMostTheMessageTheyHeld() async throws {
        for round in 0..<8 {
            let count = 20_000
            let queue = try ProcessQueue<QueueMessage>(capacity: count, byteCapacity: 4 << 20)
            let echo = try ProcessQueue<QueueMessage>(capacity: count, byteCapacity: 4 << 20)
            for sequence in 0..<count { #expect(try queue.tryPut(QueueMessage(producer: 0, sequence: sequence))) }
            try await withTestPool(
                workers: 1,
                closing: {
                    queue.close(); echo.close()
                }
            ) { pool in
                let job = pool.submit(GetUntilKilled(queue: queue, echo: echo), Int.random(in: 200...10_000))
                let error = await #expect(throws: SpindleError.self) { try await job.value }
                #expect(error?.termination == .signalled(SIGKILL))
            }
            let moved = try drain(echo), left = try drain(queue)
            #expect((moved + left).allSatisfy { $0.isWellFormed }, "round \(round)")
            #expect(moved.map(\.sequence) == Array(0..<moved.count), "round \(round)")
            // At most one message was taken by the dead consumer and not yet echoed.
            let lost = count - moved.count - left.count
            #expect(lost == 0 || lost == 1, "round \(round): \(lost) lost")
            #expect(left.map(\.sequence) == Array((count - left.count)..<count), "round \(round)")
        }
    }
}

/// Takes every value left in `queue` without waiting.
func drain<T>(_ queue: ProcessQueue<T>) throws -> [T] {
    var values: [T] = []
    while let value = try queue.tryGet() { values.append(value) }
    return values
}

/// Runs `body` with a test pool that is shut down afterwards, also when `body` throws; `close` runs
/// first in that case (closing the test's queues), so that no job waits on them for ever.
func withTestPool(
    workers: Int = 2,
    closing close: () -> Void,
    _ body: (ProcessPool) async throws -> Void
) async throws {
    let pool = try makeTestPool(workers: workers)
    do {
        try await body(pool)
    } catch {
        close()
        await pool.shutdown(.immediate)
        throw error
    }
    await pool.shutdown()
}
