import Glibc
@testable import Spindle
import Testing

/// Large packed arrays spilled into shared memory beside a message (`SpillArea`), and read back
/// from the segments the message carries.
@Suite struct SpilledArrayTests {
    /// Doubles of `byteCount` bytes or more, each different.
    private func doubles(_ byteCount: Int, from first: Double = 0) -> [Double] {
        (0..<(byteCount / 8)).map { first + Double($0) / 4 }
    }

    private struct Encoded {
        var bytes: [UInt8] = []
        var segments: [SharedSegment] = []

        /// The segments as the receiver gets them: descriptors of their own.
        func received() -> ReceivedSegments { receivedCopies(of: segments) }

        func decode<T: Decodable>(_ type: T.Type, with received: ReceivedSegments? = nil) throws -> T {
            try bytes.withUnsafeBytes {
                try WireDecoder.decode(T.self, from: $0, segments: received ?? self.received())
            }
        }
    }

    private func encode<T: Encodable>(_ value: T, spill: SpillArea) throws -> Encoded {
        var encoded = Encoded()
        try WireEncoder.encode(value, into: &encoded.bytes, segments: &encoded.segments, spill: spill)
        return encoded
    }

    @Test func largeArraysLeaveTheMessageAndComeBack() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let large = doubles(SpillArea.threshold)
        let value = Shuffled(a: 1, b: "keyed", c: large, d: nil)
        let nested = [[1.5, 2.5], large, doubles(2 * SpillArea.threshold, from: 7)]
        let encoded = try encode(nested, spill: spill)
        #expect(encoded.segments.count == 2, "one segment per large array")
        #expect(encoded.bytes.count < 100, "the message holds only the small array and the names of the rest")
        #expect(try encoded.decode([[Double]].self) == nested)

        // Inside a keyed container, read out of order and skipped: Shuffled skips `c`.
        let keyed = try encode(value, spill: spill)
        #expect(try keyed.decode(Shuffled.self) == Shuffled(a: 1, b: "keyed", c: [], d: nil))
        #expect(try encode(["c": large], spill: spill).decode([String: [Double]].self) == ["c": large])

