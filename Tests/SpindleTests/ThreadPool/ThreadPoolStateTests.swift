@testable import Spindle
import Testing

/// The thread pool's rules as a pure value, with `Int` items and no threads.
@Suite struct ThreadPoolStateTests {
    typealias State = ThreadPoolState<Int>

    private func makeState(threads: Int, spinningBudget: Int = 1) -> State {
        var state = State(spinningBudget: spinningBudget)
        for _ in 0..<threads { state.threadStarting() }
        return state
    }

    /// What a worker was told, without the payload that is not `Equatable`.
    enum Told: Equatable {
        case run(Int)
        case spin
        case sleep
        case exit(waiters: Int)
    }

    private func next(_ state: inout State, maySpin: Bool = true) -> Told {
        Self.told(state.nextForWorker(maySpin: maySpin))
    }

    static func told(_ action: State.WorkerAction) -> Told {
        switch action {
        case .run(let item): return .run(item)
        case .spin: return .spin
        case .sleep: return .sleep
        case .exit(let waiters): return .exit(waiters: waiters.count)
        }
    }

    @Test func startsRunningAndEmpty() {
        let state = State()
        #expect(state.phase == .running)
        #expect(state.queue.isEmpty)
        #expect(state.inFlight == 0)
        #expect(state.idleThreads == 0)
        #expect(state.liveThreads == 0)
    }

    // MARK: Pushing

    @Test func pushWithoutLiveThreadsRunsElsewhere() {
        var state = State()
        let action = state.push(1)
        #expect(action == .runElsewhere)
        #expect(state.queue.isEmpty, "an item run elsewhere is not queued")
    }

    @Test func pushAfterAThreadFailedToStartRunsElsewhere() {
        var state = makeState(threads: 1)
        state.threadFailedToStart()
        #expect(state.liveThreads == 0)
        let action = state.push(1)
        #expect(action == .runElsewhere)
    }

    @Test func pushWithBusyThreadsOnlyQueues() {
        var state = makeState(threads: 2)
        let action = state.push(1)
        #expect(action == .none)
        let action2 = state.push(2)
        #expect(action2 == .none)
        #expect(Array(state.queue) == [1, 2])
    }

    @Test func pushWakesOneOnlyWhenAThreadSleeps() {
        var state = makeState(threads: 2)
        let told = next(&state)
        #expect(told == .spin)
        #expect(state.idleThreads == 0, "an idle worker first spins; it is not asleep yet")
        let action = state.push(1)
        #expect(action == .none, "a spinning worker finds the item by itself")
        state.stoppedSpinning()
        let told2 = next(&state)
        #expect(told2 == .run(1))
        let told3 = next(&state, maySpin: false)
        #expect(told3 == .sleep)
        #expect(state.idleThreads == 1)
        let action2 = state.push(2)
        #expect(action2 == .wakeOne)
        state.wokeUp()
        #expect(state.idleThreads == 0)
        let told4 = next(&state)
        #expect(told4 == .run(2))
        let action3 = state.push(3)
        #expect(action3 == .none, "no thread is asleep any more")
    }

    @Test func onlyAsManyWorkersSpinAsAllowed() {
        var state = makeState(threads: 3, spinningBudget: 1)
        let first = next(&state)
        let second = next(&state)
        #expect(first == .spin)
        #expect(second == .sleep, "the second idle worker sleeps at once")
        #expect(state.spinningThreads == 1 && state.idleThreads == 1)
    }

    @Test func aBurstClaimsTheSpinnerThenWakesSleepers() {
        var state = makeState(threads: 3, spinningBudget: 1)
        _ = next(&state)  // spins
        _ = next(&state)  // sleeps
        _ = next(&state)  // sleeps
        let first = state.push(1)
        let second = state.push(2)
        let third = state.push(3)
        #expect(first == .none, "the spinner is counted on for the first item")
        #expect(second == .wakeOne, "the next item must not wait behind the spinner")
        #expect(third == .wakeOne)
    }

    @Test func stoppingSpinningAfterBeingClaimedNeverGoesNegative() {
        var state = makeState(threads: 1)
        _ = next(&state)
        _ = state.push(1)
        #expect(state.spinningThreads == 0)
        state.stoppedSpinning()
        #expect(state.spinningThreads == 0)
    }

    @Test func noSpinningWhileTheBudgetIsTakenByRunningWorkers() {
        var state = makeState(threads: 2, spinningBudget: 1)
        _ = state.push(1)
        let first = next(&state)
        #expect(first == .run(1))
        let second = next(&state)
        #expect(second == .sleep, "with one CPU's worth of budget, a worker runs and the other sleeps")
        state.wokeUp()
        state.workerReturned()
        let third = next(&state)
        #expect(third == .spin, "once nobody runs, an idle worker may poll")
    }

    @Test func aReturningWorkerIsCountedOnInsteadOfWakingASleeper() {
        var state = makeState(threads: 2, spinningBudget: 1)
        _ = state.push(1)
        _ = next(&state)  // worker A runs item 1
        _ = next(&state, maySpin: false)  // worker B sleeps
        state.workerReturning()  // A's job is completing its future
        let action = state.push(2)
        #expect(action == .none, "A will look at the queue by itself")
        state.workerReturned()
        let told = next(&state)
        #expect(told == .run(2))
        state.workerReturned()
        let action2 = state.push(3)
        #expect(action2 == .wakeOne, "nobody is returning or polling now, and B sleeps")
    }

