import PoolConformance
import Testing

@testable import Spindle

/// The process-shared barrier within one process: generations, places, abort, reset, timeouts and
/// cancellation. (Dead parties need other processes: see `ProcessSyncPoolTests`.)
@Suite(.timeLimit(.minutes(5)))
struct ProcessBarrierTests {
    @Test func partiesMeetGenerationAfterGeneration() async throws {
        let barrier = try ProcessBarrier(parties: 3)
        let rounds = 50
        let places = try await withThrowingTaskGroup(of: [Int].self) { group in
            for party in 0..<3 {
                group.addTask {
                    if party == 0 {  // one async party among plain threads
                        var places: [Int] = []
                        for _ in 0..<rounds { places.append(try await barrier.wait(timeout: .seconds(120))) }
                        return places
                    }
                    return try await onPlainThread {
                        Result { try (0..<rounds).map { _ in try barrier.wait(timeout: .seconds(120)) } }
                    }.get()
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for round in 0..<rounds {
            #expect(Set(places.map { $0[round] }) == [0, 1, 2], "round \(round): each place once")
        }
        #expect(!barrier.isBroken)
        #expect(barrier.waitingCount == 0)
    }

    @Test func moreThreadsThanPartiesFillGenerationsOneLastPartyEach() async throws {
        // Four threads on a barrier of two: arrivals race for the last place of a generation, and
        // exactly one may take it and trip, or a generation would end with a party too many.
        // Each arrival takes a ticket first, so that the arrivals are an even number and no thread
        // is left with the last one alone (a thread holds one ticket at a time: it waits on it).
        let barrier = try ProcessBarrier(parties: 2)
        let generations = 400
        let tickets = try SharedAtomic(0)
        let places = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    await onPlainThread {
                        var places: [Int] = []
                        while tickets.add(1) <= 2 * generations {
                            guard let place = try? barrier.wait(timeout: .seconds(120)) else { break }
                            places.append(place)
                        }
                        return places
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(places.count == 2 * generations, "every wait returned")
        #expect(places.filter { $0 == 1 }.count == generations, "one last party per generation")
        #expect(!barrier.isBroken && barrier.waitingCount == 0)
    }

    @Test(arguments: [0, ProcessBarrier.maximumParties + 1])
    func anImpossiblePartyCountIsRefused(_ parties: Int) {
        let error = #expect(throws: SpindleError.self) { try ProcessBarrier(parties: parties) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func aBarrierOfOneNeverWaits() throws {
        let barrier = try ProcessBarrier(parties: 1)
        #expect(try barrier.wait() == 0)
        #expect(try barrier.wait() == 0)
    }

    @Test func abortBreaksItForWaitersAndLaterWaitsUntilReset() async throws {
        let barrier = try ProcessBarrier(parties: 2)
        let waiter = Task { await onPlainThread { Result { try barrier.wait(timeout: .seconds(120)) } } }
        #expect(await eventually { barrier.waitingCount == 1 })
        barrier.abort()
        #expect(spindleCode(await waiter.value.failure) == .brokenBarrier)
        #expect(barrier.isBroken)
        await expectSpindleError(.brokenBarrier) { try await barrier.wait(timeout: .seconds(120)) }
        barrier.reset()
        #expect(!barrier.isBroken)
        try await meet(barrier)
    }

    @Test func resetBreaksItForWaitersAndLeavesItWhole() async throws {
        let barrier = try ProcessBarrier(parties: 2)
        let waiter = Task { try await barrier.wait(timeout: .seconds(120)) }
        #expect(await eventually { barrier.waitingCount == 1 })
        barrier.reset()
        #expect(spindleCode(await asyncResult { try await waiter.value }.failure) == .brokenBarrier)
        #expect(!barrier.isBroken)
        try await meet(barrier)
    }

    @Test func aTimeoutBreaksItForTheOthers() async throws {
        let barrier = try ProcessBarrier(parties: 2)
        let sync = await onPlainThread { Result { try barrier.wait(timeout: .milliseconds(50)) } }
        #expect(spindleCode(sync.failure) == .timedOut)
        #expect(barrier.isBroken)
        await expectSpindleError(.brokenBarrier) { try await barrier.wait() }
        barrier.reset()
        await expectSpindleError(.timedOut) { try await barrier.wait(timeout: .milliseconds(50)) }
        #expect(barrier.isBroken)
    }

    @Test func cancellingAnAsyncWaitBreaksIt() async throws {
        let barrier = try ProcessBarrier(parties: 2)
        let waiter = Task { try await barrier.wait() }
        #expect(await eventually { barrier.waitingCount == 1 })
        waiter.cancel()
        #expect(spindleCode(await asyncResult { try await waiter.value }.failure) == .cancelled)
        #expect(barrier.isBroken)
    }

    /// Two parties pass the barrier twice.
    private func meet(_ barrier: ProcessBarrier) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await barrier.wait(timeout: .seconds(120))
                    try await barrier.wait(timeout: .seconds(120))
                }
            }
            try await group.waitForAll()
        }
    }
}
