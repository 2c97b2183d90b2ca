import Foundation
import Spindle
import Testing

/// `CommandTimer` on workloads with a known answer: each must get the right verdict, and CPU totals
/// that match what the workload's own `getrusage` says.
///
/// The machine is shared (other tests run at the same time), so a scenario that found other work
/// taking the CPU runs again, up to three times; if the machine never was quiet, the verdict must
/// still be the truthful one — starved by others, with others really using the CPU — and the
/// scenario's own checks are skipped. `scripts/test` runs this suite again on its own, where the
/// machine is quiet and every scenario must get its own verdict.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CommandTimerTests {
    let workloads = siblingExecutable("SpindleTimeWorkloads")

    @Test func oneBusyThreadIsCPUBoundOnOneCore() async throws {
        guard let (profile, own) = try await measure(["spin", "--threads", "1", "--cpu-ms", "400"], expect: .oneCore)
        else {
            return
        }
        try expectTotals(profile, match: own)
        #expect(abs(profile.cpu.perWall - 1) < 0.2, "one busy core: \(profile.cpu.perWall)")
    }

    @Test(.enabled(if: AvailableCPUs.count >= 2, "needs two CPUs"))
    func twoBusyThreadsOnTwoCPUsAreParallel() async throws {
        guard let (profile, own) = try await measure(["spin", "--threads", "2", "--cpu-ms", "400"], expect: .parallel)
        else {
            return
        }
        try expectTotals(profile, match: own)
        #expect(profile.verdict.text.hasPrefix("parallel: "), "\(profile.verdict.text)")
        #expect(profile.breakdown.waits[.join, default: 0] > 0.2, "the main thread's join is set apart")
    }

    @Test func moreBusyThreadsThanCPUsAreStarved() async throws {
        let threads = AvailableCPUs.count * 2
        guard
            let (profile, own) = try await measure(
                ["spin", "--threads", String(threads), "--cpu-ms", "250"],
                expect: .starvedByOwnThreads
            )
        else { return }
        try expectTotals(profile, match: own)
        if ProcessInfo.processInfo.environment["SPINDLE_TIMING_ALONE"] == "1" {
            #expect(profile.verdict.text.contains("your \(threads) threads share \(AvailableCPUs.count) CPUs"))
        } else {
            // The count is the most threads a sample caught runnable at once; in the full run under
            // ThreadSanitizer, the sampler, slowed with everything else, once caught 3 of the 4.
            let text = profile.verdict.text
            #expect(text.contains("threads share \(AvailableCPUs.count) CPUs"), "\(text)")
        }
        #expect(profile.breakdown.runQueue > 0.3 * profile.breakdown.onCPU, "\(profile.breakdown)")
    }

    @Test func aProcessSharingItsCPUWithAnotherIsStarvedByIt() async throws {
        // The competitor runs outside the measured tree, on the same CPU as the measured process.
        let competitor = Process()
        competitor.executableURL = URL(fileURLWithPath: workloads)
        competitor.arguments = ["spin", "--cpu-ms", "4000", "--pin", "0"]
        try competitor.run()
        defer {
            kill(competitor.processIdentifier, SIGKILL)
            competitor.waitUntilExit()
        }
        guard
            let (profile, own) = try await measure(
                ["spin", "--cpu-ms", "300", "--pin", "0"],
                expect: .starvedByOthers,
                quietMachineNeeded: false
            )
        else { return }
        try expectTotals(profile, match: own)
        // The verdict names the larger taker: the hypervisor, when it stole more than the competitor
        // used (it happens on this virtual machine).
        let taker =
            profile.machine.steal > profile.machine.otherCPU ? "the hypervisor (steal) took" : "another process took"
        #expect(profile.verdict.text.contains(taker), "\(profile.verdict.text)")
        #expect(profile.machine.otherCPU > 0.2 * profile.wall)
    }

    @Test func aSleepIsMostlySleeping() async throws {
        guard let (profile, _) = try await measure(["sleep", "--ms", "400"], expect: .waiting) else { return }
        #expect(profile.verdict.waitingOn == .sleep)
        #expect(profile.verdict.text.hasPrefix("mostly sleeping"))
        // Starting the process is its CPU: 0.1 CPU-s per wall-s under ThreadSanitizer, once.
        #expect(profile.cpu.perWall < (underThreadSanitizer ? 0.2 : 0.1), "\(profile)")
    }

    @Test func threadsFightingOverOneMutexWaitOnALock() async throws {
        guard
            let (profile, own) = try await measure(
                ["mutex", "--threads", "2", "--ms", "500"],
                expect: .serializedOnLock
            )
        else { return }
        try expectTotals(profile, match: own)
        #expect(profile.breakdown.waits[.lock, default: 0] > 0.1, "\(profile.breakdown.waits)")
    }

    @Test func aDirectDiskReadWaitsOnDisk() async throws {
        let folder = try temporaryDiskFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/data.bin"
        let writer = try await CommandTimer.run([workloads, "write-file", "--path", file, "--mib", "128"])
        #expect(writer.exit?.code == 0)
        guard
            let (profile, _) = try await measure(["direct-read", "--path", file, "--passes", "8"], expect: .diskBound)
        else { return }
        #expect(
            profile.resources.readBytes >= 8 * 128 << 20,
            "read_bytes counts every pass: \(profile.resources.readBytes)"
        )
        #expect(profile.verdict.caveats.contains { $0.contains("estimated from samples") })
    }

    @Test func aShellRunningHundredsOfShortProcessesGetsExactCPU() async throws {
        // `times` prints the shell's own and its children's user and system time. bash's comes from
        // getrusage in milliseconds; dash's (/bin/sh) from times(2) in 10 ms ticks, four of them,
        // which alone can be 40 ms off.
        // The 300 children live about a millisecond each, so the 50 ms sampler may miss every one of
        // them on a loaded machine; the last child lives through several samples.
        let script =
            "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; /bin/sleep 0.3; times > \"$0\""
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("times-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let profile = try await CommandTimer.run(["/bin/bash", "-c", script, report])
        let times = try String(contentsOfFile: report, encoding: .utf8)
        let reported = shellTimes(times)
        #expect(
            abs(profile.cpu.total - reported) <= 0.01,
            "spindle \(profile.cpu.total) s, the shell's times \(reported) s"
        )
        #expect(profile.population.processesSeen >= 2, "the shell and at least the sleeping child")
        #expect(profile.breakdown.unsampledCPU > 0, "most of those processes are too short to sample")
    }

    @Test func anOrphanThatKeepsWorkingIsCountedWhenWaitedFor() async throws {
        let profile = try await CommandTimer.run(
            [workloads, "orphan", "--cpu-ms", "400"],
            options: .init(waitsForOrphans: true)
        )
        #expect(profile.exit?.code == 0)
        #expect(profile.cpu.total >= 0.4, "the grandchild's 0.4 s of CPU is in the total: \(profile.cpu.total)")
        #expect(profile.wall >= 0.4)
        #expect(profile.population.stillRunningCount == 0)
    }

    @Test func exitStatusAndSignalComeBack() async throws {
        let exited = try await CommandTimer.run(["/bin/sh", "-c", "exit 3"])
        #expect(exited.exit?.code == 3 && exited.exit?.shellStatus == 3)
        let killed = try await CommandTimer.run(["/bin/sh", "-c", "kill -TERM $$"])
        #expect(killed.exit?.signal == SIGTERM && killed.exit?.shellStatus == 128 + SIGTERM)
        #expect(killed.description.contains("killed by SIGTERM"))
    }

    @Test func aMissingOrUnrunnableCommandIsAClearError() async throws {
        await #expect(throws: SpindleError.self) { try await CommandTimer.run([]) }
        do {
            _ = try await CommandTimer.run(["spindle-no-such-command-\(UInt32.random(in: 0...UInt32.max))"])
            Issue.record("a missing command must throw")
        } catch {
            #expect(error.code == .commandNotFound && error.message.contains("command not found"))
        }
        let folder = try temporaryDiskFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = folder + "/not-executable.sh"
        try "echo hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        do {
            _ = try await CommandTimer.run([script])
            Issue.record("a file without execute permission must throw")
        } catch {
            #expect(error.code == .commandNotRunnable, "\(error)")
        }
    }

    // MARK: - Helpers

    /// Runs a workload until a run gets `expected` on a quiet machine (at most three tries), and
    /// returns the profile with the workload's own CPU seconds.
    private func measure(
        _ arguments: [String],
        expect expected: TimeVerdict.Code,
        quietMachineNeeded: Bool = true
    ) async throws -> (TimeProfile, Double)? {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("rusage-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        // SPINDLE_TIMING_ALONE (set by scripts/test): nothing else runs, so there is no excuse.
        let alone = ProcessInfo.processInfo.environment["SPINDLE_TIMING_ALONE"] == "1"
        var last: TimeProfile?
        for _ in 0..<3 {
            let profile = try await CommandTimer.run([workloads] + arguments + ["--report", report])
            last = profile
            #expect(profile.exit?.code == 0, "\(arguments) failed: \(profile)")
            if profile.verdict.code == expected { return (profile, try ownCPU(report)) }
            // Other work on the machine, or, alone, any miss: the states between exact totals are
            // estimated from samples, and a sampler slowed (as under ThreadSanitizer) can draw an
            // unlucky few. Try again. In the full run a retry would only add load, so the checks
            // below make do.
            let disturbed =
                profile.machine.otherCPU / max(profile.wall, 1e-9) >= 0.2
                || hypervisorTookTheCPU(profile) || profile.verdict.code == .tooShort
                || alone
            if !(quietMachineNeeded && disturbed) { break }
        }
        let profile = try #require(last)
        func expectExactTotals() throws {
            #expect(profile.cpu.total >= (try ownCPU(report)) - 0.001, "the totals are exact even so")
        }
        if quietMachineNeeded && hypervisorTookTheCPU(profile) {
            // The hypervisor took CPU from this virtual machine in the last try too (steal: 0.24 s
            // of a 0.54 s scenario, once), which no thread's counters show and no test can prevent,
            // even alone: the machine was not quiet. The totals must hold even so.
            print(
                "\(arguments): the hypervisor took \(profile.machine.steal) s (steal) in \(profile.wall) s; verdict not judged"
            )
            try expectExactTotals()
            return nil
        }
        if (!alone || underThreadSanitizer) && profile.verdict.code == .tooShort {
            // A loaded machine (or a sanitizer, even alone: under ThreadSanitizer one sample costs
            // about as much as the 2 % of a CPU the sampler allows itself) slows the sampler, which
            // backs off: too few samples is then the truthful answer.
            #expect(profile.sampling.samples < 3, "\(profile)")
            return nil
        }
        if quietMachineNeeded && !alone && profile.verdict.code == .starvedByOthers {
            // Never quiet: the verdict must at least say so truthfully.
            #expect(profile.machine.otherCPU + profile.machine.steal >= 0.2 * profile.wall, "\(profile)")
            try expectExactTotals()
            return nil
        }
        if !alone && profile.sampling.samples < 8 {
            // A sampler slowed this much (a loaded machine under a sanitizer) sees too few states
            // to name the wait; the alone run checks the verdict. The totals must hold even so.
            try expectExactTotals()
            return nil
        }
        Issue.record("\(arguments): expected \(expected), got \(profile.verdict.code)\n\(profile)")
        return nil
    }

    /// Whether the hypervisor took 5 % of the wall time or more from this virtual machine (steal).
    private func hypervisorTookTheCPU(_ profile: TimeProfile) -> Bool {
        profile.machine.steal >= 0.05 * profile.wall
    }

    /// The CPU seconds a workload's own getrusage counted (itself and its reaped children).
    private func ownCPU(_ report: String) throws -> Double {
        let fields = try String(contentsOfFile: report, encoding: .utf8).split(separator: " ")
        let micros = fields.compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(micros.count == 2)
        return Double(micros[0] + micros[1]) / 1e6
    }

    /// The exact total is the workload's own figure plus what it costs to exit: never less, and
    /// at most a few milliseconds more.
    private func expectTotals(_ profile: TimeProfile, match own: Double) throws {
        #expect(profile.cpu.total >= own - 0.001, "spindle \(profile.cpu.total) s < the workload's own \(own) s")
        #expect(profile.cpu.total <= own + 0.02, "spindle \(profile.cpu.total) s ≫ the workload's own \(own) s")
        #expect(abs(profile.cpu.user + profile.cpu.system - profile.cpu.total) < 1e-9)
    }

    /// Sums the four "XmY.ZZZs" figures that `times` prints.
    private func shellTimes(_ text: String) -> Double {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { field -> Double? in
            guard let m = field.firstIndex(of: "m"), field.hasSuffix("s"),
                let minutes = Double(field[..<m]),
                let seconds = Double(field[field.index(after: m)..<field.index(before: field.endIndex)])
            else { return nil }
            return minutes * 60 + seconds
        }.reduce(0, +)
    }

    /// A folder on a real disk (O_DIRECT does not work on tmpfs).
    private func temporaryDiskFolder() throws -> String {
        let base = FileManager.default.currentDirectoryPath + "/.build/spindle-time-tests"
        let folder = base + "/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}
