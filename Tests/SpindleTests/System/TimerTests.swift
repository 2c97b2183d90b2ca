@testable import Spindle
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(3)))
struct TimerTests {
    @Test(arguments: [Duration.zero, .milliseconds(1), .milliseconds(20)])
    func timerRunsTheActionOnce(delay: Duration) async {
        let runs = Atomic(0)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            _ = OneShotTimer(after: delay) {
                runs.add(1, ordering: .relaxed)
                continuation.resume()
            }
        }
        #expect(runs.load(ordering: .relaxed) == 1)
    }

    @Test func aHugeDelayDoesNotTrap() {
        // Never fires while the tests run; it only must not overflow.
        OneShotTimer(after: .seconds(Int64.max)) {}.cancel()
        OneShotTimer(after: .seconds(1_000_000_000_000)) {}.cancel()
    }

    @Test func cancellingReleasesTheAction() async {
        // The action holds the only strong reference to `token`: once the timer is cancelled, the
        // action (and so the token) must be released, not kept until the far deadline.
        final class Token: Sendable {}
        weak var weakToken: Token?
        let timer: OneShotTimer = {
            let token = Token()
            weakToken = token
            return OneShotTimer(after: .seconds(3_600)) { _ = token }
        }()
        #expect(weakToken != nil, "the pending timer keeps its action")
        timer.cancel()
        // Dispatch releases a cancelled source's handler on its own queue, shortly after.
        let released = await eventually { weakToken == nil }
        #expect(released, "a cancelled timer must let go of its action")
    }
}
