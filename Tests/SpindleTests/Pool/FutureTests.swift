import PoolConformance
@testable import Spindle
import Synchronization
import Testing

@Suite struct FutureTests {
    /// A cancel handler that counts its calls.
    final class HandlerCounter: Sendable {
        private let calls = Atomic(0)
        var count: Int { calls.load(ordering: .acquiring) }
        var handler: @Sendable () -> Void {
            { self.calls.add(1, ordering: .acquiringAndReleasing) }
        }
    }

    // MARK: State transitions

    @Test func newFutureIsPending() {
        let future = Future<Int>()
        #expect(future.state == .pending)
        #expect(!future.isDone)
        #expect(!future.isCancelled)
        #expect(future.currentResult == nil)
        #expect(future.description == "Future<Int>(pending)")
    }

    @Test func pendingRunningSucceeded() async throws {
        let future = Future<Int>()
        #expect(future.markRunning())
        #expect(future.state == .running)
        #expect(!future.isDone)
        #expect(!future.markRunning(), "a running future cannot start again")
        #expect(future.complete(with: .success(42)))
        #expect(future.state == .succeeded)
        #expect(future.isDone)
        #expect(!future.isCancelled)
        #expect(try future.currentResult?.get() == 42)
        #expect(try await future.value == 42)
        #expect(try await future.result.get() == 42)
        #expect(!future.markRunning(), "a done future cannot start")
    }

    @Test func pendingRunningFailed() async {
        let future = Future<Int>()
        #expect(future.markRunning())
        #expect(future.complete(with: .failure(TestError(id: 7))))
        #expect(future.state == .failed)
        #expect(future.isDone)
        #expect(!future.isCancelled)
        await #expect(throws: TestError(id: 7)) { try await future.value }
        #expect(await future.result.failure as? TestError == TestError(id: 7))
    }

    @Test func completedWithInitialiser() async throws {
        let succeeded = Future<String>(completedWith: .success("x"))
        #expect(succeeded.state == .succeeded)
        #expect(try await succeeded.value == "x")
        let failed = Future<String>(completedWith: .failure(TestError(id: 1)))
        #expect(failed.state == .failed, "a future failed at creation is failed, not cancelled")
        #expect(!failed.markRunning())
    }

    // MARK: Cancelling

    @Test func cancelPendingReturnsTrueAndFailsWithCancelled() async {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        #expect(future.cancel())
        #expect(counter.count == 1, "cancelling a pending future stops its task")
        #expect(future.state == .cancelled)
        #expect(future.isCancelled)
        #expect(future.isDone)
        await expectSpindleError(.cancelled) { try await future.value }
        #expect(spindleCode(future.currentResult?.failure) == .cancelled)
        #expect(!future.markRunning(), "a cancelled job must not run")
        #expect(!future.complete(with: .success(1)), "completing a cancelled future has no effect")
        #expect(future.state == .cancelled)
        #expect(!future.cancel(), "cancelling twice answers false")
        #expect(counter.count == 1)
    }

    @Test func cancelPendingResumesAwaiters() async {
        let future = Future<Int>()
        let awaiting = Future<Void>()
        let waiter = Task {
            awaiting.complete(with: .success(()))
            return await future.result
        }
        try? await awaiting.value
        #expect(future.cancel())
        #expect(spindleCode(await waiter.value.failure) == .cancelled)
    }

    @Test func cancelRunningReturnsFalseAndCallsHandler() async throws {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        #expect(future.markRunning())
        #expect(!future.cancel(), "a running job cannot be stopped before it started")
        #expect(counter.count == 1, "but it is asked to stop")
        #expect(future.state == .running, "what the job does next decides the outcome")
        #expect(future.complete(with: .success(3)))
        #expect(future.state == .succeeded)
        #expect(try await future.value == 3)
        #expect(!future.cancel())
        #expect(counter.count == 1, "a done future no longer calls its handler")
    }

    @Test func cancelDoneFutureDoesNothing() async throws {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        future.complete(with: .success(5))
        #expect(!future.cancel())
        #expect(counter.count == 0)
        #expect(future.state == .succeeded)
        #expect(try await future.value == 5)
    }

    @Test func cancelHandlerSetOnDoneFutureIsIgnored() {
        let future = Future<Int>(completedWith: .success(1))
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        #expect(!future.cancel())
        #expect(!future.abandon(with: TestError(id: 0)))
        #expect(counter.count == 0)
    }

    @Test func concurrentCancelsHaveOneWinner() async {
        for _ in 0..<50 {
            let future = Future<Int>()
            let counter = HandlerCounter()
            future.setCancelHandler(counter.handler)
            let wins = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { future.cancel() } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            #expect(counter.count == 1)
            #expect(future.state == .cancelled)
        }
    }

