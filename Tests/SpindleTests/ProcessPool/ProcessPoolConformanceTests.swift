import PoolConformance
import Spindle
import Testing

@Suite(.timeLimit(.minutes(5)))
struct ProcessPoolConformanceTests {
    @Test(arguments: PoolConformance<ProcessPool>.Check.allCases)
    func conformance(_ check: PoolConformance<ProcessPool>.Check) async throws {
        try await PoolConformance { try makeTestPool(workers: $0) }.run(check)
    }
}
