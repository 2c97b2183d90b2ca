/// One stage of a pipeline: the work it runs, on which pool, how many chunks at once, and how its
/// outputs become items for the next stage (one each, none for `nil`, or several).
///
/// When a run starts, the stage starts `concurrency` loops. Each loop takes a chunk of items from
/// the buffer before it, runs the chunk as one task on the pool, and puts the outputs into the
/// buffer after it. Chunks are sized automatically (as `map` sizes them), up to an equal share of
/// the buffer before it, so trivial stages pay one task per many items and slow ones spread item by
/// item. In input order, a loop waits for its chunk's turn before handing the outputs on.
struct Stage<Input: Sendable, Raw: Sendable, Output: Sendable>: Sendable {
    let name: String
    let number: Int
    let runner: ChunkRunner<Input, Raw>
    let concurrency: Int
    let buffer: Int
    /// Turns a chunk's outputs into items for the next stage, with the origins of their inputs.
    let emit: @Sendable (_ outputs: [Raw], _ origins: ArraySlice<Int>, _ into: inout ItemBatch<Output>) -> Void

    /// Starts the stage's loops in `run`, reading from `input`; returns the buffer they fill.
    func start(reading input: StageBuffer<Input>, in run: PipelineRun) -> StageBuffer<Output> {
        let output = StageBuffer<Output>(capacity: buffer, producers: concurrency)
        let turns = StageTurns()
        let counters = StageCounters(name: name, pool: runner.pool, concurrency: concurrency, input: input)
        run.addStage(counters)
        run.onStop {
            output.cancel()
            turns.cancel()
        }
        let sizer = Locked(ChunkSizer(runner.chunking))
        let chunkLimit = max(1, input.capacity / concurrency)
        var executor: ThreadPool?
        if case .inline(_, let threads) = runner.mode { executor = threads }
        for _ in 0..<concurrency {
            run.launch(on: executor) {
                await serve(input, output, turns, counters, sizer, chunkLimit: chunkLimit, run: run)
            }
        }
        return output
    }

    /// One loop of the stage, until its input ends or the run stops.
    private func serve(
        _ input: StageBuffer<Input>,
        _ output: StageBuffer<Output>,
        _ turns: StageTurns,
        _ counters: StageCounters,
        _ sizer: Locked<ChunkSizer>,
        chunkLimit: Int,
        run: PipelineRun
    ) async {
        let inOrder = run.options.order == .input
        while true {
            let size = min(chunkLimit, sizer.withLock { $0.size })
            let takeStart = monotonicNanoseconds()
            guard let (sequence, batch) = await input.take(upTo: size) else { break }
            let waitedForInput = monotonicNanoseconds() - takeStart
            counters.update {
                $0.itemsIn += batch.count
                $0.waitingForInputNanoseconds += waitedForInput
            }
            guard let outputs = await process(batch, counters, sizer, run: run) else { return }
            if inOrder { await turns.wait(for: sequence) }
            if run.isStopping { return }
            let putStart = monotonicNanoseconds()
            let delivered = outputs.isEmpty ? true : await output.put(outputs)
            let waitedForRoom = monotonicNanoseconds() - putStart
            counters.update {
                $0.itemsOut += outputs.count
                $0.waitingForRoomNanoseconds += waitedForRoom
            }
            if inOrder { turns.end(sequence) }
            if !delivered { return }
        }
        output.producerFinished()
    }

    /// Whether `failure` says the pool can run nothing more, so that trying the other items (with
    /// `.collect`) would only fail each of them in turn.
    private static func leavesNothingToTry(_ failure: any Error) -> Bool {
        guard let error = failure as? SpindleError else { return false }
        return error.code == .poolShutDown || error.code == .workerStartFailed
    }

    /// Runs one chunk on the pool: here, on a thread pool's thread, or as a task whose future it
    /// awaits (cancelling the task if the run stops meanwhile).
    private func runChunk(_ inputs: [Input]) async -> ChunkOutcome<Raw> {
        switch runner.mode {
        case .inline(let body, _):
            return await body(inputs)
        case .submitted(let submit):
            let future = submit(inputs)
            let result = await withTaskCancellationHandler {
                await future.result
            } onCancel: {
                future.cancel()
            }
            switch result {
            case .success(let outcome): return outcome
            case .failure(let error): return ChunkOutcome(outputs: [], failure: error, busyNanoseconds: 0)
            }
        }
    }

    /// Runs a batch on the pool and returns its items for the next stage; `nil` when the run stopped.
    ///
    /// A failed item is recorded; with ``PipelineOptions/FailureHandling/collect`` the items after it
    /// run again as a new chunk, since a chunk stops at its first failure.
    private func process(
        _ batch: ItemBatch<Input>,
        _ counters: StageCounters,
        _ sizer: Locked<ChunkSizer>,
        run: PipelineRun
    ) async -> ItemBatch<Output>? {
        var outputs = ItemBatch<Output>()
        // Arrays from 0, one copy of the chunk's size: the batch's slices index from anywhere.
        let values = Array(batch.values), origins = Array(batch.origins)
        // The items not run yet: the whole batch, or those after a failed one.
        var start = 0
        while start < values.count {
            counters.update { $0.inFlight += 1 }
            let outcome = await runChunk(start == 0 ? values : Array(values[start...]))
            let itemsRun = outcome.outputs.count + (outcome.failure == nil ? 0 : 1)
            counters.update { values in
                values.inFlight -= 1
                values.chunks += 1
                values.busyNanoseconds += outcome.busyNanoseconds
                if let cpu = outcome.cpuNanoseconds {
                    values.measuredCPUNanoseconds += cpu
                    values.measuredBusyNanoseconds += outcome.busyNanoseconds
                }
            }
            if run.isStopping { return nil }
            sizer.withLock { $0.record(items: itemsRun, nanoseconds: outcome.busyNanoseconds) }
            let ran = start..<start + outcome.outputs.count
            emit(outcome.outputs, origins[ran], &outputs)
            guard let failure = outcome.failure else { break }
            // The chunk stopped at the item after those that ran; a pool that broke whole (shut
            // down) names none, so blame the first.
            let failed = min(ran.upperBound, values.count - 1)
            counters.update { $0.failures += 1 }
            run.record(
                PipelineError(
                    stage: name,
                    stageNumber: number,
                    item: origins[failed],
                    input: values[failed],
                    underlying: failure
                ),
                fatal: Self.leavesNothingToTry(failure)
            )
            if run.isStopping { return nil }
            start = failed + 1
        }
        return outputs
    }
}
