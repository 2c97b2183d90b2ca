/// Hands out turns in sequence-number order: how a stage that runs several batches at once passes
/// their outputs on in the order the batches were taken.
///
/// A loop that finished batch `n` waits for turn `n`, passes its outputs on, then ends its turn,
/// which lets batch `n + 1` go. Every batch taken must end its turn (or the run be cancelled), or
/// later batches would wait for ever.
final class StageTurns: Sendable {
    private struct State {
        var current = 0
        var cancelled = false
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]
    }
    private let state = Locked(State())

    /// Returns once it is `turn`'s turn, or the turns were cancelled.
    func wait(for turn: Int) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.cancelled || state.current == turn { return true }
                state.waiters[turn] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Ends `turn`, letting the next one go.
    func end(_ turn: Int) {
        let next = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            state.current = turn + 1
            return state.waiters.removeValue(forKey: turn + 1)
        }
        next?.resume()
    }

    /// Lets every waiter go, now and from now on.
    func cancel() {
        let waiters = state.withLock { state in
            state.cancelled = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
