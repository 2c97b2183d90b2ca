import Synchronization

/// Where a sender puts the large packed arrays of its messages: in shared memory beside the
/// message, rather than as bytes in it.
///
/// A 16 MiB `[Double]` sent in a message is copied four times on its way: encoded into the
/// message, into the socket, out of it, and decoded. Spilled, it is copied twice: into a segment
/// that both processes map, and out of it into the receiver's array. The message carries the
/// segment as an attachment and names it in place of the array (``WireTag/spilled``).
///
/// ## Reuse
///
/// Fresh memory costs a page fault per 4 KiB, as much as copying it, so segments are reused. A
/// segment is lent to one message at a time, as a lease (``SharedSegment/init(leasing:onRelease:)``)
/// that the message carries; it can be lent again once
/// - the lease is gone: nothing on this side can send that message again (a pool's task keeps
///   its frame until no worker can be given it any more, as a retry after a crash would be);
/// - and, for ``Reuse/whenReleasedAndRead``, the receiver has read it: the first word of the
///   segment is set to 1 as its message is sent (``willSend(_:)``), and the receiver stores 0 once
///   it has let go of the message's attachments (``ReceivedSegments``). A pool's worker lends this
///   way, as its result is not kept once sent. The pool itself lends by the lease alone: its
///   tasks' segments are read by workers that may die first, and the task is then sent again.
///
/// At most ``maximumSegments`` are kept; while all are lent, arrays travel in the message as
/// before. A segment larger than ``keptBytes`` is freed once it is free, so that one huge array
/// does not hold its memory for the pool's life.
@usableFromInline
package final class SpillArea: Sendable {
    /// When a lent segment may be lent again.
    package enum Reuse: Sendable {
        /// Once the message's lease is gone.
        case whenReleased
        /// Once the message's lease is gone and the receiver has read the array.
        case whenReleasedAndRead
    }

    private struct Entry {
        let segment: SharedSegment
        var leased: Bool
        var capacity: Int { segment.byteCount - SpillArea.dataOffset }
    }

    private let entries = Locked<[Entry]>([])
    private let reuse: Reuse

    /// Arrays of at least this many bytes are spilled: below it, copying them through the socket
    /// costs less than the segment's round of system calls.
    package static let threshold = 256 << 10
    /// The largest array spilled, and read: a message's own limit (``Frame/maximumPayload``), so
    /// that a segment cannot make a receiver allocate more than a message could.
    package static let maximumBytes = Frame.maximumPayload
    /// The most segments a sender keeps.
    package static let maximumSegments = 4
    /// Free segments larger than this are not kept.
    package static let keptBytes = 64 << 20
    /// Where a spilled array starts in its segment's payload: after the read flag, cache-line aligned.
    package static let dataOffset = 64
    /// The smallest segment made, so that arrays of similar sizes share one.
    private static let minimumCapacity = 1 << 20

    package init(reuse: Reuse) {
        self.reuse = reuse
    }

    /// Copies `elements` into a free segment and returns the lease that a message carries, or
    /// `nil` when every segment is lent and no more may be made (or memory cannot be had), or the
    /// array is over a message's limit: the array then goes in the message.
    package func spill(_ elements: UnsafeRawBufferPointer) -> SharedSegment? {
        guard elements.count <= Self.maximumBytes else { return nil }
        var dropped: [Entry] = []
        let lent = entries.withLock { entries -> SharedSegment? in
            if elements.count <= Self.keptBytes {
                dropped = remove(from: &entries) { isFree($0) && $0.capacity > Self.keptBytes }
            }
            var index = entries.firstIndex { isFree($0) && $0.capacity >= elements.count }
            if index == nil {
                if entries.count >= Self.maximumSegments {
                    guard let tooSmall = entries.firstIndex(where: isFree) else { return nil }
                    dropped.append(entries.remove(at: tooSmall))
                }
                var capacity = Self.minimumCapacity
                while capacity < elements.count { capacity *= 2 }
                guard let segment = try? SharedSegment(kind: .spill, byteCount: Self.dataOffset + capacity) else {
                    return nil
                }
                entries.append(Entry(segment: segment, leased: false))
                index = entries.count - 1
            }
            entries[index!].leased = true
            return entries[index!].segment
        }
        dropped.removeAll()  // unmapped here, not with the lock held
        guard let segment = lent else { return nil }
        // The segment is this lease's alone, so the copy needs no lock; the lease's end, which
        // takes the lock, orders it before the segment's next copy (for ThreadSanitizer too).
        (segment.bytes + Self.dataOffset).copyMemory(from: elements.baseAddress!, byteCount: elements.count)
        return SharedSegment(leasing: segment) { [self] in release(segment) }
    }

    /// Ends the lease on `segment`; a pool's segment over ``keptBytes`` goes at once.
    private func release(_ segment: SharedSegment) {
        let dropped = entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.segment === segment }) { entries[index].leased = false }
            return reuse == .whenReleased ? remove(from: &entries) { isFree($0) && $0.capacity > Self.keptBytes } : []
        }
        _ = dropped  // unmapped here, not with the lock held
    }

    /// Frees the segments that are free: those over ``keptBytes``, or all of them. A worker calls
    /// it between tasks and when idle, as its segments become free only once the pool has read
    /// them; a pool, once it has stopped.
    package func trim(keepingFree: Bool = true) {
        let dropped = entries.withLock { entries in
            remove(from: &entries) { isFree($0) && (!keepingFree || $0.capacity > Self.keptBytes) }
        }
        _ = dropped
    }

    /// Whether `entry` may be lent: its lease is over, and for a worker's, the pool has read it.
    private func isFree(_ entry: Entry) -> Bool {
        !entry.leased && (reuse == .whenReleased || !Self.holdsUnreadArray(entry.segment))
    }

    /// Removes the entries that match from `entries` (locked), and returns them to be dropped
    /// once the lock is released.
    private func remove(from entries: inout [Entry], where matches: (Entry) -> Bool) -> [Entry] {
        let removed = entries.filter(matches)
        entries.removeAll(where: matches)
        return removed
    }

    /// Marks the spilled arrays among `segments` as sent, just before their message leaves: from
    /// then until the receiver has read it, a segment is not lent again (``Reuse/whenReleasedAndRead``).
    /// A lease dropped unsent (its message failed to encode) leaves its segment free.
    package static func willSend(_ segments: [SharedSegment]) {
        for segment in segments where segment.kind == .spill && segment.byteCount >= dataOffset {
            readFlag(segment).pointee.store(1, ordering: .releasing)
        }
    }

    /// Whether a segment over ``keptBytes`` is kept, free or not: an idle worker then trims now and then.
    package var holdsLargeSegments: Bool { entries.withLock { $0.contains { $0.capacity > Self.keptBytes } } }

    /// How many segments are kept, lent or free: for tests.
    package var segmentCount: Int { entries.withLock { $0.count } }
    /// How many segments are lent: for tests.
    package var leasedCount: Int { entries.withLock { $0.count(where: \.leased) } }

    // MARK: The receiver's side

    /// The spilled array of `byteCount` bytes in `segment`, or `nil` when the segment is too small
    /// to hold it: a corrupt message.
    package static func spilledBytes(in segment: SharedSegment, byteCount: Int) -> UnsafeRawBufferPointer? {
        guard byteCount <= segment.byteCount - dataOffset else { return nil }
        return UnsafeRawBufferPointer(start: segment.bytes + dataOffset, count: byteCount)
    }

    /// Tells the sender that the array in `segment` has been read, and the segment may be reused.
    package static func markRead(_ segment: SharedSegment) {
        guard segment.kind == .spill, segment.byteCount >= dataOffset else { return }
        readFlag(segment).pointee.store(0, ordering: .releasing)
    }

    private static func holdsUnreadArray(_ segment: SharedSegment) -> Bool {
        readFlag(segment).pointee.load(ordering: .acquiring) != 0
    }

    private static func readFlag(_ segment: SharedSegment) -> UnsafeMutablePointer<Atomic<UInt32>> {
        segment.bytes.assumingMemoryBound(to: Atomic<UInt32>.self)
    }
}
