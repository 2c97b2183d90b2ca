import Foundation
import Spindle

/// Echoes an array of doubles: the job that moves 16 MiB to a worker and back.
struct EchoJob: Job {
    func run(_ values: [Double]) async throws -> [Double] { values }
}

/// `spindle bench --only process`: ProcessPool against Python's process pools, side by side.
///
/// Each figure is the best of `rounds`, except latencies (medians of many round trips).
struct ProcessBench {
    var rounds: Int
    var perJobItems = 50_000
    var autoItems = 100_000
    var roundTrips = 5_000
    var runPython: Bool
    /// Which parts to run: jobs, map, latency, transfer, timeout, start, cpu.
    var parts: Set<String> = ProcessBench.allParts

    static let allParts: Set<String> = ["jobs", "map", "latency", "transfer", "timeout", "start", "cpu"]

    /// The figures of one run, for the table and the Python ratios; `nil` for a part not run.
    struct Figures {
        var perJobRate: Double?
        var autoRate: Double?
        var roundTrip: (p50: Double, p99: Double)?
        var startMilliseconds: Double?
        var timeoutOverrunMilliseconds: Double?
        var transferMiBPerSecond: Double?
        var cpu: (one: Double, two: Double)?
    }

    func run(note: (String) -> Void) async throws -> [[String]] {
        var figures = Figures()
        note("ProcessPool: \(perJobItems) one-message jobs, \(autoItems) auto-chunked items, \(roundTrips) round trips")
        let pool = try ProcessPool(workers: 2)
        _ = try await pool.submit(NoOpJob(), 0).value
        if parts.contains("jobs") {
            var best = Double.infinity
            for _ in 0..<rounds {
                best = min(
                    best,
                    try await timed { for try await _ in pool.map(NoOpJob(), 0..<perJobItems, chunkSize: 1) {} }
                )
            }
            figures.perJobRate = Double(perJobItems) / best
        }
        if parts.contains("map") {
            var best = Double.infinity
            for _ in 0..<rounds {
                best = min(best, try await timed { for try await _ in pool.map(NoOpJob(), 0..<autoItems) {} })
            }
            figures.autoRate = Double(autoItems) / best
        }
        if parts.contains("latency") {
            var latencies: [Double] = []
            latencies.reserveCapacity(roundTrips)
            for i in 0..<roundTrips {
                let start = ContinuousClock.now
                _ = try await pool.submit(NoOpJob(), i).value
                latencies.append((ContinuousClock.now - start).seconds * 1e6)
            }
            figures.roundTrip = percentiles(latencies)
        }
        if parts.contains("transfer") {
            note("ProcessPool: 16 MiB [Double] to a job and back, \(rounds) rounds")
            let values = [Double](repeating: 1.5, count: 2 << 20)
            var transfer = Double.infinity
            for _ in 0..<rounds {
                transfer = min(transfer, try await timed { _ = try await pool.submit(EchoJob(), values).value })
            }
            figures.transferMiBPerSecond = 16 / transfer
        }
        if parts.contains("timeout") {
            // A job that would compute for a minute, with a 100 ms timeout: how long past the
            // deadline its future fails (its worker is killed and replaced meanwhile).
            note("ProcessPool: a runaway job with a 100 ms timeout, \(rounds + 2) times")
            var overruns: [Double] = []
            for _ in 0..<(rounds + 2) {
                let seconds = await timed {
                    _ = try? await pool.submit(SpinJob(iterations: Int.max), 1, timeout: .milliseconds(100)).value
                }
                overruns.append(seconds * 1000 - 100)
                _ = try? await pool.submit(NoOpJob(), 0).value  // the replacement is up
            }
            figures.timeoutOverrunMilliseconds = percentiles(overruns).p50
        }
        await pool.shutdown()

        if parts.contains("start") {
            note("ProcessPool: new 2-worker pool to first result, \(rounds + 2) times")
            var starts: [Double] = []
            for _ in 0..<(rounds + 2) {
                starts.append(
                    try await timed {
                        let fresh = try ProcessPool(workers: 2)
                        _ = try await fresh.submit(NoOpJob(), 1).value
                        await fresh.shutdown(.immediate)
                    } * 1000
                )
            }
            figures.startMilliseconds = percentiles(starts).p50
        }
        if parts.contains("cpu") {
            note("ProcessPool: 16 CPU-bound jobs of 0.1 s on 1 and 2 workers")
            let iterations = SpinJob.calibrate(for: .milliseconds(100))
            var best = [1: Double.infinity, 2: Double.infinity]
            for _ in 0..<max(1, rounds - 1) {
                for workers in [1, 2] {
                    let cpuPool = try ProcessPool(workers: workers)
                    _ = try await cpuPool.submit(NoOpJob(), 0).value
                    let seconds = try await timed {
                        for try await _ in cpuPool.map(SpinJob(iterations: iterations), 0..<16, chunkSize: 1) {}
                    }
                    await cpuPool.shutdown()
                    best[workers] = min(best[workers]!, seconds)
                }
            }
            figures.cpu = (best[1]!, best[2]!)
        }
        // Python's pools are measured only when a part they compare with ran.
        let compared: Set<String> = ["jobs", "map", "latency", "start", "transfer"]
        let python = runPython && !parts.isDisjoint(with: compared) ? PythonProcessBaseline.run(note: note) : nil
        return rows(figures, python: python)
    }

