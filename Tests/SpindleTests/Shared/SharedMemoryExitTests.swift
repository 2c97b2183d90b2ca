import Foundation
import Glibc
import PoolConformance
import Testing

@testable import Spindle

/// What shared memory leaves behind, each case in a child process of its own (an exit test), so
/// that mappings, descriptors and children can be counted without other tests in the way, and so
/// that a process can be killed.
@Suite(.timeLimit(.minutes(5)))
struct SharedMemoryExitTests {
    @Test func noSegmentOutlivesItsValuesAndPool() async {
        await #expect(processExitsWith: .success) {
            let pool = try! makeTestPool(workers: 2)
            do {
                let data = try! SharedArray<Double>(repeating: 1, count: 1 << 16)
                let counter = try! SharedAtomic(0)
                _ = try! await pool.submit(SumShared(data: data.readOnly), 0..<data.count).value
                _ = try! await pool.submit(Increment(counter: counter), 10).value
                let made = try! await pool.submit(MakeCounting(), 100).value
                guard made.count == 100, counter.load() == 10 else { exit(2) }
            }
            await pool.shutdown()
            let mapped = mappedSharedSegments(of: "self")
            let open = openSegmentInodes()
            guard mapped.isEmpty, open.isEmpty, childProcesses().isEmpty else {
                print("mapped \(mapped), open \(open), children \(childProcesses())")
                exit(1)
            }
        }
    }

    @Test func segmentsGoWhenTheProcessThatMadeThemIsKilled() async throws {
        let report = FileGate()
        let shmBefore = spindleEntriesInDevShm()
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = report.path as String] in
            let pool = try! makeTestPool(workers: 1)
            let data = try! SharedArray<Double>(repeating: 1, count: 1 << 18)
            let worker = try! await pool.submit(WorkerPID(), 0).value
            _ = try! await pool.submit(SumShared(data: data.readOnly), 0..<1).value
            // The worker maps the array and is busy, so only the parent's death can end it.
            let busy = path + ".busy"
            _ = pool.submit(AnnounceThenBlock(), busy)
            while access(busy, F_OK) != 0 { usleep(1_000) }
            unlink(busy)
            let file = fopen(path, "w")!
            fputs("\(worker) \(data.segment.identity.inode)", file)
            fclose(file)
            kill(getpid(), SIGKILL)
        }
        let fields = try #require(readSmallFile(report.path)).split(separator: " ")
        let worker = try #require(Int32(fields[0])), inode = try #require(UInt64(fields[1]))
        let deadline = ContinuousClock.now + .seconds(10)
        while isAlive(worker) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!isAlive(worker), "the worker outlived its parent")
        let holders = ProcReader.numericEntries("/proc").filter { pid in
            pid != getpid() && mappedSharedSegments(of: "\(pid)").contains(inode)
        }
        #expect(holders.isEmpty, "processes \(holders) still map the killed process's array")
        #expect(spindleEntriesInDevShm() == shmBefore, "nothing is ever named in /dev/shm")
    }
}

/// Entries of /dev/shm whose name mentions spindle.
private func spindleEntriesInDevShm() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.contains("spindle") }
        .sorted()
}
