import Glibc
import PoolConformance
import Spindle
import Testing

/// Spins on the CPU for `microseconds`, so that a stage is CPU-bound whatever the machine's load.
func spin(microseconds: Int) {
    let deadline = ContinuousClock.now + .microseconds(microseconds)
    var x = 0
    while ContinuousClock.now < deadline { x &+= 1 }
    withExtendedLifetime(x) {}
}

/// Whether the tests run alone on the machine: `SPINDLE_TIMING_ALONE`, which `scripts/test` sets
/// for its second phase.
let runningAlone = getenv("SPINDLE_TIMING_ALONE").map { String(cString: $0) } == "1"

/// Runs a pipeline (made afresh by `run`) until its report names `expected` as the limit, at most
/// three times, and returns that report.
///
/// Alone on the machine it must. In the full, parallel run (under ThreadSanitizer above all) other
/// tests hold the CPUs and the cooperative threads that the source and the consuming loop need,
/// for seconds at a time, so what limits the pipeline is then the machine: a report that names
/// something else is truthful, and all that run checks is that the verdict names what the numbers
/// show.
func report(
    limitedBy expected: PipelineReport.Limit,
    _ run: () async throws -> PipelineReport
) async throws -> PipelineReport? {
    var last: PipelineReport?
    for _ in 0..<3 {
        let report = try await run()
        if report.limit == expected { return report }
        last = report
    }
    let report = try #require(last)
    if runningAlone {
        Issue.record("the limit is \(report.limit), not \(expected):\n\(report)")
    } else if case .stage(let index) = report.limit {
        #expect(report.verdict.contains("Stage `\(report.stages[index].name)` limits the pipeline"), "\(report)")
    }
    return nil
}

/// The report's verdict on pipelines that really have the bottleneck it names.
@Suite(.timeLimit(.minutes(5)))
struct PipelineReportTests {
    @Test func aCPUBoundStageIsNamedAsTheLimit() async throws {
        let threads = try ThreadPool(workers: 2)
        defer { Task { await threads.shutdown() } }
        let found = try await report(limitedBy: .stage(1)) {
            let pipeline = Pipeline(0..<200)
                .stage(on: threads, name: "quick") { $0 }
                .stage(on: threads, name: "crunch", concurrency: 1) { x in
                    spin(microseconds: 1_000)
                    return x
                }
                .stage(on: threads, name: "after") { $0 }
            _ = try await pipeline.collect()
            return try #require(pipeline.report)
        }
        guard let report = found else { return }
        #expect(report.verdict.contains("Stage `crunch` limits the pipeline"), "\(report)")
        if runningAlone {
            // The stage after it waits for items more than the limiting stage does.
            #expect(report.stages[2].inputWaitShare > report.stages[1].inputWaitShare, "\(report)")
        }
    }

    @Test func aStageThatSleepsIsNamedAsWaitingNotComputing() async throws {
        let threads = try ThreadPool(workers: 2)
        defer { Task { await threads.shutdown() } }
        let found = try await report(limitedBy: .stage(0)) {
            let pipeline = Pipeline(0..<100)
                .stage(on: threads, name: "read", concurrency: 1) { x in
                    usleep(2_000)
                    return x
                }
                .stage(on: threads, name: "sum") { $0 }
            _ = try await pipeline.collect()
            return try #require(pipeline.report)
        }
        guard let report = found else { return }
        let cpuPerBusy = try #require(report.stages[0].cpuPerBusy)
        #expect(cpuPerBusy < 0.35, "\(report)")
        #expect(report.verdict.contains("mostly waiting, not computing"), "\(report)")
        #expect(report.verdict.contains("More concurrency overlaps the waits: try 2 workers"), "\(report)")
    }

    @Test func aSlowConsumerIsNamedAsTheLimit() async throws {
        let threads = try ThreadPool(workers: 2)
        defer { Task { await threads.shutdown() } }
        let found = try await report(limitedBy: .consumer) {
            let pipeline = Pipeline(0..<100, options: PipelineOptions(buffer: 4)).stage(on: threads, name: "quick") {
                $0
            }
            for try await _ in pipeline { try await Task.sleep(for: .milliseconds(2)) }
            return try #require(pipeline.report)
        }
        guard let report = found else { return }
        #expect(report.verdict.contains("The loop consuming the results limits the pipeline"), "\(report)")
    }

    @Test func aSlowSourceIsNamedAsTheLimit() async throws {
        let threads = try ThreadPool(workers: 2)
        defer { Task { await threads.shutdown() } }
        let found = try await report(limitedBy: .source) {
            let slowSource = AsyncStream<Int> { continuation in
                let producer = Task {
                    for x in 0..<100 {
                        try? await Task.sleep(for: .milliseconds(2))
                        continuation.yield(x)
                    }
                    continuation.finish()
                }
                continuation.onTermination = { _ in producer.cancel() }
            }
            let pipeline = Pipeline(slowSource).stage(on: threads, name: "quick") { $0 }
            #expect(try await pipeline.collect() == Array(0..<100))
            return try #require(pipeline.report)
        }
        guard let report = found else { return }
        #expect(report.verdict.hasPrefix("The source limits the pipeline"), "\(report)")
    }

    @Test func theTableShowsEveryStageAndTheVerdict() async throws {
        let threads = try ThreadPool(workers: 2)
        let processes = try makeTestPool()
        let pipeline = Pipeline(0..<50)
            .stage(on: threads, name: "read") { $0 }
            .stage(Square(), on: processes, name: "decode")
        _ = try await pipeline.collect()
        let text = try #require(pipeline.report).description
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("pipeline: 50 results in "), "\(text)")
        #expect(lines[0].contains("finished"), "\(text)")
        #expect(lines[1].contains("stage") && lines[1].contains("CPU/busy") && lines[1].contains("for room"), "\(text)")
        #expect(lines[2].hasPrefix("  source "), "\(text)")
        #expect(
            lines[3].hasPrefix("  read ") && lines[3].contains("2 threads") && lines[3].contains("50 → 50"),
            "\(text)"
        )
        #expect(lines[4].hasPrefix("  decode ") && lines[4].contains("2 processes"), "\(text)")
        #expect(lines[5].hasPrefix("  consumer "), "\(text)")
        #expect(lines[6].hasPrefix("verdict: "), "\(text)")
        await processes.shutdown()
        await threads.shutdown()
    }
}