    /// One row per part that ran, then Python's figures beside the parts they compare with.
    private func rows(_ f: Figures, python: Result<PythonProcessBaseline.Results, CLIError>?) -> [[String]] {
        let format = Verdict.format
        var lines: [[String]] = []
        if let jobs = f.perJobRate {
            lines.append(["process: one message per job", "ProcessPool, 2 workers, jobs/s", rate(jobs), "", "≥ 100 k"])
        }
        if let auto = f.autoRate {
            lines.append(["process: auto chunks", "ProcessPool.map, 100k items/s", rate(auto), "", "≥ mp.Pool.map"])
        }
        if let trip = f.roundTrip {
            lines.append([
                "process: round trip µs", "ProcessPool p50 / p99", "\(format(trip.p50)) / \(format(trip.p99))", "",
                "p50 ≤ 40",
            ])
        }
        if let late = f.timeoutOverrunMilliseconds {
            lines.append(["process: late job", "fails after its 100 ms timeout + ms", format(late), "", "≤ 100"])
        }
        if let start = f.startMilliseconds {
            lines.append(["process: start", "new 2-worker pool → first result, ms", format(start), "", "≤ 15"])
        }
        if let transfer = f.transferMiBPerSecond {
            lines.append(["process: 16 MiB there and back", "ProcessPool MiB/s", format(transfer), "", "≥ 1024"])
        }
        if let cpu = f.cpu {
            lines.append([
                "process: CPU 16 × 0.1 s", "1 → 2 workers, s", "\(format(cpu.one)) → \(format(cpu.two))",
                "×" + format(cpu.one / cpu.two), "≥ ×1.9",
            ])
        }
        switch python {
        case nil: break
        case .failure(let error): lines.append(["Python process pools", "skipped", error.description, "", ""])
        case .success(let py):
            if let jobs = f.perJobRate {
                lines.append([
                    "", "mp.Pool, chunksize 1, jobs/s", rate(py.mpPerJobRate), "×" + format(jobs / py.mpPerJobRate), "",
                ])
                lines.append([
                    "", "ProcessPoolExecutor jobs/s", rate(py.ppePerJobRate), "×" + format(jobs / py.ppePerJobRate), "",
                ])
            }
            if let auto = f.autoRate {
                lines.append([
                    "", "mp.Pool.map, default chunks", rate(py.mpAutoRate), "×" + format(auto / py.mpAutoRate), "≥ ×1",
                ])
            }
            if let trip = f.roundTrip {
                lines.append([
                    "", "mp.Pool / PPE round trip p50 µs",
                    "\(format(py.mpRoundTripP50)) / \(format(py.ppeRoundTripP50))",
                    "×" + format(py.mpRoundTripP50 / trip.p50), "",
                ])
            }
            if f.startMilliseconds != nil {
                lines.append([
                    "", "mp.Pool start, fork / spawn ms",
                    "\(format(py.forkStartMilliseconds)) / \(format(py.spawnStartMilliseconds))", "", "",
                ])
            }
            if let transfer = f.transferMiBPerSecond {
                lines.append([
                    "", "PPE 16 MiB there and back MiB/s", format(py.ppeTransferMiBPerSecond),
                    "×" + format(transfer / py.ppeTransferMiBPerSecond), "",
                ])
            }
        }
        return lines
    }
}

