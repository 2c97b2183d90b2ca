import PoolConformance
import Spindle
import Testing

@Suite(.timeLimit(.minutes(5)))
struct ThreadPoolConformanceTests {
    @Test(arguments: PoolConformance<ThreadPool>.Check.allCases)
    func conformance(_ check: PoolConformance<ThreadPool>.Check) async throws {
        let suite = PoolConformance<ThreadPool>(
            makePool: { try ThreadPool(workers: $0) },
            submitFromJob: { pool in
                try await pool.submit { try await pool.submit(Square(), 6).value }.value
            }
        )
        try await suite.run(check)
    }
}
