import Glibc
import Spindle
import SpindleMPI
import Testing

/// Starts `mpirun` over this test binary with a driver and 2 servers, which run
/// ``MPIUnderMPIRunTests``, and checks that the whole MPI job passed and left nothing behind.
///
/// `SPINDLE_SKIP_MPIRUN=1` leaves the MPI jobs out: `scripts/test` sets it for the whole suite and
/// then runs these tests on their own, so that an MPI job's five extra processes do not starve the
/// suite's other tests. Under ThreadSanitizer the ranks run the instrumented test binary too.
// Serialized: two MPI jobs at once would starve each other, and a starved server can look lost.
@Suite(
    .serialized,
    .enabled(if: !MPITestCluster.isUnderMPIRun && MPIRun.path != nil && getenv("SPINDLE_SKIP_MPIRUN") == nil),
    .timeLimit(.minutes(10))
)
struct MPIRunTests {
    @Test func theMPIPoolTestsPassUnderMPIRunAndTheJobExitsCleanly() throws {
        try expectMPIPoolTestsPass()
    }

    @Test func theMPIPoolTestsPassWithJobsOnTheRanksOwnThreads() throws {
        try expectMPIPoolTestsPass(mpirunOptions: ["-x", "SPINDLE_MPI_EXECUTION=rankThreads"])
    }

    /// Runs ``MPIUnderMPIRunTests`` in an MPI job of a driver and 2 servers: every test passes,
    /// `mpirun` exits 0, and nothing of the job is left running.
    private func expectMPIPoolTestsPass(mpirunOptions: [String] = []) throws {
        let run = try MPIRun.start(
            ranks: 3,
            mpirunOptions: mpirunOptions,
            arguments: ["--testing-library", "swift-testing", "--filter", "MPIUnderMPIRunTests"]
        )
        let (status, output) = try run.finish(within: 480)
        let tail = MPIRun.excerpt(of: output)
        #expect(status == 0, "mpirun exited with \(status); the end of its output:\n\(tail)")
        #expect(output.contains("passed"), "the end of its output:\n\(tail)")
        #expect(!output.contains("✘"), "a test failed under mpirun:\n\(tail)")
        #expect(run.survivors().isEmpty, "processes of the MPI job still run: \(run.survivors())")
    }

    /// Open MPI 4 ends the whole job when a rank dies; with `--enable-recovery` the others go on,
    /// and the driver must learn of the loss from the silence of the lost rank.
    @Test func aLostServerRankIsReportedUnderEnableRecovery() throws {
        let run = try MPIRun.start(
            ranks: 3,
            mpirunOptions: ["--enable-recovery", "-x", "SPINDLE_MPI_LOSE_RANK=1"],
            arguments: ["--testing-library", "swift-testing", "--filter", "MPILostRankTests"]
        )
        let (status, output) = try run.finish(within: 240)
        let tail = MPIRun.excerpt(of: output)
        #expect(output.contains("✔ Test aServerRankThatDiesIsReportedAndThePoolGoesOn() passed"), "\(tail)")
        #expect(!output.contains("✘"), "a test failed under mpirun:\n\(tail)")
        #expect(run.survivors().isEmpty, "processes of the MPI job still run: \(run.survivors())")
        // What Open MPI makes of a job that lost a rank: recorded, not judged.
        print("mpirun --enable-recovery with a lost rank exited with status \(status)")
    }

    /// A driver whose program ends while its jobs still run: the servers stop them (killing the
    /// worker processes, or cancelling the jobs on the ranks' own threads), and `mpirun` exits 0 at
    /// once instead of after the jobs' ten minutes (the time allowed here is four).
    @Test(arguments: [false, true])
    func aJobLeftRunningWhenTheDriverEndsIsStoppedNotWaitedFor(onRankThreads: Bool) throws {
        let start = ContinuousClock.now
        let run = try MPIRun.start(
            ranks: 3,
            mpirunOptions: ["-x", "SPINDLE_MPI_DRIVER_EXIT=1"]
                + (onRankThreads ? ["-x", "SPINDLE_MPI_EXECUTION=rankThreads"] : []),
            arguments: ["--testing-library", "swift-testing", "--filter", "MPIDriverExitTests"]
        )
        let (status, output) = try run.finish(within: 240)
        let tail = MPIRun.excerpt(of: output)
        #expect(output.contains("✔ Test theDriverEndsWithAJobStillRunningOnEachServer() passed"), "\(tail)")
        #expect(status == 0, "mpirun exited with \(status); the end of its output:\n\(tail)")
        #expect(run.survivors().isEmpty, "processes of the MPI job still run: \(run.survivors())")
        print("an MPI job whose driver left two ten-minute jobs running ended in \(ContinuousClock.now - start)")
    }

