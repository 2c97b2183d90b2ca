import PoolConformance
@testable import Spindle
import Testing

/// `Future.wait(_:until:timeout:)` and `Future.asCompleted(_:timeout:)`, driven by futures that the
/// tests complete by hand, in an order of their choosing.
@Suite(.timeLimit(.minutes(3)))
struct FutureWaitingTests {
    typealias F = Future<Int>

    static let conditions: [F.WaitCondition] = [.firstCompleted, .firstFailure, .allCompleted]

    /// Starts `Future.wait` in a task and returns the task and a future that completes when it returns.
    private func startWaiting(
        _ futures: [F],
        until condition: F.WaitCondition,
        timeout: Duration? = nil
    ) -> (Task<(done: [F], pending: [F]), Never>, returned: Future<Void>) {
        let returned = Future<Void>()
        let task = Task {
            let outcome = await F.wait(futures, until: condition, timeout: timeout)
            returned.complete(with: .success(()))
            return outcome
        }
        return (task, returned)
    }

    /// Expects that the wait behind `returned` has not returned yet. A wait that returned too early
    /// is caught with high probability; a correct one never fails this check.
    private func expectStillWaiting(_ returned: Future<Void>, sourceLocation: SourceLocation = #_sourceLocation) async {
        let (_, pending) = await Future.wait([returned], until: .firstCompleted, timeout: .milliseconds(100))
        #expect(pending.count == 1, "the wait returned too early", sourceLocation: sourceLocation)
    }

