import Glibc
import PoolConformance
import Spindle
import SpindleMPI
import Testing

/// The tests that run inside an MPI job (see ``MPIRunTests``, which starts it): the shared
/// conformance suite on an ``MPIPool``, and jobs that crash, exit or are killed on a server rank.
@Suite(.serialized, .enabled(if: MPITestCluster.isUnderMPIRun), .timeLimit(.minutes(5)))
struct MPIUnderMPIRunTests {
    @Test(arguments: PoolConformance<MPIPool>.Check.allCases)
    func conformance(_ check: PoolConformance<MPIPool>.Check) async throws {
        try await MPITestCluster.join()
        try await PoolConformance { _ in try MPIPool(options: MPITestCluster.options) }.run(check)
    }

    // A job that kills its process would kill a rank that runs it on its own threads.
    @Test(.enabled(if: !MPITestCluster.runsOnRankThreads), arguments: [Death.abort, .segfault, .exit3, .sigkill])
    func aJobThatDiesFailsAloneAndThePoolGoesOn(_ death: Death) async throws {
        try await MPITestCluster.withPool { pool in try await dieAndGoOn(death, on: pool) }
    }

    private func dieAndGoOn(_ death: Death, on pool: MPIPool) async throws {
        let before = pool.submit(Square(), 3)
        let dying = pool.submit(Die(at: 0, by: death), 0)
        await #expect(throws: SpindleError.self) { try await dying.value }
        do {
            _ = try await dying.value
        } catch let error as SpindleError {
            #expect(error.code == .workerDied)
            #expect(error.termination == death.expectedTermination)
            #expect(error.message.contains("on rank "), "the error names the rank: \(error.message)")
            #expect(error.message.contains("Die"), "the error names the job: \(error.message)")
        }
        #expect(try await before.value == 9)
        // A chunk whose middle item kills its worker: only that item fails, the others are retried.
        var outputs: [Int] = []
        await #expect(throws: SpindleError.self) {
            for try await y in pool.map(Die(at: 5, by: death), 0..<10, chunkSize: 10) { outputs.append(y) }
        }
        #expect(outputs == [0, 1, 2, 3, 4])
        #expect(try await pool.map(Square(), 0..<100).collect() == (0..<100).map { $0 * $0 })
    }

    @Test func aSharedArrayCannotCrossToAnotherRank() async throws {
        try await MPITestCluster.withPool { pool in
            let array = try SharedArray<Double>(repeating: 1, count: 16)
            await #expect(throws: SpindleError.self) {
                try await pool.submit(SumShared(data: array.readOnly), 0..<16).value
            }
            // Shared memory made on the other rank cannot come back either, and says so.
            let error = await #expect(throws: SpindleError.self) { try await pool.submit(MakeCounting(), 4).value }
            #expect(error?.code == .encodingFailed, "\(String(describing: error))")
            #expect(
                error?.message.contains("carries a SharedArray, which cannot cross to another MPI rank") == true,
                "\(String(describing: error))"
            )
            #expect(try await pool.submit(Square(), 4).value == 16)
        }
    }

    /// With nothing out, the driver's MPI thread sleeps and hears no heartbeat; idle for longer than
    /// the lost-rank timeout, the driver must still have its servers, not give them up for lost.
    /// (The sleep is the scenario: a program busy with its own work between two maps.)
    @Test func aDriverIdleLongerThanTheLostRankTimeoutKeepsItsServers() async throws {
        var options = MPITestCluster.options
        // Short, but not so short that a server starved on a loaded machine looks lost.
        options.lostRankTimeout = .seconds(2)
        try await MPITestCluster.join()
        let pool = try MPIPool(options: options)
        do {
            #expect(try await pool.submit(Square(), 2).value == 4)
            try await Task.sleep(for: .seconds(4))
            #expect(try await pool.submit(Square(), 3).value == 9)
            #expect(pool.workerCount == 2, "no server was given up for lost")
        } catch {
            await pool.shutdown(.immediate)
            throw error
        }
        await pool.shutdown()
    }

    @Test func onlyOnePoolAtATime() async throws {
        let pool = try await MPITestCluster.pool()
        #expect(throws: SpindleError.self) { _ = try MPIPool(options: MPITestCluster.options) }
        await pool.shutdown()
        let next = try MPIPool(options: MPITestCluster.options)
        #expect(try await next.submit(Square(), 5).value == 25)
        #expect(next.workerCount == 2)
        #expect(next.statistics.tasksSubmitted == 1)
        await next.shutdown()
    }
}
