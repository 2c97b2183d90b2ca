import Foundation
import Spindle
@testable import SpindleCLI
import Testing

/// `spindle compare` end to end, on workloads small enough for a test.
@Suite(.timeLimit(.minutes(5)))
struct CompareCommandTests {
    @Test func runsEveryWorkloadOnEveryWorkerCount() async throws {
        let folder = try temporaryFolder("spindle-compare-test")
        defer { rmdir(folder) }
        let command = try CompareCommand.parse([
            "--workers", "2,1,2", "--workloads", "sleep,read,cpu,sleep", "--tasks", "4", "--task-ms", "2",
            "--read-mib", "1", "--read-dir", folder, "--backends", "threads",
        ])
        let rows = try await command.runComparison()
        #expect(rows.map(\.workload) == [.sleep, .sleep, .read, .read, .cpu, .cpu], "each workload once, in order")
        #expect(rows.map(\.workers) == [1, 2, 1, 2, 1, 2], "each worker count once, ascending")
        #expect(rows.allSatisfy { $0.usage.wall > .zero && $0.speedup > 0 })
        #expect(rows.filter { $0.workers == 1 }.allSatisfy { $0.speedup == 1 }, "speedups are over the smallest count")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "the read fixture is removed")

        let conclusions = command.conclusions(for: rows, cpus: 2)
        #expect(conclusions.count == 3)
        #expect(
            conclusions[0].hasPrefix("sleep:") && conclusions[1].hasPrefix("read:") && conclusions[2].hasPrefix("cpu:")
        )

        let text = command.report(rows: rows, conclusions: conclusions, cpus: 2)
        #expect(text.contains("workload  pool     workers  wall s"))
        #expect(text.components(separatedBy: "\n").filter { $0.hasPrefix("sleep ") }.count == 2)

        let json = try command.jsonReport(rows: rows, conclusions: conclusions, cpus: 2)
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let runs = decoded?["runs"] as? [[String: Any]]
        #expect(runs?.count == 6)
        #expect(runs?.first?["workload"] as? String == "sleep")
        #expect(runs?.first?["cpuPerWall"] is Double)
        #expect((decoded?["conclusions"] as? [String])?.count == 3)
    }

    @Test func comparesThreadsWithProcesses() async throws {
        let command = try CompareCommand.parse([
            "--workers", "1,2", "--workloads", "cpu", "--tasks", "4", "--task-ms", "5",
            "--worker-executable", siblingExecutable("spindle"),
        ])
        let rows = try await command.runComparison()
        #expect(rows.map(\.backend) == [.threads, .threads, .processes, .processes])
        #expect(rows.allSatisfy { $0.usage.wall > .zero && $0.usage.cpu > .zero })
        let conclusions = command.conclusions(for: rows, cpus: 2)
        #expect(conclusions.count == 3)
        #expect(conclusions[0].hasPrefix("[threads] cpu:") && conclusions[1].hasPrefix("[processes] cpu:"))
        #expect(conclusions[2].contains("threads ×") && conclusions[2].contains("isolation"), "\(conclusions[2])")
        let text = command.report(rows: rows, conclusions: conclusions, cpus: 2)
        #expect(text.contains("ThreadPool and ProcessPool"))
    }

    @Test func readWorkloadNeedsAWritableFolder() async throws {
        let command = try CompareCommand.parse([
            "--workloads", "read", "--tasks", "1", "--read-mib", "1", "--read-dir", "/nonexistent/spindle",
        ])
        await #expect(throws: CLIError.self) { try await command.runComparison() }
    }
}
