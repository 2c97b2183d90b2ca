internal import CSpindle
internal import DequeModule
internal import Glibc

/// Gathers the bytes a transport receives and cuts them into frames.
///
/// The transport writes into the reader's free space with ``fill(_:)``; ``nextFrame()`` then hands
/// out each complete frame without copying it. A payload stays valid until the next `fill`.
///
/// Descriptors of shared segments arrive beside the bytes, no later than the first byte of the
/// frame they belong to and in the order of the frames; ``receive(from:flags:)`` keeps them, and
/// each frame takes as many as its header says.
package final class FrameReader {
    /// Descriptors received and not yet given to a frame, oldest first.
    private var descriptors: Deque<Int32> = []
    /// Set when the kernel dropped descriptors on the way in; the stream then cannot be trusted.
    private var lostDescriptors = false
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0
    private static let initialCapacity = 64 * 1024
    private static let trustedFrameSize = 64 << 20

    package init() {
        capacity = Self.initialCapacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
        for fd in descriptors { closeDescriptor(fd) }
    }

    /// Bytes received and not yet handed out as frames: a non-zero count at end of stream is a
    /// truncated frame.
    package var bufferedBytes: Int { end - start }

    /// Lets `receive` write up to the given number of bytes into free space and keeps the count it
    /// returns (a negative count, a failed read, keeps nothing). There is always room for at least
    /// the rest of the frame being received, or 64 KiB.
    package func fill(_ receive: (UnsafeMutableRawPointer, Int) -> Int) -> Int {
        makeRoom()
        let received = receive(storage + end, capacity - end)
        if received > 0 { end += received }
        return received
    }

    /// Receives from `socket` (recvmsg with `flags`) into free space, keeping the descriptors
    /// that come with the bytes: the count received, 0 at end of stream, -1 with errno set.
    package func receive(from socket: Int32, flags: Int32 = 0) -> Int {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Int(SPINDLE_MAX_ATTACHED)) { arrived in
            var count: Int32 = 0
            var truncated: Int32 = 0
            let received = fill { buffer, capacity in
                while true {
                    let n = spindle_receive_descriptors(
                        socket,
                        buffer,
                        capacity,
                        arrived.baseAddress,
                        Int32(arrived.count),
                        &count,
                        &truncated,
                        flags
                    )
                    if n < 0 && errno == EINTR { continue }
                    return n
                }
            }
            descriptors.append(contentsOf: arrived.prefix(Int(count)))
            if truncated != 0 { lostDescriptors = true }
            return received
        }
    }

    /// The next complete frame, with the shared segments attached to it, or `nil` until more bytes arrive.
    ///
    /// - Throws: ``WireError`` for a corrupt header, or when the descriptors the frame declares did
    ///   not come before it; the stream cannot be trusted after that.
    package func nextFrame() throws(WireError) -> (
        kind: MessageKind, payload: UnsafeRawBufferPointer, segments: ReceivedSegments?
    )? {
        guard end - start >= Frame.headerSize else { return nil }
        let (kind, length, attachments) = try Frame.parseHeader(
            UnsafeRawBufferPointer(start: storage + start, count: Frame.headerSize)
        )
        guard end - start >= Frame.headerSize + length else { return nil }
        var segments: ReceivedSegments?
        if attachments > 0 {
            guard descriptors.count >= attachments else {
                throw WireError(
                    lostDescriptors
                        ? "shared segments were lost on the way (too many open files?)"
                        : "a frame declares \(attachments) shared segments, but \(descriptors.count) arrived"
                )
            }
            segments = ReceivedSegments(Array(descriptors.prefix(attachments)))
            descriptors.removeFirst(attachments)
        }
        let payload = UnsafeRawBufferPointer(start: storage + start + Frame.headerSize, count: length)
        start += Frame.headerSize + length
        return (kind, payload, segments)
    }

    /// Makes room for the rest of the current frame (or 64 KiB), moving the unread bytes to the
    /// front or growing the storage; gives back memory a frame over 64 MiB left behind.
    private func makeRoom() {
        var wanted = Self.initialCapacity
        let unread = end - start
        if unread >= Frame.headerSize,
            let (_, length, _) = try? Frame.parseHeader(
                UnsafeRawBufferPointer(start: storage + start, count: Frame.headerSize)
            )
        {
            // Room for the whole frame at once, so that a large one is received without copies; but
            // a length past 64 MiB is only believed as the bytes arrive, so that a corrupt header
            // cannot make the reader reserve a gigabyte.
            let frame = Frame.headerSize + length
            wanted = max(wanted, frame <= Self.trustedFrameSize ? frame : min(frame, 2 * unread))
        }
        // Storage up to 64 MiB is kept for the next large frame: allocating it afresh would cost a
        // page fault per 4 KiB touched, a third of the time of a 16 MiB round trip.
        if unread == 0 && capacity > Self.trustedFrameSize && wanted <= Self.initialCapacity {
            storage.deallocate()
            capacity = Self.initialCapacity
            storage = .allocate(byteCount: capacity, alignment: 16)
            start = 0
            end = 0
            return
        }
        // Enough free space after the unread bytes for the whole frame or a good read: leave them.
        if capacity - end >= max(wanted - unread, Self.initialCapacity / 4) { return }
        if capacity >= max(wanted, unread + Self.initialCapacity / 4) {
            if start > 0 {
                memmove(storage, storage + start, unread)
                start = 0
                end = unread
            }
            return
        }
        var newCapacity = capacity
        while newCapacity < max(wanted, unread + Self.initialCapacity / 4) { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newStorage.copyMemory(from: storage + start, byteCount: unread)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
        start = 0
        end = unread
    }
}
