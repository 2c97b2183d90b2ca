import ArgumentParser
import Foundation
import Spindle

/// `spindle compare`: the same jobs on 1, 2, 4, … workers, and what the numbers say.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run CPU-bound and I/O-bound jobs on 1..N workers and explain the timings.",
        discussion: """
            Each workload runs the same tasks on a ThreadPool and a ProcessPool of every listed size and \
            prints wall, user and sys time (worker processes included), CPU seconds per wall second (≈1: one \
            busy core; <1: waiting; ≈N: N cores saturated) and the speedup over one worker, then one line of \
            plain-words conclusion per workload and pool, and what threads against processes shows. Each \
            run includes starting and stopping its pool, which is part of what processes cost.
            """
    )

    @Option(name: .long, help: "Worker counts to try, comma-separated.", transform: parseList)
    var workers: [Int] = [1, 2, 4, 8, 16]

    @Option(name: .long, help: "Workloads to run, comma-separated: cpu, sleep, read.", transform: parseWorkloads)
    var workloads: [Workload] = Workload.allCases

    @Option(
        name: .long,
        help: "Pools to compare, comma-separated: threads (ThreadPool), processes (ProcessPool).",
        transform: parseBackends
    )
    var backends: [Backend] = Backend.allCases

    @Option(name: .customLong("worker-executable"), help: .hidden)
    var workerExecutable: String?

    @Option(name: .long, help: "Tasks per run.")
    var tasks: Int = 32

    @Option(name: .customLong("task-ms"), help: "Size of one cpu or sleep task, in milliseconds (on one core).")
    var taskMilliseconds: Int = 40

    @Option(name: .customLong("read-mib"), help: "Size of each file the read workload reads, in MiB.")
    var readMebibytes: Int = 4

    @Option(name: .customLong("read-dir"), help: "Where the read workload writes its files (a real disk, not tmpfs).")
    var readDirectory: String = "/var/tmp"

    @Flag(name: .long, help: "Print the results as JSON on stdout instead of a table.")
    var json = false

    @Option(name: .long, help: "Draw wall time against workers as an SVG chart into this file.")
    var plot: String?

    func validate() throws {
        if let plot { try checkWritable(plot) }
        guard !workers.isEmpty, workers.allSatisfy({ (1...4096).contains($0) }) else {
            throw ValidationError("--workers needs counts from 1 to 4096, such as 1,2,4")
        }
        guard !workloads.isEmpty else { throw ValidationError("--workloads needs at least one of cpu, sleep, read") }
        guard !backends.isEmpty else { throw ValidationError("--backends needs threads, processes or both") }
        if backends.contains(.processes), workers.contains(where: { $0 > 1024 }) {
            throw ValidationError("a ProcessPool takes at most 1024 workers")
        }
        guard (1...1_000_000).contains(tasks) else { throw ValidationError("--tasks must be 1 to 1000000") }
        guard (1...60_000).contains(taskMilliseconds) else { throw ValidationError("--task-ms must be 1 to 60000") }
        guard (1...1024).contains(readMebibytes) else { throw ValidationError("--read-mib must be 1 to 1024") }
        if workloads.contains(.read), tasks * readMebibytes > 16 * 1024 {
            throw ValidationError(
                "the read workload would write \(tasks * readMebibytes) MiB (--tasks × --read-mib); keep it under 16 GiB"
            )
        }
    }

    func run() async throws {
        let cpus = AvailableCPUs.count
        let rows = try await runComparison()
        let conclusions = conclusions(for: rows, cpus: cpus)
        print(
            json
                ? try jsonReport(rows: rows, conclusions: conclusions, cpus: cpus)
                : report(rows: rows, conclusions: conclusions, cpus: cpus)
        )
        if let plot {
            try writeAtomically(ComparePlot(rows: rows, cpus: cpus).chart().render(), to: plot)
        }
    }

    /// The pools asked for, each once, in the order given.
    var distinctBackends: [Backend] {
        var seen = Set<Backend>()
        return backends.filter { seen.insert($0).inserted }
    }

    /// The workloads asked for, each once, in the order given.
    var distinctWorkloads: [Workload] {
        var seen = Set<Workload>()
        return workloads.filter { seen.insert($0).inserted }
    }

    /// Runs every workload on every worker count and returns the measured rows.
    func runComparison() async throws -> [ComparisonRow] {
        let workerCounts = Array(Set(workers)).sorted()
        var progress = ProgressReporter(total: distinctWorkloads.count * distinctBackends.count * workerCounts.count)
        let fixture =
            distinctWorkloads.contains(.read)
            ? try ReadFixture(count: tasks, size: readMebibytes << 20, parent: readDirectory) : nil
        defer { fixture?.remove() }
        // Calibrating takes a few hundred milliseconds of one core: only when the cpu workload runs.
        let spinIterations =
            distinctWorkloads.contains(.cpu) ? SpinJob.calibrate(for: .milliseconds(taskMilliseconds)) : 0

        var rows: [ComparisonRow] = []
        for workload in distinctWorkloads {
            for backend in distinctBackends {
                var baseline: Double?
                for count in workerCounts {
                    let label = "\(workload.rawValue) on \(backend.rawValue) × \(count)"
                    progress.starting(label)
                    let usage = try await measure(
                        workload,
                        on: backend,
                        workers: count,
                        spinIterations: spinIterations,
                        fixture: fixture
                    )
                    let wall = usage.wall.seconds
                    // Speedups are over the smallest worker count tried (normally 1) of the same pool.
                    if baseline == nil { baseline = wall }
                    let speedup = (baseline ?? wall) / max(wall, 1e-9)
                    rows.append(
                        ComparisonRow(
                            workload: workload,
                            backend: backend,
                            workers: count,
                            tasks: tasks,
                            usage: usage,
                            speedup: speedup
                        )
                    )
                    progress.finished(label, result: "\(Verdict.format(wall)) s")
                }
            }
        }
        return rows
    }

    /// One sentence per workload and pool, then one per workload comparing the pools.
    func conclusions(for rows: [ComparisonRow], cpus: Int) -> [String] {
        distinctWorkloads.flatMap { workload in
            let runs = rows.filter { $0.workload == workload }
            var sentences = distinctBackends.map { backend in
                let own = runs.filter { $0.backend == backend }
                let sentence = Verdict.conclude(own, cpus: cpus)
                return distinctBackends.count > 1 ? "[\(backend.rawValue)] " + sentence : sentence
            }
            if let lesson = Verdict.threadsAgainstProcesses(runs) { sentences.append(lesson) }
            return sentences
        }
    }

    /// Runs one workload's tasks on a fresh pool of `count` workers and measures the whole process,
    /// worker processes included, from starting the pool to its shutdown.
    private func measure(
        _ workload: Workload,
        on backend: Backend,
        workers count: Int,
        spinIterations: Int,
        fixture: ReadFixture?
    ) async throws -> ResourceUsage {
        fixture?.dropFromPageCache()
        let (_, usage) = try await ResourceUsage.measure {
            switch backend {
            case .threads:
                let pool = try ThreadPool(workers: count)
                try await run(workload, on: pool, spinIterations: spinIterations, fixture: fixture)
                await pool.shutdown()
            case .processes:
                let pool = try ProcessPool(workers: count, options: .init(executable: workerExecutable))
                try await run(workload, on: pool, spinIterations: spinIterations, fixture: fixture)
                await pool.shutdown()
            }
        }
        return usage
    }

    private func run(_ workload: Workload, on pool: some Pool, spinIterations: Int, fixture: ReadFixture?) async throws
    {
        // One item per task: these tasks are long, and this is about spreading them over workers.
        switch workload {
        case .cpu:
            for try await _ in pool.map(SpinJob(iterations: spinIterations), 0..<tasks, chunkSize: 1) {}
        case .sleep:
            for try await _ in pool.map(SleepJob(milliseconds: taskMilliseconds), 0..<tasks, chunkSize: 1) {}
        case .read:
            for try await _ in pool.map(ReadFileJob(), fixture?.paths ?? [], chunkSize: 1) {}
        }
    }

    func report(rows: [ComparisonRow], conclusions: [String], cpus: Int) -> String {
        var table = TextTable(
            headers: ["workload", "pool", "workers", "wall s", "user s", "sys s", "CPU/wall", "speedup"],
            leftAligned: [0, 1]
        )
        for row in rows {
            table.add([
                row.workload.rawValue, row.backend.rawValue, String(row.workers),
                Verdict.format(row.usage.wall.seconds),
                Verdict.format(row.usage.user.seconds), Verdict.format(row.usage.system.seconds),
                Verdict.format(row.usage.cpuPerWall), "×" + Verdict.format(row.speedup),
            ])
        }
        let sizes = distinctWorkloads.map { workload -> String in
            switch workload {
            case .cpu: "cpu \(taskMilliseconds) ms of computing"
            case .sleep: "sleep \(taskMilliseconds) ms"
            case .read: "read a \(readMebibytes) MiB file"
            }
        }
        return """
            spindle compare: \(distinctBackends.map(\.poolName).joined(separator: " and ")), \(cpus) usable CPU\(cpus == 1 ? "" : "s"), \(tasks) tasks per run \
            (\(sizes.joined(separator: "; ")))

            \(table.render())

            \(conclusions.joined(separator: "\n"))
            """
    }

    func jsonReport(rows: [ComparisonRow], conclusions: [String], cpus: Int) throws -> String {
        struct Output: Encodable {
            var cpus: Int
            var runs: [Run]
            var conclusions: [String]
        }
        struct Run: Encodable {
            var workload: String, backend: String, workers: Int, tasks: Int
            var wallSeconds: Double, userSeconds: Double, systemSeconds: Double
            var cpuPerWall: Double, speedup: Double
            var voluntaryContextSwitches: Int, involuntaryContextSwitches: Int
        }
        let runs = rows.map { row in
            Run(
                workload: row.workload.rawValue,
                backend: row.backend.rawValue,
                workers: row.workers,
                tasks: row.tasks,
                wallSeconds: row.usage.wall.seconds,
                userSeconds: row.usage.user.seconds,
                systemSeconds: row.usage.system.seconds,
                cpuPerWall: row.usage.cpuPerWall,
                speedup: row.speedup,
                voluntaryContextSwitches: row.usage.voluntaryContextSwitches,
                involuntaryContextSwitches: row.usage.involuntaryContextSwitches
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(Output(cpus: cpus, runs: runs, conclusions: conclusions))
        return String(decoding: data, as: UTF8.self)
    }
}

/// Parses "1,2,4" into integers.
func parseList(_ text: String) throws -> [Int] {
    try text.split(separator: ",").map { part in
        guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("'\(part)' is not a whole number")
        }
        return value
    }
}

/// Parses "threads,processes" into backends.
func parseBackends(_ text: String) throws -> [Backend] {
    try text.split(separator: ",").map { part in
        guard let backend = Backend(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw ValidationError("unknown pool '\(part)': choose from threads, processes")
        }
        return backend
    }
}

/// Parses "cpu,sleep" into workloads.
func parseWorkloads(_ text: String) throws -> [Workload] {
    try text.split(separator: ",").map { part in
        guard let workload = Workload(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw ValidationError("unknown workload '\(part)': choose from cpu, sleep, read")
        }
        return workload
    }
}
