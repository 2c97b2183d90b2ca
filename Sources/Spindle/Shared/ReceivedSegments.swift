internal import CSpindle
internal import Glibc

/// The segments attached to one received message, as descriptors, until its values are decoded.
///
/// A handle in the message names a segment by its index here. Each descriptor is mapped when a
/// handle first asks for it; the same index asked for again gives the same segment. Descriptors no
/// handle asked for are closed with this object.
package final class ReceivedSegments {
    private var descriptors: [Int32]
    private var segments: [SharedSegment?]

    /// Takes ownership of `descriptors`, in the order they were attached.
    package init(_ descriptors: [Int32]) {
        self.descriptors = descriptors
        segments = Array(repeating: nil, count: descriptors.count)
    }

    deinit {
        for fd in descriptors where fd >= 0 { closeDescriptor(fd) }
    }

    package var count: Int { descriptors.count }

    /// The segment attached at `index`, which must be of kind `kind`.
    ///
    /// - Throws: ``SpindleError/Code/encodingFailed`` for an index past the attachments or a segment
    ///   of another kind; ``SpindleError/Code/systemError`` when it cannot be mapped.
    package func segment(at index: Int, kind: SharedSegment.Kind) throws(SpindleError) -> SharedSegment {
        guard index >= 0, index < descriptors.count else {
            throw SpindleError(
                .encodingFailed,
                "a handle names shared memory \(index), but its message carried \(descriptors.count) segments"
            )
        }
        if let segment = segments[index] {
            guard segment.kind == kind else {
                throw SpindleError(.encodingFailed, "a handle to a shared \(kind) names a \(segment.kind) segment")
            }
            return segment
        }
        let fd = descriptors[index]
        descriptors[index] = -1
        let segment = try WorkerSegmentCache.segment(receiving: fd, kind: kind)
        segments[index] = segment
        return segment
    }
}

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
        let cached: SharedSegment?? = entries.withLock { entries in
            guard let entries else { return .none }
            return .some(SharedSegment.Identity(of: fd).flatMap { entries[$0] })
        }
        switch cached {
        case .none:
            return try SharedSegment(receiving: fd, kind: kind, owning: true)
        case .some(.some(let segment)):
            closeDescriptor(fd)
            guard segment.kind == kind else {
                throw SpindleError(.encodingFailed, "a handle to a shared \(kind) names a \(segment.kind) segment")
            }
            return segment
        case .some(.none):
            let identity = SharedSegment.Identity(of: fd)
            let segment = try SharedSegment(receiving: fd, kind: kind, owning: false)
            if let identity { entries.withLock { $0?[identity] = segment } }
            return segment
        }
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

    /// How many segments are cached (for tests).
    static var count: Int { entries.withLock { $0?.count ?? 0 } }
}

/// Sends `bytes[offset...]` on `socket` as far as it takes them, with the descriptors of `segments`
/// attached to the first byte; retries on EINTR. Returns the bytes sent, or -1 with errno set.
func sendCarrying(
    _ segments: [SharedSegment],
    on socket: Int32,
    _ bytes: [UInt8],
    from offset: Int,
    flags: Int32
) -> Int {
    bytes.withUnsafeBytes { bytes in
        var descriptors = segments.map(\.descriptor)
        return descriptors.withUnsafeMutableBufferPointer { descriptors in
            while true {
                let n = spindle_send_descriptors(
                    socket,
                    bytes.baseAddress! + offset,
                    bytes.count - offset,
                    descriptors.baseAddress,
                    Int32(descriptors.count),
                    flags
                )
                if n < 0 && errno == EINTR { continue }
                return n
            }
        }
    }
}
