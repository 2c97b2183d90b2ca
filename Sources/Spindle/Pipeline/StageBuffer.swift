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
final class StageBuffer<Value: Sendable>: Sendable {
    private struct State {
        /// The batches put and not yet taken, and how many items they hold.
        var batches: Deque<ItemBatch<Value>> = []
        var count = 0
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
        var items: ItemBatch<Value>
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
    var count: Int { state.withLock { $0.count } }

    /// Appends `batch` once it fits; returns `false` (dropping the batch) when the buffer was cancelled.
    func put(_ batch: ItemBatch<Value>) async -> Bool {
        while true {
            let outcome: Result<UnsafeContinuation<Void, Never>?, Stop>? = state.withLock { state in
                if state.cancelled { return .failure(Stop()) }
                guard state.count == 0 || state.count + batch.count <= capacity else { return nil }
                state.batches.append(batch)
                state.count += batch.count
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
                    $0.cancelled || $0.count == 0 || $0.count + batch.count <= capacity
                }
            }
        }
    }

    /// Takes up to `limit` items (at least one) and the batch's sequence number; waits while the
    /// buffer is empty. `nil` once every producer has finished and the buffer is empty, or when it
    /// was cancelled.
    func take(upTo limit: Int) async -> (sequence: Int, items: ItemBatch<Value>)? {
        while true {
            let outcome: Taken?? = state.withLock { state in
                if state.cancelled { return .some(nil) }
                if state.count == 0 { return state.producersLeft == 0 ? .some(nil) : nil }
                // Whole batches while they fit; the first that does not is split.
                var items = ItemBatch<Value>()
                let wanted = min(max(1, limit), state.count)
                while items.count < wanted, var first = state.batches.popFirst() {
                    if items.count + first.count > wanted {
                        let head = first.removeFirst(wanted - items.count)
                        state.batches.prepend(first)
                        first = head
                    }
                    if items.isEmpty { items = first } else { items.append(first) }
                }
                state.count -= items.count
                defer { state.nextSequence += 1 }
                // Room for a waiting producer, and items left for another consumer, if any wait.
                let putter = state.putters.popLast()
                let taker = state.count == 0 ? nil : state.takers.popLast()
                return .some(Taken(sequence: state.nextSequence, items: items, putter: putter, taker: taker))
            }
            if let outcome {
                outcome?.putter?.resume()
                outcome?.taker?.resume()
                return outcome.map { ($0.sequence, $0.items) }
            }
            await waitUntil(\.takers) { $0.cancelled || $0.count > 0 || $0.producersLeft == 0 }
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
            state.batches = []
            state.count = 0
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