        // Below the threshold, or without a spill area, arrays stay in the message.
        let small = doubles(SpillArea.threshold - 8)
        #expect(try encode(small, spill: spill).segments.isEmpty)
        var plain: [UInt8] = []
        var none: [SharedSegment] = []
        try WireEncoder.encode(large, into: &plain, segments: &none)
        #expect(none.isEmpty && plain.count > SpillArea.threshold)
    }

    @Test func aSpilledArrayDecodesAsAnyArrayItFits() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let large = doubles(SpillArea.threshold)
        #expect(try encode(large, spill: spill).decode(ElementwiseDoubles.self).values == large)
        let ints = (0..<(SpillArea.threshold / 4)).map { Int32($0) - 1_000 }
        #expect(try encode(ints, spill: spill).decode([Int64].self) == ints.map(Int64.init))
        #expect(throws: WireError.self) { try encode(ints, spill: spill).decode([Int8].self) }
        #expect(throws: WireError.self) { try encode(large, spill: spill).decode([String].self) }
    }

    @Test func aSegmentIsLentAgainOnlyOnceItsLeaseIsGone() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let payload = doubles(SpillArea.threshold)
        var first: Encoded? = try encode(payload, spill: spill)
        let firstSegment = try #require(first?.segments.first).identity
        let second = try encode(payload, spill: spill)
        #expect(second.segments.first?.identity != firstSegment, "a lent segment is not lent twice")
        first = nil
        let third = try encode(doubles(SpillArea.threshold, from: 3), spill: spill)
        #expect(third.segments.first?.identity == firstSegment, "a returned segment is lent again")
        #expect(spill.segmentCount == 2)
        #expect(try second.decode([Double].self) == payload, "the second lease's array was not overwritten")
    }

    @Test func aWorkersSegmentIsLentAgainOnlyOnceItsArrayWasRead() throws {
        let spill = SpillArea(reuse: .whenReleasedAndRead)
        let payload = doubles(SpillArea.threshold)
        var sent: Encoded? = try encode(payload, spill: spill)
        let first = try #require(sent?.segments.first).identity
        var received: ReceivedSegments? = try #require(sent).received()
        SpillArea.willSend(sent!.segments)
        sent = nil  // sent: the lease is gone, but nobody has read the array
        #expect(try encode(payload, spill: spill).segments.first?.identity != first)
        // Read, and the message's segments let go of: the segment is free again.
        _ = try received!.segment(at: 0, kind: .spill)
        received = nil
        #expect(try encode(payload, spill: spill).segments.first?.identity == first)
    }

    @Test func aMessageDroppedUnreadStillFreesItsSegments() throws {
        let spill = SpillArea(reuse: .whenReleasedAndRead)
        let payload = doubles(SpillArea.threshold)
        var sent: Encoded? = try encode(payload, spill: spill)
        let first = try #require(sent?.segments.first).identity
        var received: ReceivedSegments? = sent!.received()
        SpillArea.willSend(sent!.segments)
        sent = nil
        received = nil  // never decoded: its descriptors are looked at as they are closed
        _ = received
        #expect(try encode(payload, spill: spill).segments.first?.identity == first)
    }

    @Test func aLeaseDroppedUnsentLeavesItsSegmentFree() throws {
        let spill = SpillArea(reuse: .whenReleasedAndRead)
        let payload = doubles(SpillArea.threshold)
        var failed: Encoded? = try encode(payload, spill: spill)  // as if its message failed to encode
        let first = try #require(failed?.segments.first).identity
        failed = nil
        #expect(try encode(payload, spill: spill).segments.first?.identity == first)
    }

    @Test func segmentsOverTheKeptSizeAreFreedOnceFree() throws {
        // A pool's, as soon as its lease ends.
        let pool = SpillArea(reuse: .whenReleased)
        var huge: Encoded? = try encode([UInt8](repeating: 7, count: SpillArea.keptBytes + 1), spill: pool)
        #expect(huge?.segments.count == 1 && pool.segmentCount == 1)
        huge = nil
        #expect(pool.segmentCount == 0)
        // A worker's, by the trim between tasks once the pool has read it.
        let worker = SpillArea(reuse: .whenReleasedAndRead)
        var result: Encoded? = try encode([UInt8](repeating: 7, count: SpillArea.keptBytes + 1), spill: worker)
        var received: ReceivedSegments? = result!.received()
        SpillArea.willSend(result!.segments)
        result = nil
        worker.trim()
        #expect(worker.segmentCount == 1, "not read yet")
        received = nil
        _ = received
        worker.trim()
        #expect(worker.segmentCount == 0)
        // And every free one, when asked.
        _ = try encode(doubles(SpillArea.threshold), spill: worker)
        #expect(worker.segmentCount == 1)
        worker.trim(keepingFree: false)
        #expect(worker.segmentCount == 0)
    }

    @Test func spilledArraysDoNotCountAgainstAMessagesSharedValues() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let shared = try (0..<Frame.maximumSharedValues).map { _ in try SharedArray<Int>(repeating: 1, count: 1) }
        let encoded = try encode(Carrier(large: doubles(SpillArea.threshold), shared: shared), spill: spill)
        #expect(encoded.segments.count == Frame.maximumSharedValues + 1)
        let decoded = try encoded.decode(Carrier.self)
        #expect(decoded.large == doubles(SpillArea.threshold) && decoded.shared.count == shared.count)
        let tooMany = shared + [try SharedArray<Int>(repeating: 1, count: 1)]
        #expect(throws: WireError.self) { try encode(Carrier(large: [], shared: tooMany), spill: spill) }
    }

    private struct Carrier: Codable {
        var large: [Double]
        var shared: [SharedArray<Int>]
    }

    @Test func whenEverySegmentIsLentArraysStayInTheMessage() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let payload = doubles(SpillArea.threshold)
        let held = try (0..<SpillArea.maximumSegments).map { _ in try encode(payload, spill: spill) }
        #expect(held.allSatisfy { $0.segments.count == 1 })
        let inline = try encode(payload, spill: spill)
        #expect(inline.segments.isEmpty && inline.bytes.count > SpillArea.threshold)
        #expect(try inline.decode([Double].self) == payload)
    }

    @Test func twoArraysCannotNameOneSegment() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let (a, b) = (doubles(SpillArea.threshold), doubles(SpillArea.threshold, from: 9))
        var encoded = try encode([a, b], spill: spill)
        #expect(try encoded.decode([[Double]].self) == [a, b])
        // The second array's attachment index, the byte before the trailer, made the first's.
        let indexAt = try #require(encoded.bytes.lastIndex(of: 1))
        encoded.bytes[indexAt] = 0
        let error = #expect(throws: WireError.self) { _ = try encoded.decode([[Double]].self) }
        #expect(error?.message.contains("two spilled arrays name attachment 0") == true)
        // One field read twice is one array read twice.
        #expect(try encode(["v": a], spill: spill).decode(ReadTwice.self).values == a)
    }

    /// Reads its one field twice.
    private struct ReadTwice: Decodable {
        var values: [Double]
        enum CodingKeys: String, CodingKey { case v }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let first = try container.decode([Double].self, forKey: .v)
            values = try container.decode([Double].self, forKey: .v)
            precondition(first == values)
        }
    }

    @Test func corruptReferencesAreErrorsNotCrashes() throws {
        let spill = SpillArea(reuse: .whenReleased)
        let encoded = try encode(doubles(SpillArea.threshold), spill: spill)
        // No segments at all.
        #expect(throws: WireError.self) {
            try encoded.bytes.withUnsafeBytes { try WireDecoder.decode([Double].self, from: $0) }
        }
        // A count larger than the segment: the varint after the kind byte, made huge.
        var tooLong = encoded
        let countAt = 2
        #expect(tooLong.bytes[0] == WireTag.spilled)
        tooLong.bytes.replaceSubrange(countAt..<(countAt + 3), with: [0xFF, 0xFF, 0x7F])
        let error = #expect(throws: WireError.self) { try tooLong.decode([Double].self) }
        #expect(error?.message.contains("larger than its segment") == true)
        // A count past a message's limit, whatever the segment's size.
        var overLimit = encoded
        overLimit.bytes.replaceSubrange(countAt..<(countAt + 3), with: [0x80, 0x80, 0x80, 0x80, 0x01])
        let limit = #expect(throws: WireError.self) { try overLimit.decode([Double].self) }
        #expect(limit?.message.contains("over the limit") == true)
        // A Bool that is neither 0 nor 1, written into the segment after it was sent.
        let bools = try encode([Bool](repeating: true, count: SpillArea.threshold), spill: spill)
        (bools.segments[0].bytes + SpillArea.dataOffset + 5).storeBytes(of: 2, as: UInt8.self)
        #expect(throws: WireError.self) { try bools.decode([Bool].self) }
        // A segment of another kind in its place.
        let array = try SharedArray<Double>(repeating: 0, count: 4)
        let wrongKind = receivedCopies(of: [array.segment])
        #expect(throws: WireError.self) { try encoded.decode([Double].self, with: wrongKind) }
    }
}
