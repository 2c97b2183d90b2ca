import Foundation
import Spindle
import Testing

/// `TimeProfile.measure` inside a process of its own (the workloads' `measure` mode), since the
/// test process runs other tests at the same time and a whole-process figure would count them.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MeasureInProcessTests {
    let workloads = siblingExecutable("SpindleTimeWorkloads")

    @Test func aBusyBlockShowsTheCallingThreadsCPU() async throws {
        let profile = try await measure(["measure", "spin", "--cpu-ms", "300"])
        let thread = try #require(profile.callingThread)
        #expect(thread.total >= 0.3 && thread.total < 0.35, "the calling thread burned 0.3 s: \(thread.total)")
        #expect(profile.cpu.total >= thread.total, "the process includes the thread")
        #expect(profile.command == nil && profile.exit == nil)
        // Every 50 ms over 0.3 s; in the full run under ThreadSanitizer the sampler, slowed with
        // everything else, once took only 4, and so it did alone once, while the other scenarios of
        // its step used a CPU (0.98 CPU-s in 0.83 s): 5 are expected only on a quiet machine.
        let quiet = runningAlone && profile.machine.otherCPU < 0.2 * profile.wall
        #expect(profile.sampling.samples >= (quiet ? 5 : 2), "\(profile)")
        #expect(profile.breakdown.onCPU >= 0.25)
        if profile.machine.otherCPU < 0.2 * profile.wall {
            #expect(profile.verdict.code == .oneCore, "\(profile)")
        }
    }

    @Test func aSleepingBlockIsMostlySleeping() async throws {
        let profile = try await measure(["measure", "sleep", "--ms", "300"])
        #expect(profile.verdict.code == .waiting && profile.verdict.waitingOn == .sleep, "\(profile)")
        #expect((profile.callingThread?.total ?? 1) < 0.01)
    }

    @Test func aThrowingBlockRethrows() async {
        struct Oops: Error {}
        #expect(throws: Oops.self) { try TimeProfile.measure { () throws(Oops) in throw Oops() } }
        await #expect(throws: Oops.self) { try await TimeProfile.measure { () async throws in throw Oops() } }
    }

    /// Runs the workload with `arguments`, which measures itself, and reads back its profile.
    private func measure(_ arguments: [String]) async throws -> TimeProfile {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try await CommandTimer.run([workloads] + arguments + ["--output", output.path])
        #expect(run.exit?.code == 0)
        return try JSONDecoder().decode(TimeProfile.self, from: Data(contentsOf: output))
    }
}