    // MARK: Completing

    @Test func completeTwiceFirstWins() async throws {
        let future = Future<Int>()
        #expect(future.complete(with: .success(1)))
        #expect(!future.complete(with: .success(2)))
        #expect(!future.complete(with: .failure(TestError(id: 3))))
        #expect(future.state == .succeeded)
        #expect(try await future.value == 1)
    }

    @Test func concurrentCompletesHaveOneWinner() async throws {
        for _ in 0..<50 {
            let future = Future<Int>()
            let winners = await withTaskGroup(of: Int?.self) { group in
                for id in 0..<8 { group.addTask { future.complete(with: .success(id)) ? id : nil } }
                return await group.compactMap { $0 }.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(winners.count == 1)
            #expect(try await future.value == winners.first)
        }
    }

    @Test func abandonPendingFailsAndCallsHandler() async {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        #expect(future.abandon(with: TestError(id: 9)))
        #expect(counter.count == 1)
        #expect(future.state == .failed, "an abandoned future failed; it was not cancelled")
        await #expect(throws: TestError(id: 9)) { try await future.value }
        #expect(!future.markRunning())
        #expect(!future.abandon(with: TestError(id: 10)), "only the first outcome counts")
        #expect(counter.count == 1)
    }

    @Test func abandonRunningFailsAndCallsHandler() async {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        #expect(future.markRunning())
        #expect(future.abandon(with: SpindleError.timedOut(after: .seconds(1))))
        #expect(counter.count == 1)
        #expect(future.state == .failed)
        await expectSpindleError(.timedOut) { try await future.value }
        #expect(!future.complete(with: .success(1)), "the job's late result is dropped")
    }

    @Test func abandonDoneFutureDoesNothing() async throws {
        let future = Future<Int>()
        let counter = HandlerCounter()
        future.setCancelHandler(counter.handler)
        future.complete(with: .success(4))
        #expect(!future.abandon(with: TestError(id: 1)))
        #expect(counter.count == 0)
        #expect(try await future.value == 4)
    }

    // MARK: Callbacks and awaiters

    @Test func onCompleteOnDoneFutureRunsAtOnce() {
        let future = Future<Int>(completedWith: .success(5))
        let seen = Mutex<[Int]>([])
        future.onComplete { result in seen.withLock { $0.append((try? result.get()) ?? -1) } }
        // It ran on this thread before onComplete returned.
        #expect(seen.withLock { $0 } == [5])
    }

    @Test func onCompleteOnPendingFutureRunsOnCompletion() {
        let future = Future<Int>()
        let seen = Mutex<[Int]>([])
        future.onComplete { result in seen.withLock { $0.append((try? result.get()) ?? -1) } }
        future.onComplete { result in seen.withLock { $0.append(((try? result.get()) ?? -1) + 100) } }
        #expect(seen.withLock { $0 }.isEmpty)
        #expect(future.markRunning())
        #expect(seen.withLock { $0 }.isEmpty, "starting is not completing")
        future.complete(with: .success(8))
        // Callbacks run on the completing thread, in registration order, before complete returns.
        #expect(seen.withLock { $0 } == [8, 108])
        future.complete(with: .success(9))
        _ = future.cancel()
        #expect(seen.withLock { $0 } == [8, 108], "callbacks run once")
    }

    @Test func onCompleteSeesCancellationAndFailure() {
        let cancelled = Future<Int>()
        let failed = Future<Int>()
        let codes = Mutex<[SpindleError.Code?]>([])
        let errors = Mutex<[TestError?]>([])
        cancelled.onComplete { result in codes.withLock { $0.append(spindleCode(result.failure)) } }
        failed.onComplete { result in errors.withLock { $0.append(result.failure as? TestError) } }
        cancelled.cancel()
        failed.complete(with: .failure(TestError(id: 2)))
        #expect(codes.withLock { $0 } == [.cancelled])
        #expect(errors.withLock { $0 } == [TestError(id: 2)])
    }

    @Test(.timeLimit(.minutes(3)))
    func manyConcurrentAwaitersAllGetTheValue() async throws {
        let future = Future<Int>()
        let awaiters = 200
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<awaiters {
                group.addTask {
                    startedContinuation.yield()
                    return try await future.value
                }
            }
            // Complete only once every awaiter has started (most are suspended in `value` by now).
            var count = 0
            for await _ in started {
                count += 1
                if count == awaiters { break }
            }
            future.complete(with: .success(77))
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values.count == awaiters)
        #expect(values.allSatisfy { $0 == 77 })
    }

    @Test func descriptionNamesTypeAndState() {
        let future = Future<Int>()
        future.cancel()
        #expect(future.description == "Future<Int>(cancelled)")
    }
}