    @Test func noSpinningWhenNotAllowed() {
        var state = makeState(threads: 1, spinningBudget: 0)
        let told = next(&state)
        #expect(told == .sleep)
    }

    @Test func workersTakeItemsInFIFOOrder() {
        var state = makeState(threads: 1)
        for item in 1...5 { _ = state.push(item) }
        let taken = (0..<5).map { _ in
            defer { state.workerReturned() }
            return next(&state)
        }
        #expect(taken == (1...5).map { .run($0) })
        let told = next(&state)
        #expect(told == .spin)
    }

    // MARK: Tasks and shutdown

    @Test func beginTaskCountsUntilShutdown() {
        var state = makeState(threads: 1)
        let accepted = state.beginTask()
        #expect(accepted)
        let accepted2 = state.beginTask()
        #expect(accepted2)
        #expect(state.inFlight == 2)
        _ = state.shutdown()
        let accepted3 = state.beginTask()
        #expect(!accepted3, "no new tasks after shutdown")
        #expect(state.inFlight == 2)
    }

    @Test func endTaskWhileRunningDoesNotStop() {
        var state = makeState(threads: 1)
        let accepted = state.beginTask()
        #expect(accepted)
        let lastTask = state.endTask()
        #expect(!lastTask)
        #expect(state.phase == .running)
        #expect(state.inFlight == 0)
    }

    @Test func shutdownWithNothingInFlightStopsAtOnce() {
        var state = makeState(threads: 2)
        let mustWake = state.shutdown()
        #expect(mustWake, "workers must be woken to exit")
        #expect(state.phase == .stopping)
        let mustWake2 = state.shutdown()
        #expect(!mustWake2, "a second shutdown changes nothing")
        #expect(state.phase == .stopping)
    }

    @Test func shutdownWithTasksInFlightDrainsThenStops() {
        var state = makeState(threads: 2)
        let accepted = state.beginTask()
        #expect(accepted)
        let accepted2 = state.beginTask()
        #expect(accepted2)
        let mustWake = state.shutdown()
        #expect(!mustWake, "nothing to wake while tasks are in flight")
        #expect(state.phase == .draining)
        let mustWake2 = state.shutdown()
        #expect(!mustWake2)
        #expect(state.phase == .draining)
        let lastTask = state.endTask()
        #expect(!lastTask)
        #expect(state.phase == .draining)
        let lastTask2 = state.endTask()
        #expect(lastTask2, "the last task ends the drain")
        #expect(state.phase == .stopping)
    }

    @Test func endTaskWithoutBeginTaskTraps() async {
        await #expect(processExitsWith: .failure) {
            var state = ThreadPoolState<Int>()
            _ = state.endTask()
        }
    }

    // MARK: Workers

    @Test func workersWaitWhileRunningOrDraining() {
        var state = makeState(threads: 1)
        let told = next(&state)
        #expect(told == .spin)
        state.stoppedSpinning()
        let accepted = state.beginTask()
        #expect(accepted)
        _ = state.shutdown()
        #expect(state.phase == .draining)
        let told2 = next(&state, maySpin: false)
        #expect(told2 == .sleep, "a draining pool keeps its workers for the tasks in flight")
        #expect(state.liveThreads == 1)
    }

    @Test func workersExitOnlyWhenStoppingAndQueueEmpty() {
        var state = makeState(threads: 2)
        let accepted = state.beginTask()
        #expect(accepted)
        _ = state.push(1)
        _ = state.push(2)
        _ = state.shutdown()
        let told = next(&state)
        #expect(told == .run(1), "a draining pool runs what is queued")
        let lastTask = state.endTask()
        #expect(lastTask)
        #expect(state.phase == .stopping)
        _ = state.push(3)  // a task in flight may still resume while the pool stops
        let told2 = next(&state)
        #expect(told2 == .run(2))
        let told3 = next(&state)
        #expect(told3 == .run(3), "a stopping pool still empties its queue")
        let told4 = next(&state)
        #expect(told4 == .exit(waiters: 0))
        #expect(state.liveThreads == 1)
        let told5 = next(&state)
        #expect(told5 == .exit(waiters: 0))
        #expect(state.liveThreads == 0)
        let action = state.push(4)
        #expect(action == .runElsewhere, "once every worker has gone, work runs elsewhere")
    }

    @Test func lastExitingWorkerResumesTheStopWaiters() async {
        var exits: [Told] = []
        var addedBeforeExit = false
        var addedAfterExit = true
        // The body of withUnsafeContinuation runs synchronously, so the state stays local.
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            var state = makeState(threads: 3)
            addedBeforeExit = state.addStopWaiter(continuation)
            _ = state.shutdown()
            var handedOut: [UnsafeContinuation<Void, Never>] = []
            for _ in 0..<3 {
                let action = state.nextForWorker(maySpin: true)
                if case .exit(let waiters) = action { handedOut += waiters }
                exits.append(Self.told(action))
            }
            addedAfterExit = state.addStopWaiter(continuation)
            // Resume exactly once: through the worker that was handed the waiter, or directly
            // (after the expectations below record the failure) so that the test cannot hang.
            (handedOut.first ?? continuation).resume()
        }
        #expect(addedBeforeExit)
        #expect(exits == [.exit(waiters: 0), .exit(waiters: 0), .exit(waiters: 1)])
        #expect(!addedAfterExit, "no waiting once every worker has exited")
    }
}
