import ArgumentParser
import Dispatch
import Foundation
import Spindle

/// A job that returns its input: the cost of a task with the work taken out.
struct NoOpJob: Job {
    func run(_ x: Int) async throws -> Int { x }
}

/// `spindle bench`: Spindle's ThreadPool against its peers, side by side in one run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the pools against TaskGroup, concurrentPerform and Python, side by side.",
        discussion: """
            Every ratio compares numbers measured in this same run, interleaved round by round, so that \
            a noisy neighbour slows both sides alike. Throughputs are the best of the rounds.
            """
    )

    @Option(help: "Items for the no-op map benchmark.")
    var items = 1_000_000

    @Option(help: "Sequential submit → value round trips for the latency benchmark.")
    var submits = 20_000

    @Option(help: "Rounds of each throughput benchmark (the best counts).")
    var rounds = 3

    @Option(name: .customLong("python-items"), help: "Items for Python's executor.map (it manages ~60k/s).")
    var pythonItems = 100_000

    @Flag(name: .customLong("no-python"), help: "Skip the Python baseline.")
    var noPython = false

    @Option(
        help: """
            Benchmarks to run, comma-separated: map, latency, cpu, io, process, shared, pipeline, hazards, wire (all by default); or \
            parts of process: process-jobs, process-map, process-latency, process-transfer, process-timeout, \
            process-start, process-cpu; or of shared: shared-array, shared-queue, shared-lock.
            """
    )
    var only: String = "map,latency,cpu,io,process,shared,pipeline,hazards,wire"

    private var selected: Set<String> {
        Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// Every name `--only` accepts.
    static let benchmarkNames: Set<String> = Set([
        "map", "latency", "cpu", "io", "process", "shared", "pipeline", "hazards", "wire",
    ])
    .union(ProcessBench.allParts.map { "process-" + $0 })
    .union(sharedParts.map { "shared-" + $0 })

    /// The parts of the shared-memory benchmark.
    static let sharedParts: Set<String> = ["array", "queue", "lock"]

    func validate() throws {
        let unknown = selected.subtracting(Self.benchmarkNames)
        guard unknown.isEmpty else {
            throw ValidationError(
                "--only: no benchmark named \(unknown.sorted().joined(separator: ", ")); choose from "
                    + Self.benchmarkNames.sorted().joined(separator: ", ")
            )
        }
        guard items >= 1, submits >= 10, rounds >= 1, pythonItems >= 1 else {
            throw ValidationError("--items, --rounds and --python-items must be at least 1, --submits at least 10")
        }
    }

    func run() async throws {
        let cpus = AvailableCPUs.count
        var lines: [[String]] = []
        func note(_ text: String) { FileHandle.standardError.write(Data("bench: \(text)\n".utf8)) }

        var spindleRate = Double.nan, p50 = Double.nan
        let pool = try ThreadPool(workers: cpus)
        // 1. Throughput of a map of no-op items.
        if selected.contains("map") {
            note("map of \(items) no-op items, \(rounds) rounds")
            var spindleBest = Double.infinity, groupBest = Double.infinity, performBest = Double.infinity
            for _ in 0..<rounds {
                spindleBest = min(spindleBest, try await timed { for try await _ in pool.map(NoOpJob(), 0..<items) {} })
                groupBest = min(groupBest, await timed { await taskGroupMap(items) })
                performBest = min(performBest, timed { concurrentPerformMap(items) })
            }
            spindleRate = Double(items) / spindleBest
            lines.append(["map, no-op items/s", "ThreadPool.map", rate(spindleRate), "", ""])
            lines.append([
                "", "TaskGroup, 1 child/item", rate(Double(items) / groupBest),
                "×" + Verdict.format(groupBest / spindleBest),
                "≥ ×10",
            ])
            lines.append([
                "", "concurrentPerform", rate(Double(items) / performBest),
                "×" + Verdict.format(performBest / spindleBest),
                "(report)",
            ])

        }

        // 2. Latency of one submit → value round trip.
        if selected.contains("latency") {
            note("\(submits) submit → value round trips")
            var spindleLatency: [Double] = [], detachedLatency: [Double] = []
            spindleLatency.reserveCapacity(submits)
            detachedLatency.reserveCapacity(submits)
            for i in 0..<submits {
                let start = ContinuousClock.now
                _ = try await pool.submit(NoOpJob(), i).value
                spindleLatency.append((ContinuousClock.now - start).seconds * 1e6)
                let start2 = ContinuousClock.now
                _ = await Task.detached { i }.value
                detachedLatency.append((ContinuousClock.now - start2).seconds * 1e6)
            }
            let (spindle50, p99) = percentiles(spindleLatency)
            p50 = spindle50
            let (d50, d99) = percentiles(detachedLatency)
            lines.append([
                "submit → value µs", "ThreadPool p50 / p99", "\(Verdict.format(p50)) / \(Verdict.format(p99))", "",
                "p50 ≤ 15",
            ])
            lines.append([
                "", "Task.detached p50 / p99", "\(Verdict.format(d50)) / \(Verdict.format(d99))",
                "×" + Verdict.format(d50 / p50), "",
            ])

        }
        await pool.shutdown()

        // 3. CPU-bound: 16 jobs of 0.1 s on 1 and 2 workers.
        if selected.contains("cpu") {
            note("16 CPU-bound jobs of 0.1 s on 1 and 2 workers")
            let iterations = SpinJob.calibrate(for: .milliseconds(100))
            var one = Double.infinity, two = Double.infinity
            for _ in 0..<max(1, rounds - 1) {
                one = min(
                    one,
                    try await timedPool(workers: 1) { pool in
                        for try await _ in pool.map(SpinJob(iterations: iterations), 0..<16, chunkSize: 1) {}
                    }
                )
                two = min(
                    two,
                    try await timedPool(workers: 2) { pool in
                        for try await _ in pool.map(SpinJob(iterations: iterations), 0..<16, chunkSize: 1) {}
                    }
                )
            }
            lines.append([
                "CPU 16 × 0.1 s, wall s", "1 worker → 2 workers", "\(Verdict.format(one)) → \(Verdict.format(two))",
                "×" + Verdict.format(one / two), "≥ ×1.9",
            ])

        }

        // 4. I/O-bound: 64 blocking sleeps of 20 ms on 64 workers.
        if selected.contains("io") {
            note("64 blocking sleeps of 20 ms on 64 workers")
            var sleepBest = Double.infinity
            for _ in 0..<rounds {
                sleepBest = min(
                    sleepBest,
                    try await timedPool(workers: 64) { pool in
                        for try await _ in pool.map(SleepJob(milliseconds: 20), 0..<64, chunkSize: 1) {}
                    }
                )
            }
            lines.append([
                "I/O 64 × 20 ms sleeps", "64 workers, wall ms", Verdict.format(sleepBest * 1000),
                "+\(Verdict.format((sleepBest / 0.020 - 1) * 100))%", "≤ +10%",
            ])

        }

        // 5. Python, in the same run, beside the benchmarks it compares with.
        if !noPython && !selected.isDisjoint(with: ["map", "latency", "cpu"]) {
            note("Python ThreadPoolExecutor (\(pythonItems) items, \(submits / 4) submits, GIL check)")
            switch PythonBaseline.run(
                mapItems: pythonItems,
                submits: submits / 4,
                cpuJobs: 16,
                cpuSeconds: 0.1,
                workers: cpus
            ) {
            case .success(let python):
                if selected.contains("map") {
                    lines.append([
                        "Python ThreadPoolExecutor", "map items/s", rate(python.mapItemsPerSecond),
                        "×" + Verdict.format(spindleRate / python.mapItemsPerSecond), "≥ ×50",
                    ])
                }
                if selected.contains("latency") {
                    lines.append([
                        "Python ThreadPoolExecutor", "submit → result p50 / p99 µs",
                        "\(Verdict.format(python.submitP50Microseconds)) / \(Verdict.format(python.submitP99Microseconds))",
                        "×" + Verdict.format(python.submitP50Microseconds / p50), "",
                    ])
                }
                if selected.contains("cpu"), let pyOne = python.cpuOneWorkerSeconds,
                    let pyTwo = python.cpuTwoWorkersSeconds
                {
                    lines.append([
                        "Python ThreadPoolExecutor", "CPU 16 × 0.1 s, 1 → 2 threads",
                        "\(Verdict.format(pyOne)) → \(Verdict.format(pyTwo))",
                        "×" + Verdict.format(pyOne / pyTwo), "(GIL)",
                    ])
                }
            case .failure(let error):
                lines.append(["Python ThreadPoolExecutor", "skipped", error.description, "", ""])
            }
        }

        // 6. ProcessPool and Python's process pools.
        let processParts =
            selected.contains("process")
            ? ProcessBench.allParts
            : Set(selected.filter { $0.hasPrefix("process-") }.map { String($0.dropFirst("process-".count)) })
        if !processParts.isEmpty {
            lines += try await ProcessBench(rounds: rounds, runPython: !noPython, parts: processParts).run(note: note)
        }

        // 7. Shared memory: arrays, queues and locks between processes.
        let sharedSelected =
            selected.contains("shared")
            ? Self.sharedParts
            : Set(selected.filter { $0.hasPrefix("shared-") }.map { String($0.dropFirst("shared-".count)) })
        if sharedSelected.contains("array") {
            lines += try await SharedArrayBench(rounds: rounds, runPython: !noPython).run(note: note)
        }
        if sharedSelected.contains("queue") {
            note("ProcessQueue vs multiprocessing.Queue, 200000 small messages between two processes")
            lines += try await QueueBenchmark.run(messages: 200_000, runPython: !noPython)
        }
        if sharedSelected.contains("lock") {
            note("uncontended lock + unlock: ProcessLock, Synchronization.Mutex, pthread mutexes")
            lines += LockBenchmark.run()
        }

        // 8. Pipelines: the cost per item of stages with the work taken out.
        if selected.contains("pipeline") {
            lines += try await PipelineBench(items: items, rounds: rounds).run(note: note)
        }

        // 9. Checked locks: what the hazard checks cost, off and on.
        if selected.contains("hazards") {
            note("uncontended lock + unlock: CheckedLock (checks off and on) vs Synchronization.Mutex")
            lines += HazardBench.run()
        }

        var table = TextTable(headers: ["benchmark", "what", "measured", "ratio", "goal"], leftAligned: [0, 1])
        for line in lines { table.add(line) }
        print("spindle bench: \(cpus) usable CPUs; ratios are Spindle's advantage, measured side by side\n")
        print(table.render())

        // 10. The wire coder against Foundation's coders, in a table of its own.
        if selected.contains("wire") {
            note("wire coder against JSONEncoder and PropertyListEncoder, \(rounds + 4) rounds")
            let rows = try WireBenchmark.rows(rounds: rounds + 4)
            var wire = TextTable(headers: rows[0], leftAligned: [0])
            for row in rows.dropFirst() { wire.add(row) }
            print("\nwire coding, per call (encode and decode one value; best round):\n")
            print(wire.render())
        }
    }
}

private func taskGroupMap(_ items: Int) async {
    await withTaskGroup(of: Int.self) { group in
        for i in 0..<items { group.addTask { i } }
        for await _ in group {}
    }
}

private func concurrentPerformMap(_ items: Int) {
    let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: items)
    defer { results.deallocate() }
    nonisolated(unsafe) let output = results
    DispatchQueue.concurrentPerform(iterations: items) { i in output[i] = i }
}

private func timed(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    return (ContinuousClock.now - start).seconds
}

/// Times `body` on a fresh pool, excluding the pool's start and shutdown.
private func timedPool(workers: Int, _ body: (ThreadPool) async throws -> Void) async throws -> Double {
    let pool = try ThreadPool(workers: workers)
    let seconds = try await timed { try await body(pool) }
    await pool.shutdown()
    return seconds
}
