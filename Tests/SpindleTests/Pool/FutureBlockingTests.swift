@testable import Spindle
import Testing

/// The blocking, `noasync` ``Future/wait(timeout:)``, always called from a plain thread, and the
/// ``OneShotSignal`` behind it.
@Suite(.timeLimit(.minutes(3)))
struct FutureBlockingTests {
    @Test func waitOnDoneFutureReturnsAtOnce() async throws {
        let future = Future<Int>(completedWith: .success(3))
        #expect(try await onPlainThread { blockingWait(future, timeout: .zero) }.get() == 3)
    }

    @Test(arguments: [nil, Duration.seconds(30)])
    func waitBlocksUntilCompleted(timeout: Duration?) async throws {
        let outcome = await waitOnOneThreadCompleteOnAnother(timeout: timeout, with: .success(11))
        #expect(try outcome.get() == 11)
    }

    @Test func waitThrowsTheJobErrorUnchanged() async {
        let outcome = await waitOnOneThreadCompleteOnAnother(timeout: .seconds(30), with: .failure(TestError(id: 12)))
        #expect(outcome.failure as? TestError == TestError(id: 12))
    }

    /// Blocks one plain thread in `wait(timeout:)` on a new future, and completes the future with
    /// `result` from another once the first is about to wait. Neither needs Swift's cooperative
    /// threads: other tests may keep them busy for longer than the timeout (under ThreadSanitizer
    /// in CI, a completion made from the test's own task came more than 30 s late).
    private func waitOnOneThreadCompleteOnAnother(
        timeout: Duration?,
        with result: Result<Int, any Error>
    ) async -> Result<Int, any Error> {
        let future = Future<Int>()
        return await onPlainThread {
            let aboutToWait = OneShotSignal<Bool>()
            let waited = OneShotSignal<Result<Int, any Error>>()
            startPlainThread {
                aboutToWait.fire(true)
                waited.fire(blockingWait(future, timeout: timeout))
            }
            _ = aboutToWait.wait(untilMonotonicNanoseconds: nil)
            future.complete(with: result)
            return waited.wait(untilMonotonicNanoseconds: nil)!
        }
    }

    @Test func waitOnCancelledFutureThrowsCancelled() async {
        let future = Future<Int>()
        future.cancel()
        let outcome = await onPlainThread { blockingWait(future, timeout: nil) }
        #expect(spindleCode(outcome.failure) == .cancelled)
    }

    @Test(arguments: [Duration.zero, .milliseconds(50)])
    func waitTimesOut(timeout: Duration) async throws {
        let future = Future<Int>()
        let outcome = await onPlainThread { blockingWait(future, timeout: timeout) }
        #expect(spindleCode(outcome.failure) == .timedOut)
        #expect(future.state == .pending, "a timed-out wait leaves the future alone")
        // The callback the wait left behind must not get in the way of a later completion.
        future.complete(with: .success(1))
        #expect(try await onPlainThread { blockingWait(future, timeout: .zero) }.get() == 1)
    }

    /// Regression: a negative timeout shorter than a second used to trap in
    /// `Duration.clampedNanoseconds` instead of timing out at once. Run in a child process so a
    /// trap fails this test rather than the whole run.
    @Test func waitWithNegativeTimeoutTimesOutInsteadOfCrashing() async {
        await #expect(processExitsWith: .success) {
            let outcome = blockingWait(Future<Int>(), timeout: .milliseconds(-1))
            precondition(spindleCode(outcome.failure) == .timedOut)
        }
    }

    // MARK: OneShotSignal

    @Test func signalFiredBeforeWaitReturnsAtOnce() {
        let signal = OneShotSignal<Int>()
        signal.fire(1)
        signal.fire(2)
        #expect(signal.wait(untilMonotonicNanoseconds: nil) == 1, "the first value wins")
        #expect(signal.wait(untilMonotonicNanoseconds: 0) == 1)
    }

    @Test func signalWaitWithPastDeadlineReturnsNil() async {
        let signal = OneShotSignal<Int>()
        let value = await onPlainThread { signal.wait(untilMonotonicNanoseconds: monotonicNanoseconds()) }
        #expect(value == nil)
    }

    @Test func signalWakesABlockedThread() async {
        let signal = OneShotSignal<Int>()
        let aboutToWait = Future<Void>()
        let outcome = Task {
            await onPlainThread {
                aboutToWait.complete(with: .success(()))
                return signal.wait(untilMonotonicNanoseconds: nil)
            }
        }
        try? await aboutToWait.value
        signal.fire(5)
        #expect(await outcome.value == 5)
    }
}
