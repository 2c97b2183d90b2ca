/// The segments a pool worker's jobs received, kept mapped between tasks.
///
/// Mapping a segment costs a page-table entry per page, as much as reading it once; a job run again
/// and again on one array would pay that every time. So a worker keeps what it received, by
/// identity, and a descriptor for a segment it has is closed at once. An entry goes once no process
/// owns the segment any more and no value in the worker refers to it: checked by ``sweep()``
/// between tasks and when the worker is idle.
///
/// Outside a worker the cache is off and every received segment is held as an owner.
enum WorkerSegmentCache {
    private static let entries = Locked<[SharedSegment.Identity: SharedSegment]?>(nil)

    /// Turns the cache on, for this process's life: a pool worker calls it once.
    static func enable() {
        entries.withLock { if $0 == nil { $0 = [:] } }
    }

    /// The segment received as `fd` (which this takes): the cached one if the worker has it.
    static func segment(receiving fd: Int32, kind: SharedSegment.Kind) throws(SpindleError) -> SharedSegment {
        let caching = entries.withLock { $0 != nil }
        guard caching, let identity = SharedSegment.Identity(of: fd) else {
            return try SharedSegment(receiving: fd, kind: kind, owning: !caching)
        }
        if let cached = entries.withLock({ $0?[identity] }) {
            closeDescriptor(fd)
            guard cached.kind == kind else {
                throw SpindleError(.encodingFailed, "a handle to a shared \(kind) names a \(cached.kind) segment")
            }
            return cached
        }
        let segment = try SharedSegment(receiving: fd, kind: kind, owning: false)
        entries.withLock { $0?[identity] = segment }
        return segment
    }

    /// Drops the segments that no process owns and nothing here refers to; returns how many are
    /// still cached.
    @discardableResult
    static func sweep() -> Int {
        // Unmapping happens outside the lock, as the segments are released.
        var released: [SharedSegment] = []
        let remaining = entries.withLock { entries -> Int in
            guard var all = entries, !all.isEmpty else { return 0 }
            entries = nil
            for identity in Array(all.keys) {
                guard var segment = all.removeValue(forKey: identity) else { continue }
                if !segment.hasOwners && isKnownUniquelyReferenced(&segment) {
                    released.append(segment)
                } else {
                    all[identity] = segment
                }
            }
            entries = all
            return all.count
        }
        released.removeAll()
        return remaining
    }

    /// How many segments are cached: while any are, an idle worker sweeps now and then.
    static var count: Int { entries.withLock { $0?.count ?? 0 } }
}
