import Testing

@testable import SpindleCLI

@Suite(.timeLimit(.minutes(3)))
struct DemoCommandTests {
    @Test func theTourPrintsWhatTheReadmeShows() async throws {
        let lines = try await DemoCommand.tour()
        #expect(lines.contains("map(Square(), 1...10), input order: [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]"))
        #expect(lines.contains("submit(Square(offset: 1), 7).value: 50"))
        #expect(lines.contains("map with a closure: [\"THREADS\", \"SHARE\", \"MEMORY\"]"))
        #expect(
            lines.contains { $0.hasPrefix("a job failing at input 5: outputs [0, 1, 2, 3, 4], then Failure(input: 5)") }
        )
        #expect(
            lines.contains {
                $0.hasPrefix(
                    "a 10 s job with a 50 ms timeout: SpindleError.timedOut: the task did not finish within 0.05 seconds"
                )
            }
        )
        #expect(lines.contains("a queued job cancelled before it started: cancel() = true, state = cancelled"))
        #expect(lines.contains("wait(.allCompleted): 4 done, 0 pending"))
        #expect(lines.contains { $0.hasPrefix("withTaskExecutorPreference(pool) runs on thread: spindle-") })
        #expect(lines.contains { $0.hasPrefix("submit after shutdown: SpindleError.poolShutDown") })
    }

    @Test func theProcessTourShowsIsolation() async throws {
        let lines = try await DemoCommand.processTour(workerExecutable: siblingExecutable("spindle"))
        #expect(lines.contains("ProcessPool with 2 workers: 2 worker processes, none of them this one: true"))
        #expect(lines.contains("process map(Square(), 1...10): [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]"))
        #expect(
            lines.contains {
                $0.hasPrefix(
                    "a job crashing its worker at input 5: outputs [0, 1, 2, 3, 4], then SpindleError.workerDied"
                )
            },
            "\(lines)"
        )
        #expect(lines.contains("the pool carries on: submit(Square(), 12).value = 144"))
        #expect(lines.contains { $0.hasPrefix("a runaway job with a 200 ms timeout: SpindleError.timedOut") })
    }
}
