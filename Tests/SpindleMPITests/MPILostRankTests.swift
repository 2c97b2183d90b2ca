import Glibc
import PoolConformance
import Spindle
import SpindleMPI
import Testing

/// Runs only in the MPI job that ``MPIRunTests`` starts with `mpirun --enable-recovery`: a whole
/// server rank is killed, and the driver must report it rather than wait for ever.
@Suite(.serialized, .enabled(if: MPITestCluster.isUnderMPIRun && getenv("SPINDLE_MPI_LOSE_RANK") != nil))
struct MPILostRankTests {
    @Test func aServerRankThatDiesIsReportedAndThePoolGoesOn() async throws {
        var options = MPITestCluster.options
        options.lostRankTimeout = .seconds(2)
        try await MPITestCluster.join(options: options)
        let pool = try MPIPool(options: options)
        // One task held on each rank (each has one worker; the least loaded rank gets the next task).
        let gate = FileGate()
        let held = [pool.submit(WaitForFile(), gate.path), pool.submit(WaitForFile(), gate.path)]
        for future in held { try await waitUntilRunning(future) }
        #expect(pool.workerCount == 2)
        kill(pool.serverProcessIDs[1], SIGKILL)
        let (done, _) = await Future.wait(held, until: .firstCompleted, timeout: .seconds(20))
        #expect(done.count == 1 && done.first === held[1], "the task on the killed rank fails, alone")
        do {
            _ = try await held[1].value
            Issue.record("the task on the killed rank succeeded")
        } catch let error as SpindleError {
            #expect(error.code == .rankLost)
            #expect(error.message.contains("rank 2"), "\(error.message)")
            #expect(error.message.contains("WaitForFile"), "\(error.message)")
        }
        #expect(pool.workerCount == 1, "the lost rank's worker is gone with it")
        gate.open()
        #expect(try await held[0].value)
        #expect(try await pool.map(Square(), 0..<100).collect() == (0..<100).map { $0 * $0 })
        #expect(pool.statistics.workers.count == 2)
        await pool.shutdown()
        // The next pool has the one rank left.
        let next = try MPIPool(options: options)
        #expect(next.workerCount == 1)
        #expect(try await next.submit(Square(), 3).value == 9)
        await next.shutdown()
    }
}
