/// The engine behind a pool whose tasks travel encoded: ``ProcessPool``'s, and the MPI driver's in
/// SpindleMPI. It queues ``PoolTask``s and stops those whose futures are cancelled; this extension
/// builds `submit` and `map` on top, the same for both.
@usableFromInline
package protocol PoolTaskQueue: AnyObject, Sendable {
    /// Queues a task, or fails it at once when the pool no longer takes work.
    func submit(_ task: PoolTask)
    /// Stops a task whose future was cancelled (skipped if not begun, its worker killed if
    /// running), and fails it.
    func cancel(_ task: PoolTask)
    /// Where tasks put their inputs' large arrays, if their transport carries shared memory.
    var spillArea: SpillArea? { get }
}

extension PoolTaskQueue {
    /// Encodes `job` over `inputs` as one task, queues it and returns its future; a job or input
    /// that cannot be encoded gives a future already failed.
    ///
    /// - Parameters:
    ///   - encoded: the job already encoded, as a map does once for all its chunks.
    ///   - makeValue: turns the chunk's outcome into the future's result.
    @usableFromInline
    package func start<J: Job, Value: Sendable>(
        _ job: J,
        encoded: EncodedJob<J>? = nil,
        _ inputs: [J.Input],
        timeout: Duration?,
        makeValue: @escaping @Sendable (ChunkOutcome<J.Output>) -> Result<Value, any Error>
    ) -> Future<Value> {
        let task: TypedPoolTask<J, Value>
        do {
            task = try TypedPoolTask(
                job: job,
                encodedJob: encoded,
                inputs: inputs,
                spill: spillArea,
                timeout: timeout,
                makeValue: makeValue
            )
        } catch {
            return Future(completedWith: .failure(error))
        }
        task.future.setCancelHandler { [self] in cancel(task) }
        submit(task)
        return task.future
    }

    /// Runs `job` over `inputs` as a ``Pool/map(_:_:options:)`` of a pool with `workerCount`
    /// workers whose default task timeout is `taskTimeout`. The sequence keeps `pool` alive: a pool
    /// only referenced by a map still being consumed must not shut down under it.
    // Inlinable so that reading the inputs is specialised for the caller's sequence type.
    @inlinable
    package func map<J: Job, Inputs: Sequence>(
        _ job: J,
        _ inputs: Inputs,
        options: MapOptions,
        taskTimeout: Duration?,
        workerCount: Int,
        keeping pool: some Pool
    ) -> MapResults<J.Output> where Inputs.Element == J.Input {
        var options = options
        options.timeout = options.timeout ?? taskTimeout
        // A message to a worker and back takes tens of microseconds: keep enough chunks in flight
        // that workers never wait for the next one, even when every item is its own chunk.
        options.runAhead = options.runAhead ?? 16 * workerCount
        // The job is encoded once for all chunks; if it cannot be, each chunk reports why.
        let encoded = try? EncodedJob(job)
        return MapResults(inputs: inputs, options: options, workerCount: workerCount) { chunk, timeout in
            withExtendedLifetime(pool) {
                self.start(job, encoded: encoded, chunk, timeout: timeout) { .success($0) }
            }
        }
    }
}
