import Foundation
import PoolConformance
import Spindle
import Testing

/// The README's quick tour, run as written, so that the README cannot drift from the API.
@Suite(.timeLimit(.minutes(3)))
struct ReadmeTourTests {
    @Test func theTourRunsAsDocumented() async throws {
        try await Spindle.bootstrap()
        let pool = try ThreadPool()

        var total = 0
        for try await y in pool.map(Square(), 1...1_000_000) { total &+= y }
        #expect(total == (1...1_000_000).reduce(0) { $0 &+ $1 &* $1 })

        let f = pool.submit(Square(offset: 1), 7)
        #expect(try await f.value == 50)

        let sizes = pool.map(["/etc/hostname", "/etc/os-release"]) { path in
            try String(contentsOfFile: path, encoding: .utf8).utf8.count
        }
        #expect(try await sizes.collect().allSatisfy { $0 > 0 })

        let slow = pool.submit(timeout: .milliseconds(50)) { try await Task.sleep(for: .seconds(10)) }
        var late = false
        do { try await slow.value } catch let error as SpindleError where error.code == .timedOut { late = true }
        #expect(late)

        let futures = (1...8).map { pool.submit(Square(), $0) }
        var seen: [Int] = []
        for try await done in Future.asCompleted(futures) { seen.append(try await done.value) }
        #expect(seen.sorted() == (1...8).map { $0 * $0 })
        let (finished, pending) = await Future.wait(futures, until: .firstFailure, timeout: .seconds(5))
        #expect(finished.count == 8 && pending.isEmpty)

        let ranOnPool = await withTaskExecutorPreference(pool) { () async -> Bool in
            currentThreadName().hasPrefix("spindle-")
        }
        #expect(ranOnPool)

        await pool.shutdown()
    }

    @Test func aMapKeepsItsPoolAlive() async throws {
        func squares() throws -> MapResults<Int> {
            try ThreadPool(workers: 2).map(Square(), 0..<50_000)  // the pool itself is dropped here
        }
        let outputs = try await squares().collect()
        #expect(outputs == (0..<50_000).map { $0 * $0 })
    }

    /// The README's "Sharing data between processes", in worker processes.
    @Test func theSharingTourRunsAsDocumented() async throws {
        let pool = try makeTestPool(workers: 2)
        let data = try SharedArray<Double>(repeating: 1, count: 1 << 21)
        data[0] = 2
        #expect(try await pool.submit(SumShared(data: data.readOnly), 0..<data.count).value == 2_097_153)
        let progress = try ProcessQueue<Int>(capacity: 1_000)
        try await progress.put(7)
        #expect(try await progress.get() == 7)
        let done = try SharedAtomic(0)
        #expect(done.add(1) == 1)
        let lock = try ProcessLock()
        #expect(try await lock.withLock { 5 } == 5)
        await pool.shutdown()
    }

    /// The README's "Pipelines", with test jobs in place of the example's.
    @Test func thePipelineTourRunsAsDocumented() async throws {
        let paths = ["/etc/hostname", "/etc/os-release", "/etc/passwd"]
        let io = try ThreadPool(workers: 8), cpu = try makeTestPool(workers: 2)
        let pipeline = Pipeline(paths)
            .stage(ReadSize(), on: io, name: "read")
            .stage(Square(), on: cpu, name: "analyse")
            .stage(on: io, name: "store", concurrency: 4) { $0 + 1 }
            .showingProgress()
        var written: [Int] = []
        for try await result in pipeline { written.append(result) }
        #expect(written.count == 3 && written.allSatisfy { $0 > 1 })
        let report = try #require(pipeline.report)
        #expect(report.stages.map(\.name) == ["read", "analyse", "store"])
        #expect(report.description.contains("verdict: "))
        await cpu.shutdown()
        await io.shutdown()
    }
}
