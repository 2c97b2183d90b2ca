/// A mutex that hands itself over in the order threads asked for it: a ticket lock on a condition
/// variable. Each taker draws the next ticket and sleeps until that ticket is served; a release
/// serves the next one. No thread can take the lock twice while another waits, so none starves;
/// the price is a wake-up of the next waiter on every contended release.
final class FairMutex: @unchecked Sendable {
    // @unchecked Sendable: the counters are only touched with `condition`'s mutex held.
    private let condition = ConditionLock(checked: false)
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0

    func lock() {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
    }

    /// Takes the lock if nobody holds it or waits for it.
    func tryLock() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard nextTicket == serving else { return false }
        nextTicket += 1
        return true
    }

    func unlock() {
        condition.lock()
        serving += 1
        // Every waiter wakes to compare its ticket; only the next one goes on.
        condition.broadcast()
        condition.unlock()
    }
}
