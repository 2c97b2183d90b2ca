// The MPIPool benchmarks, run under mpirun by `scripts/mpi-bench` (a driver and 2 servers):
//   mpirun -n 3 .build/release/SpindleMPIBench [roundtrip|jobs|auto|bytes|idle|all]
//   mpirun -n 3 -x SPINDLE_MPI_EXECUTION=rankThreads ...   (jobs on the server ranks' own threads)
// Rank 0 prints one line per figure; the other ranks serve.
import Glibc
import Spindle
import SpindleMPI

struct NoOp: Job {
    func run(_ x: Int) async throws -> Int { x }
}

struct Echo: Job {
    func run(_ values: [Double]) async throws -> [Double] { values }
}

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func wallClockNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CPU seconds a process and its children (threads included) have used, from /proc.
func cpuSeconds(ofProcessTree pid: Int32) -> Double {
    func stat(_ pid: String) -> Double {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard fgets(&buffer, 4096, file) != nil else { return 0 }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let close = line.lastIndex(of: ")") else { return 0 }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15; here, after the name, at 11 and 12.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    var total = stat("\(pid)")
    if let file = fopen("/proc/\(pid)/task/\(pid)/children", "r") {
        var buffer = [CChar](repeating: 0, count: 4096)
        if fgets(&buffer, 4096, file) != nil {
            let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            for child in line.split(separator: " ") { total += stat(String(child)) }
        }
        fclose(file)
    }
    return total
}

let mode = CommandLine.arguments.dropFirst().first ?? "all"
let launchedAt = getenv("SPINDLE_LAUNCH_NS").flatMap { UInt64(String(cString: $0)) }
// SPINDLE_MPI_EXECUTION=rankThreads runs the jobs on the server ranks' own threads.
let onRankThreads = getenv("SPINDLE_MPI_EXECUTION").map { String(cString: $0) } == "rankThreads"
let pool = try await MPIPool.start(options: .init(execution: onRankThreads ? .rankThreads : .workerProcesses))

func figure(_ name: String, _ value: String) {
    print("\(name): \(value)")
}

/// `value` with `digits` digits after the point.
func fixed(_ value: Double, _ digits: Int) -> String {
    let scale = (0..<digits).reduce(1.0) { result, _ in result * 10 }
    let rounded = (value * scale).rounded() / scale
    return "\(rounded)"
}

// Off the main actor, as a server program's work would be: on the main actor each result would
// first hop to the main thread (measured: 18-19 k one-message jobs/s there, 28-31 k off it).
nonisolated func measure(_ pool: MPIPool, mode: String, launchedAt: UInt64?) async throws {
    if let launchedAt {
        _ = try await pool.submit(NoOp(), 1).value
        let elapsed = Double(wallClockNanoseconds() - launchedAt) / 1e6
        figure("launch to first result", "\(Int(elapsed.rounded())) ms")
    }
    figure("servers", pool.serverDescriptions.joined(separator: "; "))

    if mode == "roundtrip" || mode == "all" {
        for _ in 0..<200 { _ = try await pool.submit(NoOp(), 1).value }
        var samples: [UInt64] = []
        for i in 0..<5_000 {
            let start = now()
            _ = try await pool.submit(NoOp(), i).value
            samples.append(now() - start)
        }
        samples.sort()
        figure(
            "round trip of one job",
            "p50 \(Double(samples[samples.count / 2]) / 1_000) µs, p90 \(Double(samples[samples.count * 9 / 10]) / 1_000) µs"
        )
    }
    if mode == "jobs" || mode == "all" {
        let count = 20_000
        let start = now()
        var seen = 0
        for try await _ in pool.map(NoOp(), 0..<count, chunkSize: 1) { seen += 1 }
        let seconds = Double(now() - start) / 1e9
        figure("one message per job", "\(Int(Double(seen) / seconds)) jobs/s")
    }
    if mode == "auto" || mode == "all" {
        let count = 100_000
        let start = now()
        var seen = 0
        for try await _ in pool.map(NoOp(), 0..<count) { seen += 1 }
        let seconds = Double(now() - start) / 1e9
        figure("automatic chunking, 100,000 items", "\(fixed(Double(seen) / seconds / 1e6, 2)) M items/s")
    }
    if mode == "bytes" || mode == "all" {
        let values = [Double](repeating: 1.5, count: 1 << 21)  // 16 MiB
        _ = try await pool.submit(Echo(), values).value
        var best = Double.infinity
        for _ in 0..<5 {
            let start = now()
            let back = try await pool.submit(Echo(), values).value
            precondition(back.count == values.count)
            best = min(best, Double(now() - start) / 1e9)
        }
        let rate = 1.0 / 64 / best
        figure("16 MiB [Double] to a job and back", "\(fixed(rate, 2)) GiB/s (best of 5, \(fixed(best * 1e3, 1)) ms)")
    }
    if mode == "idle" || mode == "all" {
        let pids = [getpid()] + pool.serverProcessIDs
        let before = pids.map { cpuSeconds(ofProcessTree: $0) }
        let start = now()
        let seconds = getenv("SPINDLE_IDLE_SECONDS").flatMap { Int(String(cString: $0)) } ?? 1
        try await Task.sleep(for: .seconds(seconds))
        let wall = Double(now() - start) / 1e9
        let after = pids.map { cpuSeconds(ofProcessTree: $0) }
        var parts: [String] = []
        for (rank, (first, last)) in zip(before, after).enumerated() {
            parts.append("rank \(rank) \(fixed((last - first) / wall, 3))")
        }
        figure("idle for \(seconds) s, CPU s per wall s", parts.joined(separator: ", "))
    }
}

try await measure(pool, mode: mode, launchedAt: launchedAt)
await pool.shutdown()
