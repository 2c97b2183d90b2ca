import PoolConformance
import Testing

@testable import Spindle

/// A task checks that a worker's answer fits it before believing it: a lying worker must fail
/// the task with a protocol error, never crash the pool or lose items of a map.
@Suite struct PoolTaskTests {
    /// A chunk task of `items` inputs whose future holds the chunk's outcome.
    func chunk(items: Int) throws -> TypedPoolTask<Square, ChunkOutcome<Int>> {
        try TypedPoolTask(job: Square(), encodedJob: nil, inputs: Array(0..<items), timeout: nil) { .success($0) }
    }

    /// Runs `body` on a result frame with `outputs` encoded and `failure` set.
    func withResult(
        outputs: [Int],
        failure: RemoteFailure? = nil,
        _ body: (ResultMessage) throws -> Void
    ) throws {
        var frame: [UInt8] = []
        var segments: [SharedSegment] = []
        try ResultMessage.encode(sequence: 1, busyNanoseconds: 0, failure: failure, into: &frame, segments: &segments) {
            bytes,
            _ in try WireEncoder.encode(outputs, into: &bytes)
        }
        try frame.withUnsafeBytes { bytes in
            try body(try ResultMessage(decoding: UnsafeRawBufferPointer(rebasing: bytes[Frame.headerSize...])))
        }
    }

    @Test func aResultWithEveryOutputCompletesTheTask() async throws {
        let task = try chunk(items: 3)
        try withResult(outputs: [0, 1, 4]) { try task.complete(with: $0, segments: nil) }
        #expect(try await task.future.value.outputs == [0, 1, 4])
    }

    @Test(arguments: [[], [0, 1], [0, 1, 4, 9]])
    func aResultOfTheWrongSizeIsAProtocolError(outputs: [Int]) async throws {
        let task = try chunk(items: 3)
        try withResult(outputs: outputs) { result in
            #expect(throws: WireError.self) { try task.complete(with: result, segments: nil) }
        }
        let outcome = try await task.future.value
        #expect((outcome.failure as? SpindleError)?.code == .protocolError, "\(String(describing: outcome.failure))")
        #expect(outcome.outputs.isEmpty)
    }

    @Test func aFailureAfterEveryOutputIsAProtocolError() async throws {
        let task = try chunk(items: 2)
        let failure = RemoteFailure(kind: .thrown, message: "late")
        try withResult(outputs: [0, 1], failure: failure) { result in
            #expect(throws: WireError.self) { try task.complete(with: result, segments: nil) }
        }
        #expect((try await task.future.value.failure as? SpindleError)?.code == .protocolError)
    }

    @Test func aFailureAfterSomeOutputsKeepsThem() async throws {
        let task = try chunk(items: 3)
        try withResult(outputs: [0], failure: RemoteFailure(kind: .thrown, message: "item 1")) {
            try task.complete(with: $0, segments: nil)
        }
        let outcome = try await task.future.value
        #expect(outcome.outputs == [0])
        #expect(outcome.failure != nil)
    }
}
