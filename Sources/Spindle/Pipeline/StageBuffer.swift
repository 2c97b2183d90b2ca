import DequeModule

/// The bounded FIFO between two pipeline stages: producers wait for room, consumers for items.
///
/// Items move in batches, so that a stage running a chunk of a thousand items takes one lock, not a
/// thousand. Each batch taken gets the next sequence number, which lets a stage with several loops
/// hand its outputs on in the order their inputs came in.
///
/// A batch goes in only while it fits (`count + batch.count ≤ capacity`), or when the buffer is
/// empty, so a batch larger than the whole buffer (a fan-out) cannot wait for ever. Memory between
/// two stages is therefore bounded by the capacity, or by one batch.
///
/// Waiting is not tied to task cancellation: a pipeline run stops its tasks by calling ``cancel()``,
/// which wakes every waiter.
final class StageBuffer<Element: Sendable>: Sendable {
    private struct State {
        var items: Deque<Element> = []
        var nextSequence = 0
        var producersLeft: Int
        var cancelled = false
        var takers: [UnsafeContinuation<Void, Never>] = []
        var putters: [UnsafeContinuation<Void, Never>] = []

        mutating func takeWaiters(_ keyPath: WritableKeyPath<State, [UnsafeContinuation<Void, Never>]>)
            -> [UnsafeContinuation<Void, Never>]
        {
            defer { self[keyPath: keyPath] = [] }
            return self[keyPath: keyPath]
        }
    }

    private struct Stop: Error {}

    private struct Taken {
        var sequence: Int
        var items: [Element]
        var putter: UnsafeContinuation<Void, Never>?
        var taker: UnsafeContinuation<Void, Never>?
    }

    /// How many items fit.
    let capacity: Int
    private let state: Locked<State>

    /// A buffer of `capacity` items (at least 1) that ends once `producers` producers have finished.
    init(capacity: Int, producers: Int) {
        self.capacity = max(1, capacity)
        state = Locked(State(producersLeft: producers))
    }

    /// How many items wait in the buffer now.
    var count: Int { state.withLock { $0.items.count } }

    /// Appends `batch` once it fits; returns `false` (dropping the batch) when the buffer was cancelled.
    func put(_ batch: [Element]) async -> Bool {
        while true {
            let outcome: Result<UnsafeContinuation<Void, Never>?, Stop>? = state.withLock { state in
                if state.cancelled { return .failure(Stop()) }
                guard state.items.isEmpty || state.items.count + batch.count <= capacity else { return nil }
                state.items.append(contentsOf: batch)
                // One taker at a time: it wakes the next if it leaves items behind.
                return .success(state.takers.popLast())
            }
            switch outcome {
            case .success(let taker)?:
                taker?.resume()
                return true
            case .failure?:
                return false
            case nil:
                await waitUntil(\.putters) {
                    $0.cancelled || $0.items.isEmpty || $0.items.count + batch.count <= capacity
                }
            }
        }
    }

    /// Takes up to `limit` items (at least one) and the batch's sequence number; waits while the
    /// buffer is empty. `nil` once every producer has finished and the buffer is empty, or when it
    /// was cancelled.
    func take(upTo limit: Int) async -> (sequence: Int, items: [Element])? {
        while true {
            let outcome: Taken?? = state.withLock { state in
                if state.cancelled { return .some(nil) }
                if state.items.isEmpty { return state.producersLeft == 0 ? .some(nil) : nil }
                let n = min(max(1, limit), state.items.count)
                let items = Array(state.items.prefix(n))
                state.items.removeFirst(n)
                defer { state.nextSequence += 1 }
                // Room for a waiting producer, and items left for another consumer, if any wait.
                let putter = state.putters.popLast()
                let taker = state.items.isEmpty ? nil : state.takers.popLast()
                return .some(Taken(sequence: state.nextSequence, items: items, putter: putter, taker: taker))
            }
            if let outcome {
                outcome?.putter?.resume()
                outcome?.taker?.resume()
                return outcome.map { ($0.sequence, $0.items) }
            }
            await waitUntil(\.takers) { $0.cancelled || !$0.items.isEmpty || $0.producersLeft == 0 }
        }
    }

    /// Records that one producer will put nothing more; the last one ends the buffer for its consumers.
    func producerFinished() {
        let takers = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            state.producersLeft -= 1
            return state.producersLeft == 0 ? state.takeWaiters(\.takers) : []
        }
        for taker in takers { taker.resume() }
    }

    /// Drops every item and wakes every waiter; puts and takes fail from now on.
    func cancel() {
        let waiters = state.withLock { state in
            state.cancelled = true
            state.items = []
            return state.takeWaiters(\.takers) + state.takeWaiters(\.putters)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until `ready` holds, checked under the lock so that no wake-up is missed.
    private func waitUntil(
        _ queue: WritableKeyPath<State, [UnsafeContinuation<Void, Never>]>,
        _ ready: (State) -> Bool
    ) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if ready(state) { return true }
                state[keyPath: queue].append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
