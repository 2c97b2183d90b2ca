@testable import Spindle
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(3)))
struct ConditionLockTests {
    /// A flag threads share; `ConditionLock` is what orders its reads and writes here.
    final class Flag: Sendable {
        private let value = Atomic(false)
        var isSet: Bool { value.load(ordering: .relaxed) }
        func set() { value.store(true, ordering: .relaxed) }
    }

    @Test func timedWaitWithPastDeadlineReturnsFalse() {
        let lock = ConditionLock()
        lock.lock()
        #expect(!lock.wait(untilMonotonicNanoseconds: 0))
        #expect(!lock.wait(untilMonotonicNanoseconds: monotonicNanoseconds()))
        lock.unlock()
    }

    @Test func signalWakesAWaitingThread() async {
        let lock = ConditionLock()
        let flag = Flag()
        let waiting = Future<Void>()
        let woke = Task {
            await onPlainThread {
                lock.lock()
                waiting.complete(with: .success(()))
                while !flag.isSet { lock.wait() }
                lock.unlock()
                return true
            }
        }
        try? await waiting.value
        lock.withLock { flag.set() }
        lock.signal()
        #expect(await woke.value)
    }

    @Test func broadcastWakesEveryWaitingThread() async {
        let lock = ConditionLock()
        let flag = Flag()
        let threads = 4
        let waiting = (0..<threads).map { _ in Future<Void>() }
        let woke = Task {
            await withTaskGroup(of: Bool.self) { group in
                for index in 0..<threads {
                    group.addTask {
                        await onPlainThread {
                            lock.lock()
                            waiting[index].complete(with: .success(()))
                            while !flag.isSet { lock.wait() }
                            lock.unlock()
                            return true
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
        }
        for future in waiting { try? await future.value }
        lock.withLock { flag.set() }
        lock.broadcast()
        #expect(await woke.value == threads)
    }

    @Test func withLockReturnsAndRethrows() {
        let lock = ConditionLock()
        #expect(lock.withLock { 5 } == 5)
        #expect(throws: TestError(id: 1)) { try lock.withLock { throw TestError(id: 1) } }
        // The lock was released by the throw: taking it again must not deadlock or trap.
        #expect(lock.withLock { true })
    }

    @Test func monotonicClockDoesNotGoBackwards() {
        var previous = monotonicNanoseconds()
        for _ in 0..<1_000 {
            let now = monotonicNanoseconds()
            #expect(now >= previous)
            previous = now
        }
    }

    // MARK: Duration.clampedNanoseconds

    @Test(arguments: [
        (Duration.zero, UInt64(0)),
        (.nanoseconds(1), 1),
        (.milliseconds(1_500), 1_500_000_000),
        (.seconds(2), 2_000_000_000),
        (.seconds(-3), 0),
        (.seconds(-1) - .milliseconds(500), 0),
        (.seconds(Int64.max), UInt64.max / 2),
    ])
    func clampedNanoseconds(duration: Duration, expected: UInt64) {
        #expect(duration.clampedNanoseconds == expected)
    }

    /// Regression: `Duration.components` of a negative duration shorter than a second is (0,
    /// negative attoseconds), and `UInt64(attoseconds / 1_000_000_000)` used to trap on it.
    @Test(arguments: [-1, -500, -999])
    func negativeSubSecondDurationClampsToZero(milliseconds: Int) async {
        await #expect(processExitsWith: .success) { [milliseconds] in
            precondition(Duration.milliseconds(milliseconds).clampedNanoseconds == 0)
        }
    }
}
