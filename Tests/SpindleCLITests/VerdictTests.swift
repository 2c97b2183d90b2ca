@testable import SpindleCLI
import Spindle
import Testing

@Suite struct VerdictTests {
    private func row(_ workload: Workload, _ workers: Int, wall: Double, cpu: Double, speedup: Double) -> ComparisonRow
    {
        ComparisonRow(
            workload: workload,
            backend: .threads,
            workers: workers,
            tasks: 32,
            usage: ResourceUsage(
                wall: .milliseconds(Int64(wall * 1000)),
                user: .milliseconds(Int64(cpu * 1000)),
                system: .zero
            ),
            speedup: speedup
        )
    }

    @Test func cpuBoundWorkPlateausAtTheCores() {
        let rows = [
            row(.cpu, 1, wall: 1.6, cpu: 1.6, speedup: 1),
            row(.cpu, 2, wall: 0.82, cpu: 1.6, speedup: 1.95),
            row(.cpu, 16, wall: 0.83, cpu: 1.62, speedup: 1.93),
        ]
        let sentence = Verdict.conclude(rows, cpus: 2)
        #expect(sentence.hasPrefix("cpu: computes"))
        #expect(sentence.contains("×1.95 with 2 workers"))
        #expect(sentence.contains("only take turns"))
    }

    @Test func waitingWorkScalesPastTheCores() {
        let rows = [
            row(.sleep, 1, wall: 0.64, cpu: 0.001, speedup: 1),
            row(.sleep, 16, wall: 0.041, cpu: 0.002, speedup: 15.6),
        ]
        let sentence = Verdict.conclude(rows, cpus: 2)
        #expect(sentence.hasPrefix("sleep: waits"))
        #expect(sentence.contains("×15.6 with 16 workers"))
    }

    @Test func serialisedWorkIsCalledOut() {
        let rows = [
            row(.read, 1, wall: 1.0, cpu: 0.1, speedup: 1),
            row(.read, 8, wall: 0.95, cpu: 0.1, speedup: 1.05),
        ]
        #expect(Verdict.conclude(rows, cpus: 2).contains("barely help"))
    }

    @Test func numbersFormatWithoutLocale() {
        #expect(Verdict.format(1.955) == "1.96" || Verdict.format(1.955) == "1.95")
        #expect(Verdict.format(15.64) == "15.6")
        #expect(Verdict.format(0.004) == "0.00")
        #expect(String(format1: -0.5, digits: 1) == "-0.5")
    }

    @Test func tableAlignsColumns() {
        var table = TextTable(headers: ["name", "n"])
        table.add(["a", "100"])
        table.add(["bbb", "2"])
        #expect(table.render() == "name    n\n----  ---\na     100\nbbb     2")
    }

    @Test func listsParseAndRejectNonsense() throws {
        #expect(try parseList("1, 2,4") == [1, 2, 4])
        #expect(throws: (any Error).self) { try parseList("1,x") }
        #expect(try parseWorkloads("CPU,read") == [.cpu, .read])
        #expect(throws: (any Error).self) { try parseWorkloads("gpu") }
    }

    @Test func compareRejectsBadOptions() {
        #expect(throws: (any Error).self) { try CompareCommand.parse(["--workers", "0,2"]) }
        #expect(throws: (any Error).self) { try CompareCommand.parse(["--tasks", "0"]) }
        #expect(throws: (any Error).self) { try CompareCommand.parse(["--workloads", ""]) }
        #expect(throws: (any Error).self) { try CompareCommand.parse(["--tasks", "100000", "--read-mib", "1024"]) }
        #expect(throws: Never.self) {
            try CompareCommand.parse(["--workloads", "cpu", "--tasks", "100000", "--read-mib", "1024"])
        }
    }
}
