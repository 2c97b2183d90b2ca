import Glibc
import PoolConformance
import Spindle
import Testing

/// Whole-process behaviour of pipelines, each in a child process of its own, so that memory,
/// threads, descriptors and child processes can be counted without other tests in the way.
@Suite(.timeLimit(.minutes(5)))
struct PipelineExitTests {
    @Test func aLongSourceRunsInConstantMemory() async {
        await #expect(processExitsWith: .success) {
            // A million items of 1 KiB: 1 GiB if the pipeline held them all. (`spindle bench --only
            // pipeline` runs ten million through a release build and reports the growth.)
            let items = bigMapItems(1_000_000)
            let threads = try! ThreadPool(workers: 2)
            // Warm up first, so that the runtime's and the pool's own memory is not counted.
            _ = try! await Pipeline(0..<10_000).stage(on: threads) { $0 }.collect()
            resetPeakResident()
            let before = peakResidentBytes()
            let pipeline = Pipeline(0..<items)
                .stage(on: threads, name: "make") { x in [UInt8](repeating: UInt8(truncatingIfNeeded: x), count: 1_024)
                }
                .stage(on: threads, name: "measure") { $0.count + Int($0[0]) }
            var total = 0
            for try await n in pipeline { total &+= n }
            let growth = peakResidentBytes() - before
            let expected = (0..<items).reduce(0) { $0 + 1_024 + $1 % 256 }
            print("peak resident memory grew by \(growth >> 10) KiB over \(items) items")
            guard total == expected, growth < 64 << 20 else { exit(1) }
            await threads.shutdown()
        }
    }

    @Test func aFailedPipelineLeavesNoThreadProcessOrDescriptorBehind() async {
        await #expect(processExitsWith: .success) {
            let descriptorsBefore = openDescriptors()
            let threads = try! ThreadPool(workers: 4, name: "piperead")
            let processes = try! makeTestPool()
            var workers: Set<Int32> = []
            for pid in try! await processes.map(WorkerPID(), 0..<20, chunkSize: 1).collect() { workers.insert(pid) }
            // Item 100 fails on the threads while the process stage has jobs in flight that only
            // stop when killed.
            let pipeline = Pipeline(0..<1_000)
                .stage(FailAt(failing: 100), on: threads, name: "check")
                .stage(on: threads, name: "to seconds") { $0 < 50 ? 0 : 60 }
                .stage(Busy(), on: processes, name: "hold")
            var error: (any Error)?
            do { _ = try await pipeline.collect() } catch let thrown { error = thrown }
            guard let failure = error as? PipelineError, failure.stage == "check", failure.item == 100 else { exit(2) }
            await processes.shutdown()
            await threads.shutdown()
            let leaked = descriptorsOpened(since: descriptorsBefore)
            let children = childProcesses()
            let threadsLeft = threadCount(prefix: "piperead")
            guard leaked.isEmpty, children.isEmpty, threadsLeft == 0, !workers.contains(where: isAlive) else {
                print("leaked \(leaked), children \(children), threads \(threadsLeft)")
                exit(3)
            }
        }
    }
}