    @Test func withoutMPIRunStartSaysWhatToDo() async throws {
        do {
            _ = try await MPIPool.start()
            Issue.record("MPIPool.start() returned without mpirun")
        } catch let error as SpindleError {
            #expect(error.code == .workerStartFailed)
            #expect(error.message.contains("mpirun -n 3"), "\(error.message)")
        }
    }
}

/// `mpirun` over this test binary, in a process group of its own so that a test that fails or
/// times out kills everything it started.
struct MPIRun {
    /// Where `mpirun` is, if installed.
    static let path: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { access($0, X_OK) == 0 }

    let pid: pid_t
    let outputPath: String

    /// Starts `mpirun -n ranks` over this test binary with `arguments`; its output goes to a file.
    static func start(ranks: Int, mpirunOptions: [String] = [], arguments: [String]) throws -> MPIRun {
        let outputPath = "/tmp/spindle-mpirun-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log"
        var command = [path!]
        if getuid() == 0 { command.append("--allow-run-as-root") }
        // Only shared memory and loopback TCP: probing for network hardware costs MPI_Init ~0.2 s.
        command += ["--oversubscribe", "-n", "\(ranks)", "--mca", "pml", "ob1", "--mca", "btl", "self,vader,tcp"]
        command += mpirunOptions
        command += [siblingExecutable("SpindlePackageTests.xctest")] + arguments
        let pid = fork()
        guard pid >= 0 else { throw SpindleError(.systemError, "fork failed") }
        if pid == 0 {
            setpgid(0, 0)
            let fd = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            dup2(fd, 1)
            dup2(fd, 2)
            let argv = command.map { strdup($0) } + [nil]
            execv(argv[0]!, argv)
            _exit(127)
        }
        setpgid(pid, pid)
        return MPIRun(pid: pid, outputPath: outputPath)
    }

    /// Waits for mpirun to exit, at most `seconds`; kills its process group when it does not. Returns
    /// its exit status (or 128 + the signal) and its output.
    func finish(within seconds: Int) throws -> (Int32, String) {
        var status: Int32 = 0
        let deadline = time(nil) + seconds
        while waitpid(pid, &status, WNOHANG) == 0 {
            if time(nil) > deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(50_000)
        }
        // Whatever is left of the job goes with its group.
        kill(-pid, SIGKILL)
        var output: [UInt8] = []
        if let file = fopen(outputPath, "r") {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                output += buffer[..<n]
            }
            fclose(file)
        }
        unlink(outputPath)
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: output, as: UTF8.self))
    }

    /// What a failure message shows of an MPI job's output: the end, and before it every sanitizer
    /// report in full (a report's first lines, which say what raced, are far from the end).
    static func excerpt(of output: String) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        var reports: [Substring] = []
        var inReport = false
        for line in lines {
            if line.contains("WARNING: ThreadSanitizer") { inReport = true }
            if inReport { reports.append(line) }
            if inReport && line.hasSuffix("==================") { inReport = false }
        }
        let end = lines.suffix(60)
        return (reports.isEmpty ? "" : "sanitizer reports:\n" + reports.joined(separator: "\n") + "\nthe end:\n")
            + end.joined(separator: "\n")
    }

    /// Processes still in the job's process group.
    func survivors() -> [String] {
        guard let folder = opendir("/proc") else { return [] }
        defer { closedir(folder) }
        var found: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let other = pid_t(name), getpgid(other) == pid else { continue }
            found.append(name)
        }
        return found
    }
}