    /// Whether the wait behind `returned` returns within a generous bound. A wait that never
    /// returns ignores cancellation, so a time limit alone could not end the test: this records the
    /// failure instead (a passing run never waits that long).
    private func returnsSoon(_ returned: Future<Void>, sourceLocation: SourceLocation = #_sourceLocation) async -> Bool
    {
        let (_, pending) = await Future.wait([returned], until: .allCompleted, timeout: .seconds(30))
        #expect(pending.isEmpty, "cancelling the waiting task did not end the wait", sourceLocation: sourceLocation)
        return pending.isEmpty
    }

    // MARK: wait

    @Test(arguments: conditions)
    func waitOnNothingReturnsAtOnce(condition: F.WaitCondition) async {
        let (done, pending) = await F.wait([], until: condition)
        #expect(done.isEmpty && pending.isEmpty)
        let (done2, pending2) = await F.wait([], until: condition, timeout: .seconds(60))
        #expect(done2.isEmpty && pending2.isEmpty)
    }

    @Test(arguments: conditions)
    func waitOnDoneFuturesReturnsAtOnce(condition: F.WaitCondition) async {
        let futures = [F(completedWith: .success(1)), F(completedWith: .failure(TestError(id: 2)))]
        let (done, pending) = await F.wait(futures, until: condition)
        #expect(sameFutures(done, futures))
        #expect(pending.isEmpty)
    }

    @Test func firstCompletedReturnsAfterOne() async {
        let futures = (0..<3).map { _ in F() }
        let (waiter, _) = startWaiting(futures, until: .firstCompleted)
        futures[1].complete(with: .success(1))
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, [futures[1]]))
        #expect(sameFutures(pending, [futures[0], futures[2]]))
    }

    @Test func firstCompletedCountsCancellation() async {
        let futures = (0..<2).map { _ in F() }
        let (waiter, _) = startWaiting(futures, until: .firstCompleted)
        futures[0].cancel()
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, [futures[0]]))
        #expect(sameFutures(pending, [futures[1]]))
    }

    @Test func firstFailureReturnsAtTheFailure() async {
        let futures = (0..<3).map { _ in F() }
        let (waiter, returned) = startWaiting(futures, until: .firstFailure)
        futures[0].complete(with: .success(0))
        await expectStillWaiting(returned)
        futures[2].complete(with: .failure(TestError(id: 2)))
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, [futures[0], futures[2]]))
        #expect(sameFutures(pending, [futures[1]]))
    }

    @Test func firstFailureWithoutFailuresWaitsForAll() async {
        let futures = (0..<3).map { _ in F() }
        let (waiter, returned) = startWaiting(futures, until: .firstFailure)
        futures[0].complete(with: .success(0))
        futures[1].cancel()  // cancellation is not a failure
        await expectStillWaiting(returned)
        futures[2].complete(with: .success(2))
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, futures))
        #expect(pending.isEmpty)
    }

    @Test func firstFailureCountsTimeoutAsFailure() async {
        let futures = (0..<2).map { _ in F() }
        let (waiter, _) = startWaiting(futures, until: .firstFailure)
        futures[1].abandon(with: SpindleError.timedOut(after: .seconds(1)))
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, [futures[1]]))
        #expect(sameFutures(pending, [futures[0]]))
    }

    @Test func allCompletedWaitsForEveryOutcome() async {
        let futures = (0..<3).map { _ in F() }
        let (waiter, returned) = startWaiting(futures, until: .allCompleted)
        futures[2].complete(with: .failure(TestError(id: 2)))
        futures[0].cancel()
        await expectStillWaiting(returned)
        futures[1].complete(with: .success(1))
        let (done, pending) = await waiter.value
        #expect(sameFutures(done, futures), "done keeps the input order, not the completion order")
        #expect(pending.isEmpty)
    }

    @Test(arguments: conditions)
    func waitTimesOut(condition: F.WaitCondition) async {
        let finished = F(completedWith: .success(0))
        let never = F()
        let futures = condition == .firstCompleted ? [never] : [finished, never]
        let (done, pending) = await F.wait(futures, until: condition, timeout: .milliseconds(50))
        #expect(sameFutures(done, condition == .firstCompleted ? [] : [finished]))
        #expect(sameFutures(pending, [never]))
    }

    @Test func cancellingTheWaitingTaskReturnsEarly() async {
        let never = F()
        let (waiter, returned) = startWaiting([never], until: .allCompleted)
        waiter.cancel()
        guard await returnsSoon(returned) else { return }
        let (done, pending) = await waiter.value
        #expect(done.isEmpty)
        #expect(sameFutures(pending, [never]))
        #expect(never.state == .pending, "cancelling the wait does not cancel the futures")
    }

    @Test func cancellingAWaitThatIsSurelyWaitingReturnsEarly() async {
        let never = F()
        let waiting = Future<Void>()
        let returned = Future<Void>()
        let waiter = Task {
            waiting.complete(with: .success(()))
            defer { returned.complete(with: .success(())) }
            return await F.wait([never], until: .allCompleted)
        }
        try? await waiting.value
        waiter.cancel()
        guard await returnsSoon(returned) else { return }
        let (done, pending) = await waiter.value
        #expect(done.isEmpty)
        #expect(sameFutures(pending, [never]))
    }

    /// Regression: a negative timeout shorter than a second used to trap in
    /// `Duration.clampedNanoseconds` (via `OneShotTimer`) instead of timing out at once.
    @Test func waitWithNegativeTimeoutReturnsInsteadOfCrashing() async {
        await #expect(processExitsWith: .success) {
            let (done, pending) = await Future.wait([Future<Int>()], timeout: .milliseconds(-1))
            precondition(done.isEmpty && pending.count == 1)
        }
    }

    // MARK: asCompleted

    @Test func asCompletedOnNothingFinishesAtOnce() async throws {
        #expect(try await F.asCompleted([]).collect().isEmpty)
        #expect(try await F.asCompleted([], timeout: .seconds(60)).collect().isEmpty)
    }

    @Test func asCompletedYieldsInCompletionOrder() async throws {
        let futures = (0..<5).map { _ in F() }
        let stream = F.asCompleted(futures, timeout: .seconds(60))
        let order = [3, 0, 4, 1, 2]
        for index in order {
            switch index {
            case 4: futures[index].cancel()
            case 1: futures[index].complete(with: .failure(TestError(id: 1)))
            default: futures[index].complete(with: .success(index))
            }
        }
        let yielded = try await stream.collect()
        #expect(sameFutures(yielded, order.map { futures[$0] }))
        #expect(yielded.allSatisfy { $0.isDone })
    }

    @Test func asCompletedYieldsWhileCompletionsArrive() async throws {
        let futures = (0..<4).map { _ in F() }
        let order = [2, 0, 3, 1]
        var iterator = F.asCompleted(futures).makeAsyncIterator()
        for index in order {
            futures[index].complete(with: .success(index))
            let next = try await iterator.next()
            #expect(next === futures[index])
        }
        #expect(try await iterator.next() == nil, "the sequence ends after the last future")
    }

    @Test func asCompletedYieldsDoneFuturesInInputOrder() async throws {
        let futures = [F(completedWith: .success(0)), F(completedWith: .success(1)), F(completedWith: .success(2))]
        #expect(sameFutures(try await F.asCompleted(futures).collect(), futures))
    }

    @Test func asCompletedTimesOutAfterYieldingTheDoneOnes() async {
        let finished = F(completedWith: .success(0))
        let never = F()
        var yielded: [F] = []
        await expectSpindleError(.timedOut) {
            for try await future in F.asCompleted([finished, never], timeout: .milliseconds(50)) {
                yielded.append(future)
            }
        }
        #expect(sameFutures(yielded, [finished]))
    }
}
