/// Picks how many items the next chunk of a map holds, learning from how long chunks took.
///
/// Starting at one item per chunk, it grows the size at most fourfold per completed chunk, toward
/// the size that would take ``MapOptions/targetChunkDuration``, and shrinks at once when items turn
/// out slower. Growing gradually keeps one unusually fast first item from producing a huge chunk
/// that would then hold one worker busy while the others idle.
struct ChunkSizer {
    private let fixed: Int?
    private var nanosecondsPerItem: Double?
    private(set) var size: Int

    init(_ chunking: MapOptions.Chunking) {
        switch chunking {
        case .automatic:
            fixed = nil
            size = 1
        case .fixed(let n):
            fixed = n
            size = n
        }
    }

    /// Learns from a chunk that ran `items` items in `nanoseconds`.
    mutating func record(items: Int, nanoseconds: UInt64) {
        guard fixed == nil, items > 0 else { return }
        let sample = max(1, Double(nanoseconds) / Double(items))
        // An exponentially weighted average smooths noise but still follows a drifting workload.
        let average = nanosecondsPerItem.map { 0.5 * $0 + 0.5 * sample } ?? sample
        nanosecondsPerItem = average
        let target = Double(MapOptions.targetChunkDuration.clampedNanoseconds)
        let ideal = Int(min(Double(MapOptions.maximumAutomaticChunkSize), max(1, target / average)))
        size = min(ideal, size * 4)
    }
}
