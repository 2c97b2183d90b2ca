import Glibc
import PoolConformance
import Spindle
import SpindleMPI
import Testing

/// Runs only in the MPI job that ``MPIRunTests`` starts with `SPINDLE_MPI_DRIVER_EXIT=1`: the driver
/// ends with a job still running on each server, which the servers must stop rather than wait for.
@Suite(.enabled(if: MPITestCluster.isUnderMPIRun && getenv("SPINDLE_MPI_DRIVER_EXIT") != nil))
struct MPIDriverExitTests {
    /// Leaves a ten-minute job running on each server rank and returns; the test process then
    /// ends, and ``MPIRunTests`` checks that `mpirun` exits 0 soon after, not ten minutes later.
    @Test func theDriverEndsWithAJobStillRunningOnEachServer() async throws {
        let pool = try await MPITestCluster.pool()
        let held = [pool.submit(Hold(), 600), pool.submit(Hold(), 600)]
        for future in held { try await waitUntilRunning(future) }
        #expect(held.allSatisfy { $0.state == .running })
    }
}
