extension Pipeline {
    /// Adds a stage that runs `job` on each item, on `pool`, and passes each output on.
    ///
    /// - Parameters:
    ///   - job: the work; on a ``ProcessPool`` it must be compiled into the worker, like any job.
    ///   - pool: where it runs; the pipeline never shuts it down, and other stages may share it.
    ///   - name: how progress and the report name the stage; the job's type name by default.
    ///   - concurrency: how many chunks of items the stage runs at once. By default one per worker on
    ///     a ``ThreadPool``, two per worker on other pools, whose chunks travel to the worker: one
    ///     waits there while the other runs. Lower it to leave a shared pool's workers to other stages.
    ///   - buffer: how many of its outputs may wait for the next stage; the pipeline's default
    ///     (``PipelineOptions/buffer``) otherwise.
    public func stage<J: Job, P: Pool>(
        _ job: J,
        on pool: P,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil
    ) -> Pipeline<J.Output> where J.Input == Output {
        adding(
            .job(job, on: pool),
            name: name ?? "\(J.self)",
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.each
        )
    }

    /// Adds a stage that runs `job` on each item and passes on only the outputs that are not `nil`:
    /// a filter.
    ///
    /// The parameters are those of ``stage(_:on:name:concurrency:buffer:)``.
    public func compactStage<J: Job, P: Pool, Next: Sendable>(
        _ job: J,
        on pool: P,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil
    ) -> Pipeline<Next> where J.Input == Output, J.Output == Next? {
        adding(
            .job(job, on: pool),
            name: name ?? "\(J.self)",
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.nonNil
        )
    }

    /// Adds a stage that runs `job` on each item and passes on every element of each output: a
    /// fan-out (a file into its records, say). The elements of one output go on together.
    ///
    /// The parameters are those of ``stage(_:on:name:concurrency:buffer:)``.
    public func flatStage<J: Job, P: Pool>(
        _ job: J,
        on pool: P,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil
    ) -> Pipeline<J.Output.Element> where J.Input == Output, J.Output: Sequence, J.Output.Element: Sendable {
        adding(
            .job(job, on: pool),
            name: name ?? "\(J.self)",
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.elements
        )
    }

    /// Adds a stage that runs `body` on each item on the threads of `pool`, and passes each result on.
    ///
    /// `body` may block (read a file, wait for the network): the pool's threads are its own.
    /// The other parameters are those of ``stage(_:on:name:concurrency:buffer:)``; the name is
    /// "stage N" by default.
    public func stage<Next: Sendable>(
        on pool: ThreadPool,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil,
        _ body: @escaping @Sendable (Output) async throws -> Next
    ) -> Pipeline<Next> {
        adding(
            ChunkRunner(inline: body, on: pool),
            name: name,
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.each
        )
    }

    /// Adds a stage that runs `body` on each item on the threads of `pool`, and passes on only the
    /// results that are not `nil`: a filter. See ``stage(on:name:concurrency:buffer:_:)``.
    public func compactStage<Next: Sendable>(
        on pool: ThreadPool,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil,
        _ body: @escaping @Sendable (Output) async throws -> Next?
    ) -> Pipeline<Next> {
        adding(
            ChunkRunner(inline: body, on: pool),
            name: name,
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.nonNil
        )
    }

    /// Adds a stage that runs `body` on each item on the threads of `pool`, and passes on every
    /// element of each result: a fan-out. See ``stage(on:name:concurrency:buffer:_:)``.
    public func flatStage<Elements: Sequence & Sendable>(
        on pool: ThreadPool,
        name: String? = nil,
        concurrency: Int? = nil,
        buffer: Int? = nil,
        _ body: @escaping @Sendable (Output) async throws -> Elements
    ) -> Pipeline<Elements.Element> where Elements.Element: Sendable {
        adding(
            ChunkRunner(inline: body, on: pool),
            name: name,
            concurrency: concurrency,
            buffer: buffer,
            emit: ItemBatch.elements
        )
    }

    /// The pipeline with one more stage, which runs chunks with `runner` and turns each output into
    /// items with `emit`.
    private func adding<Raw: Sendable, Next: Sendable>(
        _ runner: ChunkRunner<Output, Raw>,
        name: String?,
        concurrency: Int?,
        buffer: Int?,
        emit: @escaping @Sendable ([Raw], ArraySlice<Int>, inout ItemBatch<Next>) -> Void
    ) -> Pipeline<Next> {
        let number = stageCount + 1
        let stage = Stage(
            name: name ?? "stage \(number)",
            number: number,
            runner: runner,
            concurrency: concurrency ?? runner.defaultConcurrency,
            buffer: buffer ?? options.buffer,
            emit: emit
        )
        var invalid = invalidArgument
        if invalid == nil, stage.concurrency < 1 {
            invalid = SpindleError(
                .invalidArgument,
                "stage `\(stage.name)` needs a concurrency of at least 1, not \(stage.concurrency)"
            )
        }
        if invalid == nil, stage.buffer < 1 {
            invalid = SpindleError(
                .invalidArgument,
                "stage `\(stage.name)` needs a buffer of at least 1 item, not \(stage.buffer)"
            )
        }
        let startEarlier = startStages
        return Pipeline<Next>(
            startStages: { run in stage.start(reading: startEarlier(run), in: run) },
            stageCount: number,
            sourceName: sourceName,
            options: options,
            invalidArgument: invalid,
            progressInterval: progressInterval
        )
    }
}
