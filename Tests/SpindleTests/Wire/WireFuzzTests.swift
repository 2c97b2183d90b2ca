@testable import Spindle
import Testing

@Suite struct WireFuzzTests {
    /// Valid encodings of every fuzz target, mutated by ``fuzz(seed:iterations:samples:expecting:decode:)``.
    static func samples() throws -> [[UInt8]] {
        let target = FuzzTarget(
            id: 1 << 40,
            name: "fuzz",
            note: nil,
            values: [1.5, -2, .nan],
            matrix: [[1, -1], [], [Int.max]],
            shape: .polygon([.circle(radius: 1), .labeled("l", 2)]),
            children: [SmallRecord(id: 7, name: "c", score: 0.25, tags: ["a", "bb"])],
            flags: [true, false],
            color: .blue
        )
        var other = target
        other.note = String(repeating: "n", count: 70)
        other.shape = .rectangle(width: 1, height: 2)
        other.color = nil
        let expression = Expression.call(
            name: "f",
            arguments: [.add(.number(1), .negate(.variable("x"))), .call(name: "g", arguments: [])]
        )
        return [
            try wireBytes(target), try wireBytes(other), try wireBytes([0.5, -1, 1e300]),
            try wireBytes("a string of some length: ü🌍"), try wireBytes(["k": [1, 2, 300], "": [-5]]),
            try wireBytes(expression), try wireBytes(Expression.negate(.number(2))), try wireBytes(Everything.sample),
            try wireBytes([Wrapper(Int??.some(nil)), Wrapper(5)]), try wireBytes(ElementwiseDoubles([1, 2])),
        ]
    }

    /// On a thread of its own: a million inputs take seconds (a minute under ThreadSanitizer), and
    /// a test that holds one of the two cooperative threads that long starves every other test.
    @Test func mutatedAndRandomInputsOnlyEverThrowWireError() async throws {
        let iterations = fuzzIterations(default: 1_000_000)
        let clock = ContinuousClock()
        let start = clock.now
        let samples = try Self.samples()
        let report = await onPlainThread {
            var round = 0
            return fuzz(seed: 0x5EED_0001, iterations: iterations, samples: samples, expecting: WireError.self) {
                bytes in
                round &+= 1
                // Each input is decoded as one of the targets in turn, so every input reaches every type.
                switch round % 8 {
                case 0: _ = try WireDecoder.decode(FuzzTarget.self, from: bytes)
                case 1: _ = try WireDecoder.decode([Double].self, from: bytes)
                case 2: _ = try WireDecoder.decode(String.self, from: bytes)
                case 3: _ = try WireDecoder.decode([String: [Int]].self, from: bytes)
                case 4: _ = try WireDecoder.decode(Expression.self, from: bytes)
                case 5: _ = try WireDecoder.decode(Everything.self, from: bytes)
                case 6: _ = try WireDecoder.decode([Wrapper<Int??>].self, from: bytes)
                default: _ = try WireDecoder.decode(ElementwiseDoubles.self, from: bytes)
                }
            }
        }
        print(
            "fuzzed \(iterations) inputs in \(clock.now - start): \(report.accepted) accepted, \(report.rejected) rejected"
        )
        for (input, error) in report.unexpected {
            Issue.record("unexpected \(error) for input \(input)")
        }
        #expect(report.accepted + report.rejected == iterations)
        #expect(report.accepted > 0 && report.rejected > 0)
    }
}
