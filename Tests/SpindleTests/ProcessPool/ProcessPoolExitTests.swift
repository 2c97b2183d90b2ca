import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// Whole-process behaviour of a process pool, each in a child process of its own (an exit test), so
/// that descriptors and child processes can be counted without other tests' pools in the way, and
/// so that a process can die.
@Suite(.timeLimit(.minutes(5)))
struct ProcessPoolExitTests {
    @Test func noZombieOrphanOrDescriptorOutlivesAPool() async {
        await #expect(processExitsWith: .success) {
            let descriptorsBefore = openDescriptors()
            var workerPIDs: Set<Int32> = []
            for mode in [ShutdownMode.graceful, .immediate] {
                let pool = try! makeTestPool()
                for pid in try! await pool.map(WorkerPID(), 0..<50, chunkSize: 1).collect() { workerPIDs.insert(pid) }
                _ = try? await pool.submit(Die(at: 1, by: .segfault), 1).value
                _ = try? await pool.submit(Busy(), 60_000, timeout: .milliseconds(50)).value
                _ = pool.submit(Busy(), 100)
                await pool.shutdown(mode)
            }
            let leftovers = childProcesses()
            // New descriptors are leaks; the runtime may close some of its own meanwhile.
            let leaked = descriptorsOpened(since: descriptorsBefore)
            let survivors = workerPIDs.filter(isAlive)
            guard leftovers.isEmpty, leaked.isEmpty, survivors.isEmpty else { exit(1) }
        }
    }

    @Test func workersDieWithTheirParentEvenByKill() async throws {
        let pidFile = FileGate()
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = pidFile.path as String] in
            let pool = try! makeTestPool()
            var pids: Set<Int32> = []
            while pids.count < 2 {
                for pid in try! await pool.map(WorkerPID(), 0..<20, chunkSize: 1).collect() { pids.insert(pid) }
            }
            // Keep both workers busy, so that they are not reading their sockets: only the
            // parent-death signal can stop them, not the end of the stream.
            let started = [path + ".a", path + ".b"]
            for flag in started { _ = pool.submit(AnnounceThenBlock(), flag) }
            while started.contains(where: { access($0, F_OK) != 0 }) { usleep(1_000) }
            for flag in started { unlink(flag) }
            let text = pids.map(String.init).joined(separator: " ")
            let file = fopen(path, "w")!
            fputs(text, file)
            fclose(file)
            kill(getpid(), SIGKILL)
        }
        let text = try #require(readSmallFile(pidFile.path))
        let pids = text.split(separator: " ").compactMap { Int32($0) }
        #expect(pids.count == 2)
        let deadline = ContinuousClock.now + .seconds(10)
        while pids.contains(where: isAlive) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(!pids.contains(where: isAlive), "workers \(pids) outlived their parent")
    }

    @Test func workerOutputReachesTheParentPrefixedWithTheWorker() async throws {
        let result = await #expect(
            processExitsWith: .success,
            observing: [\.standardOutputContent, \.standardErrorContent]
        ) {
            let pool = try! makeTestPool(workers: 1)
            _ = try! await pool.submit(Talk(), "hello from a job").value
            await pool.shutdown()
        }
        let stdout = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stdout.contains("[worker 0] hello from a job\n"), "stdout: \(stdout)")
        #expect(stderr.contains("[worker 0] warning: hello from a job\n"), "stderr: \(stderr)")
    }

    @Test func aLinePrintedJustBeforeACrashIsNotLost() async {
        let result = await #expect(
            processExitsWith: .success,
            observing: [\.standardOutputContent]
        ) {
            let pool = try! makeTestPool(workers: 1)
            let died = (try? await pool.submit(PrintThenAbort(), "last words").value) == nil
            await pool.shutdown()
            exit(died ? 0 : 1)
        }
        let stdout = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        #expect(stdout.contains("[worker 0] last words\n"), "stdout: \(stdout)")
    }

    @Test func aProgramThatForgotBootstrapGetsAClearError() async {
        await #expect(processExitsWith: .success) {
            let pool = try! makeTestPool { $0.environment["SPINDLE_TEST_WORKER_MODE"] = "forgot-bootstrap" }
            await exitUnlessStartFails(pool, mentioning: "Spindle.bootstrap()")
            await pool.shutdown()
        }
    }

    @Test func aWorkerThatNeverAnswersIsGivenUpOn() async {
        await #expect(processExitsWith: .success) {
            let pool = try! makeTestPool(workers: 1) {
                $0.environment["SPINDLE_TEST_WORKER_MODE"] = "silent"
                $0.handshakeTimeout = .milliseconds(500)
            }
            await exitUnlessStartFails(pool, mentioning: "did not answer")
            await pool.shutdown()
            guard childProcesses().isEmpty else { exit(4) }
        }
    }

    @Test func aProgramThatDropsItsPoolsExitsNormally() async {
        await #expect(processExitsWith: .success) {
            for _ in 0..<5 {
                let pool = try! makeTestPool()
                _ = try! await pool.submit(Square(), 2).value
            }
        }
    }
}

/// Exits with a non-zero status unless `pool`'s first job fails with
/// ``SpindleError/Code/workerStartFailed`` and a message mentioning `text`: for exit tests.
func exitUnlessStartFails(_ pool: ProcessPool, mentioning text: String) async {
    do {
        _ = try await pool.submit(Square(), 2).value
        exit(1)
    } catch let error as SpindleError where error.code == .workerStartFailed && error.message.contains(text) {
        return
    } catch {
        print("unexpected: \(error)")
        exit(2)
    }
}
