internal import Glibc
import Synchronization

/// How a party arrives, waits, and finds dead parties: see ``ProcessBarrier``'s discussion for the
/// contract, and the layout comment in `ProcessBarrier.swift` for the state word.
extension ProcessBarrier {
    /// What happened when a party arrived.
    enum Arrival {
        /// It was the last of its generation and released the others.
        case released(index: Int)
        /// It must wait for the rest of generation `generation`.
        case waiting(generation: UInt32, index: Int)

        var index: Int {
            switch self {
            case .released(let index), .waiting(_, let index): index
            }
        }
    }

    static func generation(of state: UInt32) -> UInt32 { (state >> generationShift) & generationMask }

    /// The state of a fresh generation after the one in `state`: nobody arrived, not broken.
    static func nextGeneration(of state: UInt32) -> UInt32 {
        ((generation(of: state) &+ 1) & generationMask) << generationShift
    }

    static func broken(_ why: String) -> SpindleError { SpindleError(.brokenBarrier, "the barrier is broken: \(why)") }

    /// Slot `index` of the arrivals list of the generations of parity `parity`.
    private func slot(_ parity: UInt32, _ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (segment.bytes + Self.listsOffset + (Int(parity) * parties + index) * 8).assumingMemoryBound(
            to: Atomic<UInt64>.self
        )
    }

    func clearList(_ parity: UInt32) {
        for index in 0..<parties { slot(parity, index).pointee.store(0, ordering: .releasing) }
    }

    /// Counts this party in, and trips the barrier if it is the last.
    ///
    /// - Throws: ``SpindleError/Code/brokenBarrier`` when the barrier is broken.
    func arrive() throws(SpindleError) -> Arrival {
        let me = ProcessIdentity.current?.packed ?? 0
        while true {
            let current = state.load()
            if current & Self.brokenBit != 0 {
                throw Self.broken("a party died, timed out or aborted it; reset it to use it again")
            }
            let generation = Self.generation(of: current)
            let count = Int(current & Self.countMask)
            let parity = generation & 1
            if count >= parties {
                // The last party has claimed the final place and is tripping the barrier: this
                // arrival belongs to the next generation (more processes than parties use it).
                sched_yield()
                continue
            }
            // Every party, the last too, first claims its place: so only one can be the last.
            guard state.compareExchange(current, current + 1) else { continue }
            // Between the swap and this store, a death goes unseen: the documented gap.
            slot(parity, count).pointee.store(me, ordering: .releasing)
            guard count + 1 == parties else { return .waiting(generation: generation, index: count) }
            // The last party: empty the next generation's list (the one before this one's; this
            // one's is what the next generation checks), then trip, unless an abort or a reset
            // came first.
            clearList(parity ^ 1)
            while true {
                let claimed = state.load()
                guard Self.generation(of: claimed) == generation, claimed & Self.brokenBit == 0 else {
                    throw Self.broken("it was aborted or reset as its last party arrived")
                }
                if state.compareExchange(claimed, Self.nextGeneration(of: claimed)) {
                    state.wake()
                    return .released(index: count)
                }
            }
        }
    }

    /// Waits, in slices, until generation `generation` is over: released, broken, reset, out of
    /// time, cancelled, or found with a dead party.
    func awaitRelease(
        _ generation: UInt32,
        _ index: Int,
        _ deadline: WaitDeadline,
        timeout: Duration?,
        _ cancelled: CancellationFlag?
    ) throws(SpindleError) -> Int {
        // Short waits, the common case, read nothing in /proc: the first check is a slice in.
        var nextCheck = monotonicNanoseconds() &+ WaitDeadline.slice
        while true {
            let current = state.load()
            let now = Self.generation(of: current)
            if now != generation {
                // Over. A reset moves to the next generation too, and marks it: its waiters are
                // broken. (Had the barrier moved two generations on, this party was released: the
                // next generation cannot end without it, unless more processes than parties use it.)
                if now == (generation &+ 1) & Self.generationMask && current & Self.resetBit != 0 {
                    throw Self.broken("it was reset while this party waited")
                }
                return index
            }
            if current & Self.brokenBit != 0 { throw Self.broken("a party died, timed out or aborted it") }
            if cancelled?.isCancelled == true {
                try leave(generation, .waitCancelled("a barrier"))
                continue
            }
            let sleep = deadline.nextSleep
            if sleep == 0 {
                try leave(generation, .waitTimedOut("the barrier's other parties", timeout))
                continue
            }
            if monotonicNanoseconds() >= nextCheck {
                if let dead = deadParty(generation, arrived: Int(current & Self.countMask)) {
                    try leave(generation, Self.broken("party process \(dead.pid) died"))
                    continue
                }
                nextCheck = monotonicNanoseconds() &+ WaitDeadline.slice
            }
            state.wait(whileEqualTo: current, nanoseconds: sleep)
        }
    }

    /// Breaks generation `generation` and throws `error`; returns instead if the generation ended
    /// first (the caller then finds out how).
    private func leave(_ generation: UInt32, _ error: SpindleError) throws(SpindleError) {
        while true {
            let current = state.load()
            guard Self.generation(of: current) == generation else { return }
            if current & Self.brokenBit != 0 { throw error }
            if state.compareExchange(current, current | Self.brokenBit) {
                state.wake()
                throw error
            }
        }
    }

    /// A process that arrived in generation `generation` (of which `arrived` parties are in) and
    /// is dead, or one that arrived in the generation before, has not arrived in this one, and is
    /// dead; `nil` when there is none.
    private func deadParty(_ generation: UInt32, arrived: Int) -> ProcessIdentity? {
        let parity = generation & 1
        let me = ProcessIdentity.current?.packed ?? 0
        var here: [UInt64: Int] = [:]
        for index in 0..<min(arrived, parties) {
            let party = slot(parity, index).pointee.load(ordering: .acquiring)
            if party != 0 { here[party, default: 0] += 1 }
        }
        var before: [UInt64: Int] = [:]
        for index in 0..<parties {
            let party = slot(parity ^ 1, index).pointee.load(ordering: .acquiring)
            if party != 0 { before[party, default: 0] += 1 }
        }
        // Counted as multisets: a process with two parties that has arrived once is still expected.
        // An arrival whose record is not written yet is missing from `here`, so it is checked as
        // expected: that can only find it dead if it is.
        var suspects = Set(here.keys)
        for (party, times) in before where times > here[party, default: 0] { suspects.insert(party) }
        suspects.remove(me)
        for party in suspects.sorted() {
            let identity = ProcessIdentity(packed: party)
            if identity.liveness == .dead { return identity }
        }
        return nil
    }
}
