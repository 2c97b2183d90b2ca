import DequeModule

/// The outputs of a ``Pool/map(_:_:options:)``, as an `AsyncSequence`.
///
/// Nothing runs until iteration starts. Each iteration reads the inputs afresh, keeps at most
/// ``MapOptions/runAhead`` chunks in flight, and throws a job's error at its position, after which
/// it ends. Dropping the iterator (leaving the `for` loop early, or the consuming task being
/// cancelled) cancels every chunk that has not started.
///
/// ```swift
/// for try await y in pool.map(Square(), 1...1_000_000, order: .completion) { total += y }
/// ```
public struct MapResults<Element: Sendable>: AsyncSequence {
    /// A job's error, or a ``SpindleError``.
    public typealias Failure = any Error

    @usableFromInline let makeEngine: () -> MapEngine<Element>

    /// Creates the sequence for a backend: `runChunk` starts one chunk and returns its future.
    ///
    /// - Parameters:
    ///   - inputs: read lazily, one chunk at a time, only while iterating.
    ///   - options: order, chunking, run-ahead and timeout; invalid values make iteration throw
    ///     ``SpindleError/Code/invalidArgument``.
    ///   - workerCount: how many workers the pool has (sets the default run-ahead).
    ///   - runChunk: starts running a chunk of inputs, with the per-item timeout if any.
    // Inlinable so that reading the inputs is specialised for the caller's sequence type.
    @inlinable
    package init<Inputs: Sequence>(
        inputs: Inputs,
        options: MapOptions,
        workerCount: Int,
        runChunk: @escaping ([Inputs.Element], Duration?) -> Future<ChunkOutcome<Element>>
    ) {
        makeEngine = {
            var iterator = inputs.makeIterator()
            let start: MapEngine<Element>.StartChunk = { size, timeout in
                var chunk: [Inputs.Element] = []
                chunk.reserveCapacity(Swift.min(size, 4_096))  // a forced size may be far beyond the input
                while chunk.count < size, let next = iterator.next() { chunk.append(next) }
                guard !chunk.isEmpty else { return nil }
                return runChunk(chunk, timeout)
            }
            return MapEngine(options: options, workerCount: workerCount, startChunk: start)
        }
    }

    /// Every output in order, gathered into an array: Python's `list(executor.map(fn, items))`.
    ///
    /// - Throws: the first job error, as iterating would.
    public func collect() async throws -> [Element] {
        var outputs: [Element] = []
        for try await output in self { outputs.append(output) }
        return outputs
    }

    /// Starts an iteration: the inputs are read afresh and work starts on the first `next()`.
    public func makeAsyncIterator() -> Iterator {
        Iterator(engine: makeEngine())
    }

    /// Yields the outputs of a map, one by one.
    ///
    /// Outputs arrive a chunk at a time; the iterator hands them out from its own buffer, so that
    /// each step is an array read rather than a call into the engine.
    public struct Iterator: AsyncIteratorProtocol {
        @usableFromInline let engine: MapEngine<Element>
        @usableFromInline var buffer: [Element] = []
        @usableFromInline var index = 0

        init(engine: MapEngine<Element>) {
            self.engine = engine
        }

        /// The next output, or `nil` at the end; throws a job's error at its position.
        @inlinable
        public mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }

        /// The next output, staying in the caller's isolation; see ``next()``.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Element? {
            if index < buffer.count {
                defer { index += 1 }
                return buffer[index]
            }
            return try await refill(isolation: actor)
        }

        @usableFromInline
        mutating func refill(isolation actor: isolated (any Actor)?) async throws -> Element? {
            buffer = []
            index = 0
            guard let batch = try await engine.nextBatch(isolation: actor) else { return nil }
            buffer = batch
            index = 1
            return batch[0]
        }
    }
}

@available(*, unavailable)
extension MapResults.Iterator: Sendable {}

/// The state of one iteration of a map: the chunks in flight, the failure to throw next, the sizer.
@usableFromInline
final class MapEngine<Output: Sendable> {
    /// Reads up to `size` inputs and starts them as one chunk; `nil` when the inputs are exhausted.
    @usableFromInline
    typealias StartChunk = (_ size: Int, _ timeout: Duration?) -> Future<ChunkOutcome<Output>>?

    private let startChunk: StartChunk
    private let order: MapOptions.Order
    private let timeout: Duration?
    private let runAhead: Int
    private var sizer: ChunkSizer
    private let inFlight = ChunksInFlight<Output>()
    private var inputsExhausted = false
    private var finished = false
    private var pendingFailure: (any Error)?

