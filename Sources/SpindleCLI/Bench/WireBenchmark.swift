// Foundation is here only for the JSON and property list coders that the wire coder is compared with.
import Foundation
import Spindle

/// Times the wire coder against Foundation's JSON and binary property list coders.
///
/// Each case encodes and decodes one value many times per round; the best round counts, so a
/// noisy machine's slow rounds drop out. The wire encoder appends to a reused buffer, as a message
/// framer would.
enum WireBenchmark {
    /// The benchmark's small struct: a typical job input.
    struct Record: Codable, Equatable {
        var id: Int
        var name: String
        var score: Double
        var tags: [String]
    }

    /// The table's header row.
    static let header = [
        "case", "wire B", "JSON B", "wire enc", "wire dec", "JSON enc", "JSON dec", "plist enc+dec",
        "wire MB/s", "vs JSON",
    ]

    /// Runs every case and returns the table: ``header`` then one row per case.
    ///
    /// - Parameter rounds: Rounds per case; the best is reported.
    static func rows(rounds: Int = 7) throws -> [[String]] {
        let record = Record(id: 12_345, name: "worker-7", score: 0.875, tags: ["cpu", "batch", "retry"])
        let records = (0..<10_000).map {
            Record(id: $0, name: "worker-\($0 % 64)", score: Double($0) / 3, tags: ["t\($0 % 5)"])
        }
        return [header] + [
            try row("small struct", record, repetitions: 20_000, rounds: rounds),
            try row("[Int] × 100k", Array(0..<100_000), repetitions: 20, rounds: rounds),
            try row("[Double] 16 MiB", (0..<(1 << 21)).map { Double($0) * 0.5 }, repetitions: 4, rounds: rounds),
            try row("[struct] × 10k", records, repetitions: 4, rounds: rounds),
        ]
    }

    /// Times one value through every coder.
    private static func row<T: Codable & Equatable>(_ name: String, _ value: T, repetitions: Int, rounds: Int) throws
        -> [String]
    {
        var buffer: [UInt8] = []
        try WireEncoder.encode(value, into: &buffer)
        let wireSize = buffer.count
        let wireEncode = try best(rounds, repetitions) {
            buffer.removeAll(keepingCapacity: true)
            try WireEncoder.encode(value, into: &buffer)
        }
        var decoded: T?
        let wireDecode = try best(rounds, repetitions) {
            decoded = try buffer.withUnsafeBytes { try WireDecoder.decode(T.self, from: $0) }
        }
        precondition(decoded == value, "the wire coder changed the value")

        let jsonEncoder = JSONEncoder()
        let json = try jsonEncoder.encode(value)
        let jsonRepetitions = max(1, repetitions / 10)
        let jsonEncode = try best(rounds, jsonRepetitions) { _ = try jsonEncoder.encode(value) }
        let jsonDecoder = JSONDecoder()
        let jsonDecode = try best(rounds, jsonRepetitions) { decoded = try jsonDecoder.decode(T.self, from: json) }

        let plistEncoder = PropertyListEncoder()
        plistEncoder.outputFormat = .binary
        let plistValue = [value]  // a property list's top level must be a container
        let plist = try plistEncoder.encode(plistValue)
        let plistDecoder = PropertyListDecoder()
        let plistBoth = try best(rounds, jsonRepetitions) {
            _ = try plistEncoder.encode(plistValue)
            _ = try plistDecoder.decode([T].self, from: plist)
        }

        let wireBoth = wireEncode + wireDecode
        let megabytesPerSecond = Double(wireSize) / 1e6 / wireBoth.seconds
        return [
            name, "\(wireSize)", "\(json.count)", format(wireEncode), format(wireDecode), format(jsonEncode),
            format(jsonDecode), format(plistBoth), String(format: "%.0f", megabytesPerSecond),
            String(format: "%.1f×", (jsonEncode + jsonDecode).seconds / wireBoth.seconds),
        ]
    }

    /// The best per-call time of `body` over `rounds` rounds of `repetitions` calls.
    private static func best(_ rounds: Int, _ repetitions: Int, _ body: () throws -> Void) throws -> Duration {
        let clock = ContinuousClock()
        var best = Duration.seconds(1_000)
        for _ in 0..<rounds {
            let start = clock.now
            for _ in 0..<repetitions { try body() }
            best = min(best, (clock.now - start) / repetitions)
        }
        return best
    }

    private static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.seconds * 1e9
        if nanoseconds < 10_000 { return String(format: "%.0f ns", nanoseconds) }
        if nanoseconds < 10_000_000 { return String(format: "%.1f µs", nanoseconds / 1e3) }
        return String(format: "%.2f ms", nanoseconds / 1e6)
    }
}
