import PoolConformance
import Spindle
import Testing

/// A job compiled into the tests but not into the worker executable.
struct OnlyInTheTests: Job {
    func run(_ x: Int) async throws -> Int { x }
}

@Suite(.timeLimit(.minutes(5)))
struct ProcessPoolTests {
    @Test func smoke() async throws {
        let pool = try makeTestPool()
        #expect(try await pool.submit(Square(offset: 1), 7).value == 50)
        let outputs = try await pool.map(Square(), 0..<1_000).collect()
        #expect(outputs == (0..<1_000).map { $0 * $0 })
        await pool.shutdown()
    }

    @Test func genericJobsTravelByTheirFullTypeName() async throws {
        let pool = try makeTestPool()
        #expect(try await pool.submit(Scale<Double>(factor: 2), 3.5).value == 7.0)
        #expect(try await pool.map(Scale<Float>(factor: 0.5), [1, 2, 3]).collect() == [0.5, 1, 1.5])
        await pool.shutdown()
    }

    @Test func aJobTypeTheWorkerDoesNotHaveIsRefused() async throws {
        let pool = try makeTestPool()
        let error = await #expect(throws: SpindleError.self) { try await pool.submit(OnlyInTheTests(), 1).value }
        #expect(error?.code == .encodingFailed)
        #expect(
            error?.message.contains("SpindleTests.OnlyInTheTests is not a Job in the worker's binary") == true,
            "\(String(describing: error))"
        )
        #expect(try await pool.submit(Square(), 3).value == 9, "the pool carries on")
        await pool.shutdown()
    }
}
