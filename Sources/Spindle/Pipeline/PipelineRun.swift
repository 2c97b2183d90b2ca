import Synchronization

/// One run of a pipeline: its tasks, its buffers, its counters and how it ended.
///
/// A run starts when iteration starts. The source and every stage loop run as tasks of their own;
/// the run keeps them so that a failure, the consumer's cancellation or a dropped iterator can stop
/// them all, and so that the consumer sees the end only once all of them have returned.
final class PipelineRun: Sendable {
    /// How a run ended, or that it has not.
    enum Phase: Sendable, Hashable {
        case running, finished, failed, cancelled
    }

    private struct State {
        /// Tasks waiting for ``begin()``: none starts before every stage has registered.
        var pending: [(executor: (any TaskExecutor)?, body: @Sendable () async -> Void)] = []
        var tasks: [Task<Void, Never>] = []
        var cancellers: [@Sendable () -> Void] = []
        var stages: [StageCounters] = []
        var phase = Phase.running
        var failure: PipelineError?
        var collected: [PipelineError] = []
        var endNanoseconds: UInt64?
    }

    let options: PipelineOptions
    let startNanoseconds = monotonicNanoseconds()
    /// The CPUs this process may use, read once per run.
    let cpusUsable = AvailableCPUs.count
    /// The source's counters: items read (out) and waiting for room.
    let source: StageCounters
    /// The consumer's counters: items taken (in) and waiting for items.
    let consumer = StageCounters(name: "consumer", pool: nil, concurrency: 1, input: nil)
    private let state = Locked(State())
    /// Whether `phase` has left `.running`, readable without the run's lock, which every loop of
    /// every stage would otherwise take for each chunk to ask.
    private let stopped = Atomic(false)

    init(options: PipelineOptions, sourceName: String) {
        self.options = options
        source = StageCounters(name: sourceName, pool: nil, concurrency: 1, input: nil)
    }

    var phase: Phase { state.withLock { $0.phase } }
    var failure: PipelineError? { state.withLock { $0.failure } }
    var collectedFailures: [PipelineError] { state.withLock { $0.collected } }
    var stages: [StageCounters] { state.withLock { $0.stages } }
    var isStopping: Bool { stopped.load(ordering: .acquiring) }

    /// Nanoseconds from start to end, or to now while running.
    var elapsedNanoseconds: UInt64 {
        (state.withLock { $0.endNanoseconds } ?? monotonicNanoseconds()) - startNanoseconds
    }

    /// Registers the next stage's counters.
    func addStage(_ counters: StageCounters) {
        state.withLock { $0.stages.append(counters) }
    }

    /// Runs `body` as a task of this run, on `executor`'s threads if one is given, once the run begins.
    func launch(on executor: (any TaskExecutor)? = nil, _ body: @escaping @Sendable () async -> Void) {
        state.withLock { $0.pending.append((executor, body)) }
    }

    /// Starts every task launched so far. Called once the source and every stage are in place, so
    /// that a stage failing at once finds every buffer it must wake already registered.
    func begin() {
        state.withLock { state in
            for (executor, body) in state.pending {
                state.tasks.append(Task(executorPreference: executor) { await body() })
            }
            state.pending = []
        }
    }

    /// Registers what to call to wake the run's waiters when it stops (a buffer's or turns' `cancel`);
    /// calls it at once if the run has stopped already (the consumer may stop a run at any time).
    func onStop(_ canceller: @escaping @Sendable () -> Void) {
        let stopped = state.withLock { state -> Bool in
            guard state.phase == .running else { return true }
            state.cancellers.append(canceller)
            return false
        }
        if stopped { canceller() }
    }

    /// Records a stage's failure: with `.stop`, the first one stops the run; with `.collect`, it is
    /// kept, unless it is `fatal` (nothing after it could succeed: a pool shut down or broken, a
    /// source that broke), which stops the run whatever the options.
    func record(_ failure: PipelineError, fatal: Bool = false) {
        let stopNow = state.withLock { state -> Bool in
            if options.onFailure == .collect && !fatal {
                state.collected.append(failure)
                return false
            }
            guard state.phase == .running else { return false }
            state.failure = failure
            return true
        }
        if stopNow { stop(as: .failed) }
    }

    /// Stops every task and wakes every waiter; the first reason to stop is the one that counts.
    func stop(as phase: Phase) {
        let (tasks, cancellers) = state.withLock { state -> ([Task<Void, Never>], [@Sendable () -> Void]) in
            guard state.phase == .running else { return ([], []) }
            state.phase = phase
            stopped.store(true, ordering: .releasing)
            state.endNanoseconds = monotonicNanoseconds()
            return (state.tasks, state.cancellers)
        }
        for canceller in cancellers { canceller() }
        for task in tasks { task.cancel() }
    }

    /// Waits for every task of the run to return, then marks a run that was not stopped finished.
    func waitForTasks() async {
        while true {
            let tasks = state.withLock { $0.tasks }
            for task in tasks { await task.value }
            // A task may have launched another while we waited (none do after the start, but be exact).
            let done = state.withLock { state -> Bool in
                guard state.tasks.count == tasks.count else { return false }
                if state.phase == .running {
                    state.phase = .finished
                    stopped.store(true, ordering: .releasing)
                    state.endNanoseconds = monotonicNanoseconds()
                }
                return true
            }
            if done { return }
        }
    }
}
