@testable import Spindle
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TimerTests {
    @Test(arguments: [Duration.zero, .milliseconds(1), .milliseconds(20)])
    func runAfterRunsTheActionOnce(delay: Duration) async {
        let runs = Atomic(0)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            runAfter(delay) {
                runs.add(1, ordering: .relaxed)
                continuation.resume()
            }
        }
        #expect(runs.load(ordering: .relaxed) == 1)
    }

    @Test func runAfterWithAHugeDelayDoesNotTrap() {
        // Never fires while the tests run; it only must not overflow.
        runAfter(.seconds(Int64.max)) {}
        runAfter(.seconds(1_000_000_000_000)) {}
    }
}
