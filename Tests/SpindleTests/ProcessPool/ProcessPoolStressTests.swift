import Glibc
import PoolConformance
@testable import Spindle
import Testing

/// Many jobs, many deaths of every kind: nothing lost, nothing duplicated, every error names its
/// cause, and the pool is whole afterwards. Run in a child process so that what is left over
/// (processes, descriptors) can be counted.
@Suite(.timeLimit(.minutes(5)))
struct ProcessPoolStressTests {
    /// 10,000 jobs, or `SPINDLE_STRESS_JOBS` (a multiple of 20; CI under ThreadSanitizer runs fewer).
    @Test func tenThousandJobsWithFivePercentWorkerDeaths() async {
        let report = FileGate()
        await #expect(processExitsWith: .success) { [path = report.path as String] in
            let descriptorsBefore = openDescriptors()
            let pool = try! makeTestPool(workers: 2) { $0.forwardsOutput = false }
            let jobs = getenv("SPINDLE_STRESS_JOBS").flatMap { Int(String(cString: $0)) } ?? 10_000
            let futures = (0..<jobs).map { pool.submit(Chaos(), $0) }
            var problems: [String] = []
            var values = 0
            var errors = 0
            for (input, future) in futures.enumerated() {
                switch await future.result {
                case .success(let value):
                    values += 1
                    if value != input || Chaos.death(for: input) != nil { problems.append("\(input) gave \(value)") }
                case .failure(let error as SpindleError):
                    errors += 1
                    guard let death = Chaos.death(for: input) else {
                        problems.append("\(input) failed: \(error)")
                        continue
                    }
                    let termination = death.expectedTermination
                    let matches =
                        termination.map { error.termination == $0 }
                        ?? (error.termination == .signalled(SIGTRAP) || error.termination == .signalled(SIGILL))
                    if error.code != .workerDied || !matches || !error.message.contains("Chaos") {
                        problems.append("\(input) (\(death)) failed with \(error)")
                    }
                case .failure(let error):
                    problems.append("\(input) failed with a foreign error \(error)")
                }
            }
            if values != jobs / 20 * 19 || errors != jobs / 20 {
                problems.append("\(values) values and \(errors) errors from \(jobs) jobs")
            }
            if (try? await pool.submit(Square(), 12).value) != 144 {
                problems.append("the pool is unusable afterwards")
            }
            await pool.shutdown()
            if !childProcesses().isEmpty { problems.append("children left: \(childProcesses())") }
            // New descriptors are leaks; the runtime may close some of its own meanwhile.
            let leaked = descriptorsOpened(since: descriptorsBefore)
            if !leaked.isEmpty {
                problems.append("descriptors left open: \(leaked)")
            }
            if !problems.isEmpty {
                let file = fopen(path, "w")!
                fputs(problems.prefix(20).joined(separator: "\n"), file)
                fclose(file)
                exit(1)
            }
        }
        if let problems = readSmallFile(report.path) { Issue.record("\(problems)") }
    }
}
