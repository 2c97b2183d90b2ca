/// How one stage runs a chunk of its inputs on its pool, and what the report says about that pool.
///
/// Thread pools and process pools run a chunk as one task and measure its CPU time; any other
/// ``Pool`` runs it as a `map` with one chunk, and its CPU time stays unknown.
struct ChunkRunner<Input: Sendable, Output: Sendable>: Sendable {
    /// How a chunk runs.
    enum Mode: Sendable {
        /// Submitted to the pool as a task; the stage's loop awaits its future.
        case submitted(@Sendable ([Input]) -> Future<ChunkOutcome<Output>>)
        /// Run by the stage's loop itself, which runs on the pool's threads (`executor`): no task
        /// to submit, no future, no hop between threads for each chunk.
        case inline(@Sendable ([Input]) async -> ChunkOutcome<Output>, executor: ThreadPool)
    }

    /// How a chunk runs.
    let mode: Mode
    /// The pool, as the report names it.
    let pool: StagePool
    /// How chunks are sized: `.fixed(1)` where the pool times each task out, so that the timeout
    /// applies to each item, as `map` has it, and a late item is the one that fails.
    var chunking = MapOptions.Chunking.automatic

    /// How many chunks a stage keeps in flight unless told: one per thread when the stage's loops
    /// run the chunks on the threads themselves; two per worker otherwise, so that the next chunk
    /// has already crossed to the worker when the current one ends.
    var defaultConcurrency: Int {
        switch mode {
        case .inline: pool.workers
        case .submitted: 2 * pool.workers
        }
    }

    /// Submits a chunk as a task of the pool.
    init(run: @escaping @Sendable ([Input]) -> Future<ChunkOutcome<Output>>, pool: StagePool) {
        mode = .submitted(run)
        self.pool = pool
    }

    /// Runs chunks on the loop's own thread, a thread of `threads`.
    ///
    /// Once the pool is shut down its threads are gone and the loops would run on whatever
    /// executor is left: a chunk then fails with ``SpindleError/Code/poolShutDown``, as a task
    /// submitted to a shut-down pool does.
    init(inline body: @escaping @Sendable (Input) async throws -> Output, on threads: ThreadPool) {
        mode = .inline(
            { inputs in
                if threads.isShutDown {
                    return ChunkOutcome(outputs: [], failure: SpindleError.shutDown(), busyNanoseconds: 0)
                }
                return await ThreadPool.runChunkHere(inputs, body)
            },
            executor: threads
        )
        pool = StagePool(threads)
    }

    /// Runs `job` on `pool`.
    static func job<J: Job, P: Pool>(_ job: J, on pool: P) -> ChunkRunner
    where J.Input == Input, J.Output == Output {
        if let threads = pool as? ThreadPool {
            return ChunkRunner(inline: { try await job.run($0) }, on: threads)
        }
        if let processes = pool as? ProcessPool {
            // Encoded once for every chunk; if it cannot be, each chunk reports why.
            let encoded = try? EncodedJob(job)
            var runner = ChunkRunner(run: { processes.runChunk(job, encoded: encoded, $0) }, pool: StagePool(processes))
            if processes.taskTimeout != nil { runner.chunking = .fixed(1) }
            return runner
        }
        return ChunkRunner(run: { inputs in mapAsOneChunk(job, inputs, on: pool) }, pool: StagePool(pool))
    }

    /// A chunk as a `map` of one chunk, for pools that offer nothing else.
    private static func mapAsOneChunk<J: Job, P: Pool>(_ job: J, _ inputs: [Input], on pool: P) -> Future<
        ChunkOutcome<Output>
    >
    where J.Input == Input, J.Output == Output {
        let future = Future<ChunkOutcome<Output>>()
        let task = Task {
            let start = monotonicNanoseconds()
            var outputs: [Output] = []
            var failure: (any Error)?
            do {
                for try await output in pool.map(job, inputs, chunkSize: inputs.count) { outputs.append(output) }
            } catch {
                failure = error
            }
            let busy = monotonicNanoseconds() - start
            future.complete(with: .success(ChunkOutcome(outputs: outputs, failure: failure, busyNanoseconds: busy)))
        }
        future.setCancelHandler { task.cancel() }
        return future
    }
}

/// The pool a stage runs on, as a report describes it.
public struct StagePool: Sendable, Hashable, CustomStringConvertible {
    /// What kind of workers the pool has.
    public enum Kind: Sendable, Hashable {
        /// A ``ThreadPool``.
        case threads
        /// A ``ProcessPool``.
        case processes
        /// Another ``Pool``, by its type name.
        case other(String)
    }

    /// What kind of workers the pool has.
    public var kind: Kind
    /// How many workers it has.
    public var workers: Int

    /// Describes a pool.
    public init(kind: Kind, workers: Int) {
        self.kind = kind
        self.workers = workers
    }

    init(_ pool: some Pool) {
        switch pool {
        case is ThreadPool: self.init(kind: .threads, workers: pool.workerCount)
        case is ProcessPool: self.init(kind: .processes, workers: pool.workerCount)
        default: self.init(kind: .other("\(type(of: pool))"), workers: pool.workerCount)
        }
    }

    /// "8 threads", "2 processes".
    public var description: String {
        switch kind {
        case .threads: "\(workers) thread\(workers == 1 ? "" : "s")"
        case .processes: "\(workers) process\(workers == 1 ? "" : "es")"
        case .other(let name): "\(name) of \(workers)"
        }
    }
}
