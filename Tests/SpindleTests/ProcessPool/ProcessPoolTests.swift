import PoolConformance
import Spindle
import Testing

@Suite(.timeLimit(.minutes(2)))
struct ProcessPoolTests {
    @Test func smoke() async throws {
        let pool = try makeTestPool()
        #expect(try await pool.submit(Square(offset: 1), 7).value == 50)
        let outputs = try await pool.map(Square(), 0..<1_000).collect()
        #expect(outputs == (0..<1_000).map { $0 * $0 })
        await pool.shutdown()
    }
}
