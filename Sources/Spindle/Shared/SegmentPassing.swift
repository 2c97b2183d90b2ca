internal import CSpindle
internal import Glibc

/// The segments attached to one received message, as descriptors, until its values are decoded.
///
/// A handle in the message names a segment by its index here. Each descriptor is mapped when a
/// handle first asks for it; the same index asked for again gives the same segment. Descriptors no
/// handle asked for are closed with this object.
///
/// When this object goes, the message has been read: every spilled array it carried is marked
/// read (``SpillArea/markRead(_:)``), so that its sender may reuse the segment, including those the
/// decoding never reached (a task skipped, a value that failed to decode).
package final class ReceivedSegments {
    private var descriptors: [Int32]
    private var segments: [SharedSegment?]

    /// Takes ownership of `descriptors`, in the order they were attached.
    package init(_ descriptors: [Int32]) {
        self.descriptors = descriptors
        segments = Array(repeating: nil, count: descriptors.count)
    }

    deinit {
        for segment in segments where segment?.kind == .spill { SpillArea.markRead(segment!) }
        for fd in descriptors where fd >= 0 {
            // Mapped only to learn whether it is a spill; this closes it either way.
            if let segment = try? SharedSegment(receiving: fd, kind: .spill, owning: false) {
                SpillArea.markRead(segment)
            }
        }
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
