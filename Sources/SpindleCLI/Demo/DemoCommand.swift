import ArgumentParser
import Foundation
import Spindle

/// Squares its input and adds `offset`: the job of the README's tour.
struct Square: Job {
    var offset = 0
    func run(_ x: Int) async throws -> Int { x * x + offset }
}

/// Fails at one input, to show where a map's error surfaces.
struct FailAtInput: Job {
    struct Failure: Error, CustomStringConvertible {
        var input: Int
        var description: String { "Failure(input: \(input))" }
    }
    var failing: Int
    func run(_ x: Int) async throws -> Int {
        if x == failing { throw Failure(input: x) }
        return x
    }
}

/// Crashes its worker process at one input, to show crash isolation.
struct CrashAtInput: Job {
    var crashing: Int
    func run(_ x: Int) async throws -> Int {
        if x == crashing { fatalError("CrashAtInput reached input \(x)") }
        return x
    }
}

/// Spins without ever checking for cancellation: only a process can stop it.
struct Runaway: Job {
    func run(_ seconds: Int) async throws -> Int {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {}
        return seconds
    }
}

/// Returns the pid of the worker process that ran it.
struct WhichProcess: Job {
    func run(_: Int) async throws -> Int32 { getpid() }
}

/// `spindle demo`: the README's tour, run for real, printing what each step gives.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A tour of the Pool interface on a ThreadPool and a ProcessPool, with real output.",
        discussion: """
            With a hazard (race, deadlock, starvation, livelock), shows that hazard happening for real, what names it, and \
            the fixed version running clean.
            """
    )

    @Argument(help: "A hazard to show: race, deadlock, starvation or livelock. Without one, the tour of the pools.")
    var hazard: HazardDemo?

    @Option(name: .customLong("worker-executable"), help: .hidden)
    var workerExecutable: String?

    func run() async throws {
        if let hazard {
            // Blocks this thread while the demo's own threads run; nothing else needs it meanwhile.
            for line in hazard.run() { print(line) }
            return
        }
        for line in try await Self.tour() { print(line) }
        for line in try await Self.processTour(workerExecutable: workerExecutable) { print(line) }
    }

    /// The ProcessPool part of the tour: same interface, crash isolation, killable jobs.
    static func processTour(workerExecutable: String?) async throws -> [String] {
        var out: [String] = []
        // Crash reports would interleave with the tour's lines; the errors say what happened.
        let options = ProcessPool.Options(executable: workerExecutable, environment: ["SWIFT_BACKTRACE": "enable=no"])
        let pool = try ProcessPool(workers: 2, options: options)
        let pids = Set(try await pool.map(WhichProcess(), 0..<100, chunkSize: 1).collect())
        out.append(
            "ProcessPool with \(pool.workerCount) workers: \(pids.count) worker processes, none of them this one: \(!pids.contains(getpid()))"
        )
        out.append("process map(Square(), 1...10): \(try await pool.map(Square(), 1...10).collect())")
        var outputs: [Int] = []
        do {
            for try await y in pool.map(CrashAtInput(crashing: 5), 0..<10, chunkSize: 10) { outputs.append(y) }
        } catch {
            out.append("a job crashing its worker at input 5: outputs \(outputs), then \(error)")
        }
        out.append("the pool carries on: submit(Square(), 12).value = \(try await pool.submit(Square(), 12).value)")
        let start = ContinuousClock.now
        do {
            _ = try await pool.submit(Runaway(), 60, timeout: .milliseconds(200)).value
        } catch {
            let waited = Int((ContinuousClock.now - start).seconds * 1000 / 100) * 100
            out.append("a runaway job with a 200 ms timeout: \(error) (killed; about \(waited) ms)")
        }
        await pool.shutdown()
        return out
    }

    /// Runs every step of the tour and returns what it prints.
    static func tour() async throws -> [String] {
        var out: [String] = []
        let pool = try ThreadPool(workers: 2)
        out.append("pool: ThreadPool with \(pool.workerCount) workers (\(AvailableCPUs.count) usable CPUs here)")

        let squares = try await pool.map(Square(), 1...10).collect()
        out.append("map(Square(), 1...10), input order: \(squares)")

        var total = 0
        for try await y in pool.map(Square(), 1...1_000_000, order: .completion) { total &+= y }
        out.append("map over 1,000,000 items, completion order, summed: \(total)")

        out.append("submit(Square(offset: 1), 7).value: \(try await pool.submit(Square(offset: 1), 7).value)")

        let words = pool.map(["threads", "share", "memory"]) { word in word.uppercased() }
        out.append("map with a closure: \(try await words.collect())")

        var outputs: [Int] = []
        do {
            for try await y in pool.map(FailAtInput(failing: 5), 0..<10) { outputs.append(y) }
        } catch {
            out.append("a job failing at input 5: outputs \(outputs), then \(error)")
        }

        let late = pool.submit(timeout: .milliseconds(50)) { try await Task.sleep(for: .seconds(10)) }
        do {
            try await late.value
        } catch let error as SpindleError where error.code == .timedOut {
            out.append("a 10 s job with a 50 ms timeout: \(error)")
        }

        // Every worker waits at a gate that opens only after the cancel, so the job is still queued.
        let gate = DispatchSemaphore(value: 0)
        let blockers = (0..<pool.workerCount).map { _ in pool.submit { gate.wait() } }
        let queued = pool.submit(Square(), 3)
        out.append("a queued job cancelled before it started: cancel() = \(queued.cancel()), state = \(queued.state)")
        for _ in blockers { gate.signal() }
        for blocker in blockers { _ = try await blocker.value }

        let futures = (1...4).map { pool.submit(Square(), $0) }
        var completed: [Int] = []
        for try await future in Future.asCompleted(futures) { completed.append(try await future.value) }
        out.append("asCompleted over 4 futures: \(completed.sorted()) (sorted; they arrive as they finish)")
        let (done, pending) = await Future.wait(futures, until: .allCompleted, timeout: .seconds(5))
        out.append("wait(.allCompleted): \(done.count) done, \(pending.count) pending")

        let thread = await withTaskExecutorPreference(pool) { () async -> String in
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        }
        out.append("withTaskExecutorPreference(pool) runs on thread: \(thread)")

        await pool.shutdown()
        do {
            _ = try await pool.submit(Square(), 1).value
        } catch {
            out.append("submit after shutdown: \(error)")
        }
        return out
    }
}
