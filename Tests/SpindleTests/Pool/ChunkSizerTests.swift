@testable import Spindle
import Testing

@Suite struct ChunkSizerTests {
    static let targetNanoseconds = MapOptions.targetChunkDuration.clampedNanoseconds
    static let maximum = MapOptions.maximumAutomaticChunkSize

    /// Records chunks of the current size whose items each take `nanosecondsPerItem`, and returns
    /// the size after each record.
    private func feed(_ sizer: inout ChunkSizer, nanosecondsPerItem: UInt64, chunks: Int) -> [Int] {
        (0..<chunks).map { _ in
            sizer.record(items: sizer.size, nanoseconds: UInt64(sizer.size) * nanosecondsPerItem)
            return sizer.size
        }
    }

    @Test func automaticStartsAtOne() {
        #expect(ChunkSizer(.automatic).size == 1)
    }

    @Test(arguments: [UInt64(0), 1, 10, 1_000])
    func growsAtMostFourfoldPerRecord(nanosecondsPerItem: UInt64) {
        var sizer = ChunkSizer(.automatic)
        var previous = sizer.size
        for size in feed(&sizer, nanosecondsPerItem: nanosecondsPerItem, chunks: 20) {
            #expect(size <= previous * 4, "grew from \(previous) to \(size)")
            #expect(size >= previous, "steady fast items must not shrink the chunk")
            previous = size
        }
    }

    @Test func freeItemsGrowByFourUpToTheMaximum() {
        var sizer = ChunkSizer(.automatic)
        let sizes = feed(&sizer, nanosecondsPerItem: 0, chunks: 10)
        #expect(sizes == [4, 16, 64, 256, 1_024, 4_096, 16_384, 16_384, 16_384, 16_384])
        #expect(sizer.size == Self.maximum)
    }

    @Test func nearlyFreeItemsReachTheMaximum() {
        var sizer = ChunkSizer(.automatic)
        _ = feed(&sizer, nanosecondsPerItem: 20, chunks: 30)
        #expect(sizer.size == Self.maximum)
    }

    @Test func settlesAtTheSizeThatTakesTheTargetDuration() {
        // 1 µs per item: a 2 ms target holds 2,000 items.
        var sizer = ChunkSizer(.automatic)
        let sizes = feed(&sizer, nanosecondsPerItem: 1_000, chunks: 10)
        #expect(sizes == [4, 16, 64, 256, 1_024, 2_000, 2_000, 2_000, 2_000, 2_000])
        #expect(Int(Self.targetNanoseconds / 1_000) == 2_000)
    }

    @Test func slowItemsStayAtOne() {
        var sizer = ChunkSizer(.automatic)
        let sizes = feed(&sizer, nanosecondsPerItem: 100_000_000, chunks: 20)
        #expect(sizes.allSatisfy { $0 == 1 })
    }

    @Test func shrinksAtOnceWhenItemsTurnSlow() {
        var sizer = ChunkSizer(.automatic)
        _ = feed(&sizer, nanosecondsPerItem: 10, chunks: 20)
        #expect(sizer.size == Self.maximum)
        sizer.record(items: sizer.size, nanoseconds: UInt64(sizer.size) * 100_000_000)
        #expect(sizer.size == 1, "one slow chunk must bring the size down at once")
    }

    @Test func shrinksToMatchModeratelySlowerItems() {
        var sizer = ChunkSizer(.automatic)
        _ = feed(&sizer, nanosecondsPerItem: 10, chunks: 20)
        // Items now take 10 µs: the average moves halfway (≈5 µs), so at most 2 ms / 5 µs = 400 items.
        sizer.record(items: sizer.size, nanoseconds: UInt64(sizer.size) * 10_000)
        #expect(sizer.size <= 400)
        #expect(sizer.size >= 1)
    }

    @Test func emptyChunksTeachNothing() {
        var sizer = ChunkSizer(.automatic)
        sizer.record(items: 0, nanoseconds: 1_000_000_000)
        #expect(sizer.size == 1)
        sizer.record(items: 1, nanoseconds: 0)
        #expect(sizer.size == 4)
        sizer.record(items: 0, nanoseconds: 0)
        #expect(sizer.size == 4)
    }

    @Test(arguments: [1, 7, 100_000])
    func fixedNeverChanges(n: Int) {
        var sizer = ChunkSizer(.fixed(n))
        #expect(sizer.size == n)
        for nanoseconds: UInt64 in [0, 1, 1_000, 100_000_000, 10_000_000_000] {
            sizer.record(items: n, nanoseconds: nanoseconds)
            #expect(sizer.size == n)
        }
    }
}
