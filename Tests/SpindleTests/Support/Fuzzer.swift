import Glibc

// A small deterministic fuzzer: a seeded PRNG and a mutator of valid encodings, reusable for any
// decoder of untrusted bytes: wire values (WireFuzzTests) and message frames (FrameFuzzTests).

/// SplitMix64: a tiny, fast, well-mixed PRNG whose sequence depends only on its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound`, for `bound > 0`; the slight modulo bias does not matter here.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// What a fuzzing run saw.
struct FuzzReport: Sendable {
    /// Inputs the decoder accepted.
    var accepted = 0
    /// Inputs the decoder rejected with the expected error type.
    var rejected = 0
    /// Up to ten inputs that failed with another error type, with that error's type and text.
    var unexpected: [(input: [UInt8], error: String)] = []
}

/// Mutates samples of valid input and feeds each result to `decode`.
///
/// Each iteration takes a random sample and applies one to four mutations: bit flips, byte
/// overwrites with interesting values, inserted and deleted runs, truncation, splicing with another
/// sample, duplicated runs, and huge varints written over a position (to fake huge counts and
/// lengths). One iteration in 64 decodes pure random bytes instead.
///
/// - Parameters:
///   - seed: The PRNG seed; the same seed replays the same inputs.
///   - iterations: How many inputs to try.
///   - samples: Valid inputs to mutate; must not be empty.
///   - expecting: The error type a rejection must have.
///   - decode: Decodes one input, throwing on rejection.
/// - Returns: Counts of accepted and rejected inputs and the first unexpected errors.
func fuzz<Failure: Error>(
    seed: UInt64,
    iterations: Int,
    samples: [[UInt8]],
    expecting: Failure.Type,
    decode: (UnsafeRawBufferPointer) throws -> Void
) -> FuzzReport {
    var random = SplitMix64(seed: seed)
    var report = FuzzReport()
    var input: [UInt8] = []
    input.reserveCapacity(4096)
    for _ in 0..<iterations {
        if random.below(64) == 0 {
            input.removeAll(keepingCapacity: true)
            for _ in 0..<random.below(48) { input.append(UInt8(truncatingIfNeeded: random.next())) }
        } else {
            input.replaceSubrange(input.startIndex..<input.endIndex, with: samples[random.below(samples.count)])
            for _ in 0...random.below(4) { mutate(&input, samples: samples, random: &random) }
        }
        do {
            try input.withUnsafeBytes(decode)
            report.accepted += 1
        } catch is Failure {
            report.rejected += 1
        } catch {
            if report.unexpected.count < 10 { report.unexpected.append((input, "\(type(of: error)): \(error)")) }
        }
    }
    return report
}

/// The environment's `SPINDLE_FUZZ_ITERATIONS`, or `defaultValue`: CI under a sanitizer runs fewer.
/// How many items the tests that map millions of them use: `full`, or `full` divided by
/// `SPINDLE_BIG_MAP_DIVISOR` (CI under ThreadSanitizer, where an item costs ten times more and the
/// point is races, not volume).
func bigMapItems(_ full: Int) -> Int {
    guard let text = getenv("SPINDLE_BIG_MAP_DIVISOR"), let divisor = Int(String(cString: text)), divisor > 0 else {
        return full
    }
    return max(full / divisor, 1)
}

func fuzzIterations(default defaultValue: Int) -> Int {
    guard let text = getenv("SPINDLE_FUZZ_ITERATIONS") else { return defaultValue }
    return Int(String(cString: text)) ?? defaultValue
}

/// Applies one random mutation to `input`.
private func mutate(_ input: inout [UInt8], samples: [[UInt8]], random: inout SplitMix64) {
    let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x09, 0x0A, 0x0B, 0xC0, 0x3F]
    switch random.below(9) {
    case 0 where !input.isEmpty:
        input[random.below(input.count)] ^= 1 << UInt8(random.below(8))
    case 1 where !input.isEmpty:
        input[random.below(input.count)] = interesting[random.below(interesting.count)]
    case 2:
        let run = (0..<1 + random.below(8)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        input.insert(contentsOf: run, at: random.below(input.count + 1))
    case 3 where !input.isEmpty:
        let start = random.below(input.count)
        input.removeSubrange(start..<min(input.count, start + 1 + random.below(8)))
    case 4 where !input.isEmpty:
        input.removeSubrange(random.below(input.count)...)
    case 5:
        let other = samples[random.below(samples.count)]
        let cut = random.below(input.count + 1)
        input.replaceSubrange(cut..., with: other[random.below(other.count + 1)...])
    case 6 where !input.isEmpty:
        let start = random.below(input.count)
        let run = Array(input[start..<min(input.count, start + 1 + random.below(16))])
        input.insert(contentsOf: run, at: random.below(input.count + 1))
    case 7 where !input.isEmpty:
        // A huge count or length: a 2^31, 2^62 or all-ones varint over a random position.
        let huge: [[UInt8]] = [
            [0x80, 0x80, 0x80, 0x80, 0x08], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ]
        let start = random.below(input.count)
        let bytes = huge[random.below(huge.count)]
        input.replaceSubrange(start..<min(input.count, start + bytes.count), with: bytes)
    default:
        if !input.isEmpty { input[random.below(input.count)] = UInt8(truncatingIfNeeded: random.next()) }
    }
}
