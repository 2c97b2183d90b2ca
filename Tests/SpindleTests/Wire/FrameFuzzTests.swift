@testable import Spindle
import Testing

/// The frame reader and every message decoder, fed mutated and random byte streams: they may only
/// ever accept or throw ``WireError``, never crash or hang. The same inputs reach the pool's and
/// the worker's side, and a failure's error is rebuilt as the pool would.
@Suite struct FrameFuzzTests {
    /// Streams of valid frames, as a pool and a worker send them.
    static func samples() throws -> [[UInt8]] {
        var poolStream: [UInt8] = []
        var segments: [SharedSegment] = []
        try SetupMessage(workerID: 3, initializerType: TypeNames.name(of: Int.self)!, initializer: [1, 2]).encode(
            into: &poolStream
        )
        for sequence in 1...3 as ClosedRange<UInt32> {
            try TaskMessage.encode(
                sequence: sequence,
                jobType: TypeNames.name(of: [Int].self)!,
                into: &poolStream,
                segments: &segments,
                job: { try WireEncoder.encode([7, 8], into: &$0) },
                inputs: { bytes, _ in try WireEncoder.encode(Array(0..<Int(sequence * 5)), into: &bytes) }
            )
        }
        var workerStream: [UInt8] = []
        try ReadyMessage(pid: 1234).encode(into: &workerStream)
        try ResultMessage.encode(
            sequence: 1,
            busyNanoseconds: 99,
            failure: nil,
            into: &workerStream,
            segments: &segments
        ) {
            bytes,
            _ in try WireEncoder.encode([1, 4, 9], into: &bytes)
        }
        let thrown = RemoteFailure(thrown: TestError(id: 5))
        try ResultMessage.encode(
            sequence: 2,
            busyNanoseconds: 1,
            failure: thrown,
            into: &workerStream,
            segments: &segments
        ) {
            bytes,
            _ in try WireEncoder.encode([Int](), into: &bytes)
        }
        let coding = RemoteFailure(kind: .coding, message: "cannot encode")
        try ResultMessage.encode(
            sequence: 3,
            busyNanoseconds: 1,
            failure: coding,
            into: &workerStream,
            segments: &segments
        ) {
            bytes,
            _ in try WireEncoder.encode([7], into: &bytes)
        }
        try SkippedMessage(sequence: 4).encode(into: &workerStream)
        var failed: [UInt8] = []
        try SetupFailedMessage(reason: "the initializer threw").encode(into: &failed)
        return [poolStream, workerStream, failed]
    }

    /// Cuts `bytes` into frames in randomly sized reads, as a socket delivers them, and decodes each.
    static func decodeStream(_ bytes: UnsafeRawBufferPointer, random: inout SplitMix64) throws {
        let reader = FrameReader()
        var offset = 0
        while offset < bytes.count {
            let step = 1 + random.below(64)
            _ = reader.fill { buffer, room in
                let count = min(room, step, bytes.count - offset)
                buffer.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
                offset += count
                return count
            }
            while let (kind, payload, _) = try reader.nextFrame() {
                switch kind {
                case .setup: _ = try SetupMessage(decoding: payload)
                case .ready: _ = try ReadyMessage(decoding: payload)
                case .setupFailed: _ = try SetupFailedMessage(decoding: payload)
                case .skipped, .started: _ = try SkippedMessage(decoding: payload)
                case .task:
                    let task = try TaskMessage(decoding: payload)
                    _ = TypeNames.lookUp(task.jobType)
                    _ = try WireDecoder.decode([Int].self, from: task.job)
                    _ = try WireDecoder.decode([Int].self, from: task.inputs)
                case .result:
                    let result = try ResultMessage(decoding: payload)
                    _ = result.failure?.error(jobType: "Fuzz")
                    _ = try WireDecoder.decode([Int].self, from: result.outputs)
                }
            }
        }
        if reader.bufferedBytes > 0 { throw WireError("the stream ended inside a frame") }
    }

    @Test func validStreamsDecode() throws {
        var random = SplitMix64(seed: 1)
        for sample in try Self.samples() {
            try sample.withUnsafeBytes { bytes in try Self.decodeStream(bytes, random: &random) }
        }
    }

    /// On a thread of its own: a million inputs take seconds (a minute under ThreadSanitizer), and
    /// a test that holds one of the two cooperative threads that long starves every other test.
    @Test func mutatedAndRandomStreamsOnlyEverThrowWireError() async throws {
        let iterations = fuzzIterations(default: 1_000_000)
        let samples = try Self.samples()
        let report = await onPlainThread {
            var random = SplitMix64(seed: 0x5EED_F4A3)
            return fuzz(seed: 0x5EED_F4A3, iterations: iterations, samples: samples, expecting: WireError.self) {
                bytes in try Self.decodeStream(bytes, random: &random)
            }
        }
        for (input, error) in report.unexpected {
            Issue.record("unexpected \(error) for input \(input)")
        }
        #expect(report.accepted + report.rejected == iterations)
        #expect(report.accepted > 0 && report.rejected > 0)
    }

    @Test func aWorkerOfAnotherProtocolVersionIsRefused() throws {
        var setup: [UInt8] = []
        var message = SetupMessage(workerID: 1)
        message.version = wireProtocolVersion + 1
        try message.encode(into: &setup)
        let error = #expect(throws: WireError.self) {
            try setup.withUnsafeBytes { bytes in
                _ = try SetupMessage(decoding: UnsafeRawBufferPointer(rebasing: bytes[Frame.headerSize...]))
            }
        }
        #expect(error?.message.contains("protocol version") == true)
    }
}
