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

/// `spindle demo`: the README's tour, run for real, printing what each step gives.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A tour of the Pool interface on a ThreadPool, with real output."
    )

    func run() async throws {
        for line in try await Self.tour() { print(line) }
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

        let blockers = (0..<pool.workerCount).map { _ in pool.submit { usleep(200_000) } }
        let queued = pool.submit(Square(), 3)
        out.append("a queued job cancelled before it started: cancel() = \(queued.cancel()), state = \(queued.state)")
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
