import Foundation
import Spindle

/// Sums a range of a shared array: the job of the shared-memory benchmark.
struct SharedSumJob: Job {
    var data: ReadOnlySharedArray<Double>
    func run(_ range: Range<Int>) async throws -> Double {
        data.withUnsafeBufferPointer { sum($0[range]) }
    }
}

/// The sum that both sides of the benchmark run, so that the ratio measures only what the pool adds.
func sum(_ values: UnsafeBufferPointer<Double>.SubSequence) -> Double {
    values.reduce(0, +)
}

/// `spindle bench --only shared-array`: a job that sums a 16 MiB and a 128 MiB `SharedArray` in a
/// worker process, against summing it in this process, and against Python's ProcessPoolExecutor
/// sending a NumPy array of the same size to a worker that sums it.
///
/// The rounds interleave the two Spindle sides, so that a noisy neighbour slows both alike; each
/// figure is the median of its rounds. The first round trip of each array maps it in the worker and
/// is not counted: a worker keeps an array mapped for the next job.
struct SharedArrayBench {
    var rounds: Int
    var runPython: Bool

    static let sizesMiB = [16, 128]

    func run(note: (String) -> Void) async throws -> [[String]] {
        let pool = try ProcessPool(workers: 1)
        var lines: [[String]] = []
        var spindleMedians: [Int: Double] = [:]
        for mib in Self.sizesMiB {
            note("SharedArray<Double> of \(mib) MiB summed in a worker vs in-process, \(rounds * 4) rounds")
            let data = try SharedArray<Double>(repeating: 1, count: mib << 17)
            let job = SharedSumJob(data: data.readOnly)
            let whole = 0..<data.count
            _ = try await pool.submit(job, whole).value
            var inProcess: [Double] = []
            var roundTrip: [Double] = []
            var total = 0.0
            for _ in 0..<rounds * 4 {
                inProcess.append(await timed { total += data.withUnsafeBufferPointer { sum($0[...]) } })
                roundTrip.append(try await timed { total += try await pool.submit(job, whole).value })
            }
            precondition(total == Double(rounds * 8 * data.count), "a sum came out wrong: \(total)")
            let local = percentiles(inProcess).p50, trip = percentiles(roundTrip).p50
            spindleMedians[mib] = trip
            lines.append([
                "shared: \(mib) MiB array summed", "in-process / ProcessPool round trip, ms",
                "\(Verdict.format(local * 1e3)) / \(Verdict.format(trip * 1e3))",
                "×" + Verdict.format(trip / local), "≤ ×1.2",
            ])
        }
        await pool.shutdown()
        guard runPython else { return lines }
        switch PythonSharedBaseline.run(sizesMiB: Self.sizesMiB, rounds: rounds, note: note) {
        case .failure(let error):
            lines.append(["Python PPE + NumPy", "skipped", error.description, "", ""])
        case .success(let python):
            for mib in Self.sizesMiB {
                guard let seconds = python["\(mib)"], let trip = spindleMedians[mib] else { continue }
                lines.append([
                    "", "PPE sums a \(mib) MiB NumPy array, ms", Verdict.format(seconds * 1e3),
                    "×" + Verdict.format(seconds / trip), "≥ ×20",
                ])
            }
        }
        return lines
    }
}

/// Python's `ProcessPoolExecutor` summing a NumPy array in a worker, measured in the same run: the
/// array is pickled to the worker every time, as Python has no other way to pass it to a pool's job.
enum PythonSharedBaseline {
    static let script = #"""
        import json, sys, time
        from concurrent.futures import ProcessPoolExecutor
        import numpy

        def total(a):
            return float(a.sum())

        if __name__ == "__main__":
            sizes = [int(s) for s in sys.argv[1].split(",")]
            rounds = int(sys.argv[2])
            out = {}
            with ProcessPoolExecutor(1) as ex:
                ex.submit(total, numpy.ones(1)).result()
                for mib in sizes:
                    data = numpy.ones(mib << 17)
                    samples = []
                    for _ in range(rounds):
                        t = time.perf_counter()
                        ex.submit(total, data).result()
                        samples.append(time.perf_counter() - t)
                    samples.sort()
                    out[str(mib)] = samples[len(samples) // 2]
            print(json.dumps(out))
        """#

    /// The median seconds per round trip, by size in MiB.
    static func run(sizesMiB: [Int], rounds: Int, note: (String) -> Void) -> Result<[String: Double], CLIError> {
        note(
            "Python ProcessPoolExecutor summing NumPy arrays of \(sizesMiB.map(String.init).joined(separator: ", ")) MiB"
        )
        return PythonBaseline.runScriptFile(
            script,
            arguments: [sizesMiB.map(String.init).joined(separator: ","), String(max(rounds, 3))],
            decoding: [String: Double].self
        )
    }
}
