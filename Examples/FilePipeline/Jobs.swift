import Glibc
import Spindle

// The three steps of the example, as jobs: reading is I/O-bound, analysing is CPU-bound, storing is
// I/O-bound again. Each is a `Job`, so it can run on threads or in worker processes alike.

/// A file's name and bytes, as read.
struct FileContents: Codable, Sendable {
    var name: String
    var bytes: [UInt8]
}

/// What the analysis found in one file.
struct Summary: Codable, Sendable {
    var name: String
    var count: Int
    var mean: Double
    var standardDeviation: Double
    var median: Double
    var p90: Double
    var largest: Double
}

/// Reads a whole file from the disk, not from the page cache: the kernel is first asked to drop
/// the file's cached pages, so every run waits for the storage as a first run would.
struct ReadFile: Job {
    /// Milliseconds to wait on top of the disk, as remote storage would: a network round trip.
    var latency = 0

    func run(_ path: String) async throws -> FileContents {
        if latency > 0 { usleep(UInt32(latency) * 1_000) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ExampleError("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw ExampleError("cannot read \(path): errno \(errno)") }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return FileContents(name: String(path.split(separator: "/").last ?? ""), bytes: bytes)
    }
}

/// Parses the numbers of a file, smooths the series `rounds` times and summarises it: the CPU-heavy step.
struct Analyse: Job {
    var rounds = 400

    func run(_ file: FileContents) async throws -> Summary {
        var values = parseNumbers(file.bytes)
        guard !values.isEmpty else { throw ExampleError("\(file.name) holds no numbers") }
        var smoothed = values
        for _ in 0..<rounds {
            for i in 1..<max(1, values.count - 1) {
                smoothed[i] = 0.25 * values[i - 1] + 0.5 * values[i] + 0.25 * values[i + 1]
            }
            swap(&values, &smoothed)
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        values.sort()
        return Summary(
            name: file.name,
            count: values.count,
            mean: mean,
            standardDeviation: variance.squareRoot(),
            median: values[values.count / 2],
            p90: values[values.count * 9 / 10],
            largest: values[values.count - 1]
        )
    }

    /// The decimal numbers in `bytes`, one per line ("123.456").
    private func parseNumbers(_ bytes: [UInt8]) -> [Double] {
        var values: [Double] = []
        values.reserveCapacity(bytes.count / 8)
        var whole = 0.0, fraction = 0.0, scale = 1.0, inFraction = false, any = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Double(byte - UInt8(ascii: "0"))
                if inFraction {
                    scale /= 10
                    fraction += digit * scale
                } else {
                    whole = whole * 10 + digit
                }
                any = true
            case UInt8(ascii: "."):
                inFraction = true
            default:
                if any { values.append(whole + fraction) }
                whole = 0
                fraction = 0
                scale = 1
                inFraction = false
                any = false
            }
        }
        if any { values.append(whole + fraction) }
        return values
    }
}

/// Writes a summary next to the others and waits until it is on the disk (`fsync`), as a program
/// that must not lose results does; returns the path written.
struct Store: Job {
    var directory: String
    /// Milliseconds to wait on top of the disk, as remote storage would.
    var latency = 0

    func run(_ summary: Summary) async throws -> String {
        if latency > 0 { usleep(UInt32(latency) * 1_000) }
        let path = directory + "/" + summary.name + ".summary"
        let text = """
            count \(summary.count)
            mean \(summary.mean)
            standard deviation \(summary.standardDeviation)
            median \(summary.median)
            p90 \(summary.p90)
            largest \(summary.largest)

            """
        try writeFile(path, Array(text.utf8), sync: true)
        return path
    }
}

/// All three steps in one job: how a single pool does the whole work.
struct ReadAnalyseStore: Job {
    var read: ReadFile
    var analyse: Analyse
    var store: Store

    func run(_ path: String) async throws -> String {
        try await store.run(analyse.run(read.run(path)))
    }
}

struct ExampleError: Error, Codable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes `bytes` to a new file at `path`, flushed to the disk first when `sync` is set.
func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ExampleError("cannot create \(path): errno \(errno)") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written > 0 else { throw ExampleError("cannot write \(path): errno \(errno)") }
        offset += written
    }
    if sync && fsync(fd) != 0 { throw ExampleError("cannot sync \(path): errno \(errno)") }
}
