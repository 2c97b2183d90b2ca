import Foundation
import Spindle

/// A small message, as a queue of results or progress carries: an `Int`, a `Double`, a short `String`.
struct BenchMessage: Codable, Sendable {
    var id: Int
    var value: Double
    var label: String
}

/// Puts its input's number of ``BenchMessage``s into `queue`, as fast as the queue takes them.
struct PutBenchMessages: Job {
    var queue: ProcessQueue<BenchMessage>

    func run(_ count: Int) async throws -> Int {
        for i in 0..<count {
            try await queue.put(BenchMessage(id: i, value: Double(i) * 0.5, label: "item \(i % 100)"))
        }
        return count
    }
}

/// `spindle bench`'s queue figures: small Codable messages from one process to another through a
/// ``ProcessQueue``, against Python's `multiprocessing.Queue` doing the same in the same run.
///
/// A pool worker (this very binary) puts the messages while the parent gets them; the clock runs
/// from the first message the parent receives to the last, so that neither side's start counts.
/// Each figure is the best of three rounds.
enum QueueBenchmark {
    /// Runs both sides and returns table rows: benchmark, what, measured, ratio, goal.
    static func run(messages: Int, runPython: Bool) async throws -> [[String]] {
        let messages = max(messages, 2)
        let pool = try ProcessPool(workers: 1)
        var best = Double.infinity
        do {
            for _ in 0..<3 {
                let queue = try ProcessQueue<BenchMessage>(capacity: 1_000)
                let job = pool.submit(PutBenchMessages(queue: queue), messages)
                _ = try await queue.get()
                best = min(best, try await timed { for _ in 1..<messages { _ = try await queue.get() } })
                _ = try await job.value
            }
        } catch {
            await pool.shutdown(.immediate)
            throw error
        }
        await pool.shutdown()
        let perSecond = Double(messages - 1) / best
        var lines: [[String]] = [
            [
                "queue: small messages", "ProcessQueue, worker → parent, msgs/s", rate(perSecond), "",
                "≥ 10× mp.Queue",
            ]
        ]
        guard runPython else { return lines }
        switch PythonBaseline.runScript(arguments: ["-c", script, "\(messages)"], decoding: PythonResults.self) {
        case .failure(let error):
            lines.append(["Python multiprocessing.Queue", "skipped", error.description, "", ""])
        case .success(let python):
            lines.append([
                "", "mp.Queue, child → parent, msgs/s", rate(python.messagesPerSecond),
                "×" + Verdict.format(perSecond / python.messagesPerSecond), "",
            ])
        }
        return lines
    }

    /// What the Python script prints.
    struct PythonResults: Decodable {
        var messagesPerSecond: Double
    }

    /// A forked child puts the messages, as tuples (the cheapest Python object to pickle), into a
    /// `multiprocessing.Queue` of the same capacity; the parent gets them. Timed the same way.
    static let script = #"""
        import json, multiprocessing as mp, sys, time

        def produce(q, n):
            for i in range(n):
                q.put((i, i * 0.5, "item %d" % (i % 100)))

        if __name__ == "__main__":
            n = int(sys.argv[1])
            ctx = mp.get_context("fork")
            best = None
            for _ in range(3):
                q = ctx.Queue(maxsize=1000)
                p = ctx.Process(target=produce, args=(q, n))
                p.start()
                q.get()
                t = time.perf_counter()
                for _ in range(n - 1):
                    q.get()
                dt = time.perf_counter() - t
                p.join()
                best = dt if best is None else min(best, dt)
            print(json.dumps({"messagesPerSecond": (n - 1) / best}))
        """#
}
