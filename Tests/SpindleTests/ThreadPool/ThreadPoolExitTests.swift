import Glibc
import Spindle
import Testing

/// What happens to a program that never shuts its pool down, run in a child process so that the
/// program's exit itself is what is checked.
@Suite(.timeLimit(.minutes(3)))
struct ThreadPoolExitTests {
    @Test func programExitsWhileAPoolIsStillAlive() async {
        await #expect(processExitsWith: .exitCode(7)) {
            let pool = try! ThreadPool(workers: 4)
            // A job is still blocked when the program ends: its thread must not keep the process alive.
            _ = pool.submit { usleep(60_000_000) }
            _ = try! await pool.submit { 1 }.value
            exit(7)
        }
    }

    @Test func programThatDropsItsPoolExitsNormally() async {
        await #expect(processExitsWith: .success) {
            for _ in 0..<50 {
                let pool = try! ThreadPool(workers: 8)
                _ = try! await pool.submit { 2 }.value
            }
            // Every dropped pool shuts down by itself; its threads exit once idle.
        }
    }
}
