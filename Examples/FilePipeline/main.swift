// The pipeline example: read a directory of files with threads (I/O-bound), analyse each in worker
// processes (CPU-bound), write a summary per file with threads (I/O-bound), and compare the wall
// time with a plain sequential loop and with one pool doing all three steps.
//
//     swift run -c release file-pipeline [--files 64] [--dir /tmp/spindle-pipeline-example] [--rounds 1]
//                                        [--latency MS]
//
// The input files are generated on the first run. Every read goes to the disk (the file's cached
// pages are dropped first) and every summary is synced to the disk, so the I/O is real. A fast
// local disk makes it short, though; `--latency 10` adds 10 ms to each read and each write, as
// storage across a network would.

import Glibc
import Spindle

// In a worker process this serves jobs and never returns; in the program it returns at once.
try await Spindle.bootstrap()

let settings = try Settings(CommandLine.arguments.dropFirst())
let cpus = AvailableCPUs.count
let paths = try InputFiles.prepare(in: settings.directory + "/input", count: settings.files)
let readStep = ReadFile(latency: settings.latency)
let analyse = Analyse()
let latencyNote =
    settings.latency == 0 ? "" : "; each read and write waits \(settings.latency) ms more, as remote storage would"
print("file-pipeline: \(paths.count) files of 256 KiB in \(settings.directory)/input, \(cpus) CPUs\(latencyNote)\n")
fflush(nil)  // the progress lines go to standard error: show this first

/// Runs `body` `settings.rounds` times and returns the shortest wall time, in seconds.
func bestOf(_ name: String, _ body: (Store) async throws -> Int) async throws -> Double {
    var best = Double.infinity
    for _ in 0..<settings.rounds {
        let output = try InputFiles.emptyDirectory(settings.directory + "/output-" + name)
        let start = ContinuousClock.now
        let written = try await body(Store(directory: output, latency: settings.latency))
        let elapsed = ContinuousClock.now - start
        precondition(written == paths.count, "\(name) wrote \(written) summaries, not \(paths.count)")
        best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    return best
}

// 1. The pipeline: each step on the pool that suits it, all three at once.
var lastReport = ""
let pipelineTime = try await bestOf("pipeline") { store in
    let readers = try ThreadPool(workers: 8, name: "read")
    let analysers = try ProcessPool(workers: cpus)
    let writers = try ThreadPool(workers: 4, name: "store")
    let pipeline = Pipeline(paths)
        .stage(readStep, on: readers, name: "read")
        .stage(analyse, on: analysers, name: "analyse")
        .stage(store, on: writers, name: "store")
        .showingProgress()
    var written = 0
    for try await _ in pipeline { written += 1 }
    lastReport = pipeline.report.map(String.init(describing:)) ?? ""
    await analysers.shutdown()
    await readers.shutdown()
    await writers.shutdown()
    return written
}
print("\n" + lastReport + "\n")

// 2. A plain loop: one step after the other, one file after the other.
let sequentialTime = try await bestOf("sequential") { store in
    for path in paths { _ = try await store.run(analyse.run(readStep.run(path))) }
    return paths.count
}

// 3. One pool doing all three steps for each file, as `executor.map` would.
let wholeJob = { (store: Store) in ReadAnalyseStore(read: readStep, analyse: analyse, store: store) }
let threadPoolTime = try await bestOf("threads") { store in
    let pool = try ThreadPool(workers: cpus)
    let written = try await pool.map(wholeJob(store), paths, chunkSize: 1).collect().count
    await pool.shutdown()
    return written
}
let processPoolTime = try await bestOf("processes") { store in
    let pool = try ProcessPool(workers: cpus)
    let written = try await pool.map(wholeJob(store), paths, chunkSize: 1).collect().count
    await pool.shutdown()
    return written
}
let bigThreadPoolTime = try await bestOf("threads-8") { store in
    let pool = try ThreadPool(workers: 8)
    let written = try await pool.map(wholeJob(store), paths, chunkSize: 1).collect().count
    await pool.shutdown()
    return written
}

let rows: [(String, Double)] = [
    ("sequential loop", sequentialTime),
    ("one ThreadPool of \(cpus) doing all three steps", threadPoolTime),
    ("one ProcessPool of \(cpus) doing all three steps", processPoolTime),
    ("one ThreadPool of 8 doing all three steps", bigThreadPoolTime),
    ("pipeline: read on 8 threads → analyse on \(cpus) processes → store on 4 threads", pipelineTime),
]
let width = rows.map(\.0.count).max() ?? 0
print("way".padding(width) + "   wall     speed-up" + (settings.rounds > 1 ? "  (best of \(settings.rounds))" : ""))
for (name, seconds) in rows {
    let wall = "\(Int((seconds * 1000).rounded())) ms"
    let speedUp = sequentialTime / seconds
    print(name.padding(width) + "   " + wall.padding(8) + " ×" + "\((speedUp * 100).rounded() / 100)")
}
