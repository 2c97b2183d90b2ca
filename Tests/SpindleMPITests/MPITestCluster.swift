import Glibc
import PoolConformance
import Spindle
import SpindleMPI

/// The MPI job the tests of `MPIUnderMPIRunTests` run in: this same test binary, started by
/// `mpirun` once per rank. Rank 0 runs the tests as the driver; on the other ranks the first test
/// to join turns the process into a server, which exits when the driver's test run ends.
enum MPITestCluster {
    /// Whether this test process is a rank of an MPI job.
    static var isUnderMPIRun: Bool { getenv("OMPI_COMM_WORLD_SIZE") != nil }

    /// What every rank starts with: the test worker executable (the test binary's `main` is
    /// Swift Testing's), one worker process per server rank.
    static var options: MPIPool.Options {
        var processPool = ProcessPool.Options(executable: siblingExecutable("SpindleTestWorker"))
        // As the ProcessPool tests have it: no crash reports, and under ThreadSanitizer workers die
        // of their signals rather than of the sanitizer's report and exit status.
        processPool.environment = [
            "SWIFT_BACKTRACE": "enable=no",
            "TSAN_OPTIONS":
                "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigtrap=0:handle_sigfpe=0",
        ]
        // As for the ProcessPool tests: workers start slowly under ThreadSanitizer.
        processPool.handshakeTimeout = .seconds(60)
        return MPIPool.Options(
            execution: runsOnRankThreads ? .rankThreads : .workerProcesses,
            workersPerRank: 1,
            processPool: processPool,
            startTimeout: .seconds(60)
        )
    }

    /// Whether this MPI job runs its jobs on the server ranks' own threads
    /// (`SPINDLE_MPI_EXECUTION=rankThreads`), not in worker processes.
    static var runsOnRankThreads: Bool {
        getenv("SPINDLE_MPI_EXECUTION").map { String(cString: $0) } == "rankThreads"
    }

    /// Joins the MPI job, once; a server rank never returns from here.
    static func join(options: MPIPool.Options = options) async throws {
        if MPIPool.rank != nil { return }
        let pool = try await MPIPool.start(options: options)
        await pool.shutdown()
    }

    /// A new pool over the servers, on the driver.
    static func pool() async throws -> MPIPool {
        try await join()
        return try MPIPool(options: options)
    }

    /// Runs `body` with a new pool, and shuts the pool down after it, also when it throws.
    static func withPool(_ body: (MPIPool) async throws -> Void) async throws {
        let pool = try await pool()
        do {
            try await body(pool)
        } catch {
            await pool.shutdown(.immediate)
            throw error
        }
        await pool.shutdown(.immediate)
    }
}

/// The executable `name` in the folder of this test binary.
func siblingExecutable(_ name: String) -> String {
    var path = [UInt8](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &path, path.count - 1)
    let me = String(decoding: path[..<max(0, count)], as: UTF8.self)
    return me[..<(me.lastIndex(of: "/") ?? me.startIndex)] + "/" + name
}