/// Python's `multiprocessing.Pool` and `concurrent.futures.ProcessPoolExecutor`, measured in the
/// same run as ProcessPool.
enum PythonProcessBaseline {
    struct Results: Decodable {
        var mpPerJobRate: Double
        var ppePerJobRate: Double
        var mpAutoRate: Double
        var mpRoundTripP50: Double
        var ppeRoundTripP50: Double
        var forkStartMilliseconds: Double
        var spawnStartMilliseconds: Double
        var ppeTransferMiBPerSecond: Double
    }

    static let script = #"""
        import json, multiprocessing as mp, time
        from concurrent.futures import ProcessPoolExecutor

        def noop(x):
            return x

        def best(f, rounds=2):
            b = None
            for _ in range(rounds):
                t = time.perf_counter(); f(); dt = time.perf_counter() - t
                b = dt if b is None else min(b, dt)
            return b

        def p50(samples):
            samples.sort(); return samples[len(samples) // 2]

        if __name__ == "__main__":
            out = {}
            with mp.get_context("fork").Pool(2) as pool:
                n = 20000
                out["mpPerJobRate"] = n / best(lambda: pool.map(noop, range(n), chunksize=1))
                n = 100000
                out["mpAutoRate"] = n / best(lambda: pool.map(noop, range(n)))
                lat = []
                for i in range(2000):
                    t = time.perf_counter_ns(); pool.apply(noop, (i,)); lat.append((time.perf_counter_ns() - t) / 1000)
                out["mpRoundTripP50"] = p50(lat)
            with ProcessPoolExecutor(2) as ex:
                list(ex.map(noop, range(100)))
                n = 5000
                out["ppePerJobRate"] = n / best(lambda: list(ex.map(noop, range(n))))
                lat = []
                for i in range(1000):
                    t = time.perf_counter_ns(); ex.submit(noop, i).result(); lat.append((time.perf_counter_ns() - t) / 1000)
                out["ppeRoundTripP50"] = p50(lat)
                try:
                    import numpy
                    data = numpy.ones(2 << 20)
                except ImportError:
                    import array
                    data = array.array("d", [1.5]) * (2 << 20)
                out["ppeTransferMiBPerSecond"] = 16 / best(lambda: ex.submit(noop, data).result(), 3)
            for method, key in (("fork", "forkStartMilliseconds"), ("spawn", "spawnStartMilliseconds")):
                samples = []
                for _ in range(3):
                    t = time.perf_counter()
                    with mp.get_context(method).Pool(2) as pool:
                        pool.apply(noop, (1,))
                        samples.append((time.perf_counter() - t) * 1000)
                out[key] = p50(samples)
            print(json.dumps(out))
        """#

    /// Runs the script (from a file: its pools that spawn need an importable main).
    static func run(note: (String) -> Void) -> Result<Results, CLIError> {
        note("Python multiprocessing.Pool and ProcessPoolExecutor")
        return PythonBaseline.runScriptFile(script, decoding: Results.self)
    }
}

func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    return (ContinuousClock.now - start).seconds
}

func percentiles(_ samples: [Double]) -> (p50: Double, p99: Double) {
    let sorted = samples.sorted()
    return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
}

func rate(_ perSecond: Double) -> String {
    perSecond >= 1e6 ? "\(Verdict.format(perSecond / 1e6)) M" : "\(Verdict.format(perSecond / 1e3)) k"
}
