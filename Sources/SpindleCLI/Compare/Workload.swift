import Foundation
import Spindle

/// A kind of work `spindle compare` runs: one that computes, one that sleeps, one that reads files.
enum Workload: String, CaseIterable, Codable, Sendable {
    /// Pure computation: an integer mixing loop, calibrated to take the task size on one core.
    case cpu
    /// A blocking sleep: a thread that waits, as for a network reply.
    case sleep
    /// Reading real files whose pages were dropped from the page cache, so that the disk is read.
    case read
}

/// A pool `spindle compare` measures.
enum Backend: String, CaseIterable, Codable, Sendable {
    /// A ``ThreadPool``: threads sharing this process's memory.
    case threads
    /// A ``ProcessPool``: worker processes of this same program.
    case processes

    var poolName: String {
        switch self {
        case .threads: "ThreadPool"
        case .processes: "ProcessPool"
        }
    }
}

/// Burns CPU: `iterations` rounds of an xorshift mix, so the optimiser cannot skip the work.
struct SpinJob: Job {
    var iterations: Int

    func run(_ seed: Int) async throws -> UInt64 {
        Self.spin(seed: UInt64(truncatingIfNeeded: seed) | 1, iterations: iterations)
    }

    @inline(never)
    static func spin(seed: UInt64, iterations: Int) -> UInt64 {
        var x = seed
        for _ in 0..<iterations {
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
        }
        return x
    }

    /// How many iterations take `duration` on one core of this machine, measured now.
    static func calibrate(for duration: Duration) -> Int {
        let probe = 4_000_000
        var best = Double.infinity
        // The fastest of three runs is the least disturbed by other processes.
        for attempt in 0..<3 {
            let start = ContinuousClock.now
            let value = spin(seed: UInt64(attempt + 1), iterations: probe)
            let elapsed = (ContinuousClock.now - start).seconds
            if value == 0 { print("", terminator: "") }  // keeps `value` alive
            best = min(best, elapsed)
        }
        return max(1, Int(Double(probe) * duration.seconds / max(best, 1e-9)))
    }
}

/// Blocks its thread for `milliseconds`, the way a blocking network call would.
struct SleepJob: Job {
    var milliseconds: Int

    func run(_ input: Int) async throws -> Int {
        usleep(UInt32(milliseconds * 1_000))
        return input
    }
}

/// Reads a whole file with plain `read` calls and returns a checksum of its bytes.
struct ReadFileJob: Job {
    func run(_ path: String) async throws -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var checksum: UInt64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            // One word per page is enough to make every page count without becoming CPU-bound.
            buffer.withUnsafeBytes { bytes in
                for offset in stride(from: 0, to: n, by: 4096) { checksum &+= UInt64(bytes[offset]) }
            }
        }
        return checksum
    }
}

/// A folder of files for the `read` workload, dropped from the page cache before every run.
final class ReadFixture {
    let directory: String
    let paths: [String]

    /// Writes `count` files of `size` bytes of pseudo-random data under `parent` and syncs them to disk.
    init(count: Int, size: Int, parent: String) throws {
        var template = Array("\(parent)/spindle-compare-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CLIError("cannot create a folder under \(parent): \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var generator = SystemRandomNumberGenerator()
        var made_paths: [String] = []
        do {
            for index in 0..<count {
                let path = "\(directory)/file-\(index)"
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                var left = size
                while left > 0 {
                    for i in stride(from: 0, to: block.count, by: 8) {
                        let word = generator.next()
                        withUnsafeBytes(of: word) { block.replaceSubrange(i..<i + 8, with: $0) }
                    }
                    let chunk = min(left, block.count)
                    let written = block.withUnsafeBytes { write(fd, $0.baseAddress, chunk) }
                    guard written == chunk else { throw CLIError("cannot write \(path)") }
                    left -= chunk
                }
                fsync(fd)
                made_paths.append(path)
            }
        } catch {
            paths = made_paths
            remove()
            throw error
        }
        paths = made_paths
    }

    /// Asks the kernel to forget the files' cached pages, so the next read goes to the disk.
    func dropFromPageCache() {
        for path in paths {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
    }

    func remove() {
        for path in paths { unlink(path) }
        rmdir(directory)
    }
}