    @usableFromInline
    init(options: MapOptions, workerCount: Int, startChunk: @escaping StartChunk) {
        self.startChunk = startChunk
        order = options.order
        timeout = options.timeout
        // A per-item timeout needs one item per task so that each item has its own deadline.
        sizer = ChunkSizer(options.timeout == nil ? options.chunking : .fixed(1))
        runAhead = options.runAhead ?? max(4, 2 * workerCount)
        if case .fixed(let n) = options.chunking, n < 1 {
            pendingFailure = SpindleError(.invalidArgument, "map chunk size must be at least 1, not \(n)")
        } else if runAhead < 1 {
            pendingFailure = SpindleError(.invalidArgument, "map run-ahead must be at least 1, not \(runAhead)")
        }
    }

    deinit {
        inFlight.cancelAll()
    }

    /// The outputs of the next chunk (never empty), or `nil` at the end.
    ///
    /// A chunk that failed returns the outputs before its failure; the failure is thrown by the
    /// following call, which then ends the map.
    @usableFromInline
    func nextBatch(isolation actor: isolated (any Actor)?) async throws -> [Output]? {
        while !finished {
            if let failure = pendingFailure {
                finish()
                throw failure
            }
            if Task.isCancelled {
                finish()
                throw SpindleError.cancelled()
            }
            startChunks()
            guard let outcome = await nextOutcome(isolation: actor) else {
                // No chunk left to wait for, either because the map is complete or because a
                // cancellation that came while the chunks started has just dropped them all.
                if Task.isCancelled {
                    finish()
                    throw SpindleError.cancelled()
                }
                finished = true
                return nil
            }
            let itemsRun = outcome.outputs.count + (outcome.failure == nil ? 0 : 1)
            sizer.record(items: itemsRun, nanoseconds: outcome.busyNanoseconds)
            pendingFailure = outcome.failure
            if !outcome.outputs.isEmpty { return outcome.outputs }
        }
        return nil
    }

    private func startChunks() {
        while !inputsExhausted && inFlight.count < runAhead {
            guard let future = startChunk(sizer.size, timeout) else {
                inputsExhausted = true
                break
            }
            inFlight.add(future, notifyOnCompletion: order == .completion)
        }
    }

    /// The next chunk's outcome: the oldest in input order, or the first finished in completion order.
    private func nextOutcome(isolation actor: isolated (any Actor)?) async -> ChunkOutcome<Output>? {
        let inFlight = self.inFlight
        let order = self.order
        let result: Result<ChunkOutcome<Output>, any Error>? = await withTaskCancellationHandler {
            switch order {
            case .input:
                guard let oldest = inFlight.oldest else { return nil }
                let result = await oldest.result
                _ = inFlight.removeOldest()
                return result
            case .completion:
                return await inFlight.removeFirstCompleted()?.result
            }
        } onCancel: {
            // The consumer's task was cancelled: stop the work rather than wait for it.
            inFlight.cancelAll()
        }
        switch result {
        case nil: return nil
        case .success(let outcome): return outcome
        case .failure(let error): return ChunkOutcome(outputs: [], failure: error, busyNanoseconds: 0)
        }
    }

    private func finish() {
        finished = true
        inFlight.cancelAll()
    }
}

/// The chunks a map has started and not yet consumed; `Sendable` so cancellation can reach them.
final class ChunksInFlight<Output: Sendable>: Sendable {
    private struct State {
        var started: Deque<Future<ChunkOutcome<Output>>> = []
        var completed: Deque<Future<ChunkOutcome<Output>>> = []
        var waiter: UnsafeContinuation<Void, Never>?
    }
    private let state = Locked(State())

    var count: Int { state.withLock { $0.started.count } }

    func add(_ future: Future<ChunkOutcome<Output>>, notifyOnCompletion: Bool) {
        state.withLock { $0.started.append(future) }
        guard notifyOnCompletion else { return }
        future.onComplete { [weak self] _ in
            guard let self else { return }
            let waiter = self.state.withLock { state in
                state.completed.append(future)
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    var oldest: Future<ChunkOutcome<Output>>? { state.withLock { $0.started.first } }

    func removeOldest() -> Future<ChunkOutcome<Output>>? {
        state.withLock { $0.started.popFirst() }
    }

    /// Waits for any started chunk to complete and removes it; `nil` when none is in flight.
    func removeFirstCompleted() async -> Future<ChunkOutcome<Output>>? {
        while true {
            let taken: Future<ChunkOutcome<Output>>?? = state.withLock { state in
                if let future = state.completed.popFirst() {
                    if let index = state.started.firstIndex(where: { $0 === future }) {
                        state.started.remove(at: index)
                    }
                    return .some(future)
                }
                return state.started.isEmpty ? .some(nil) : nil
            }
            if let taken { return taken }
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.completed.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    func cancelAll() {
        let futures = state.withLock { state in
            defer { state.started = [] }
            return state.started
        }
        for future in futures { future.cancel() }
    }
}
