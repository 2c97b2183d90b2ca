internal import Glibc
import Synchronization

/// Memory that several processes map at once: the storage under ``SharedArray``, the shared
/// atomics, the process-shared locks and the process queues.
///
/// ## Lifetime
///
/// A segment is a memfd: an anonymous file that has no name anywhere (nothing in `/dev/shm`), and
/// that the kernel frees once no process has it open or mapped. So nothing is ever left behind,
/// whoever dies and however.
///
/// - The process that makes a segment, and any process that receives one in a pool's message
///   (the parent receiving a worker's output, say), holds it through this object: the segment
///   stays mapped and its descriptor open while any value refers to it, and both go when the last
///   one does.
/// - A segment travels between processes as a descriptor attached to the message that names it
///   (`SCM_RIGHTS`), never as a name: a handle is meaningless outside the message that carried it,
///   so it cannot be forged or used after the segment is gone.
/// - A pool's worker keeps the segments its jobs received mapped between tasks, so that a job run
///   again on the same array maps nothing anew (mapping 16 MiB costs as much as summing it). It lets
///   go of one, at its next task or within a moment when idle, once no process holds it as an owner
///   any more (the header counts owners); a worker that dies drops its mappings with it.
///
/// ## Layout
///
/// The first page is a header; the payload starts at the next page, so that it is page-aligned.
///
/// | offset | field |
/// | --- | --- |
/// | 0 | magic, `SPNDSHRD` (u64) |
/// | 8 | kind (u32) |
/// | 16 | payload bytes (u64) |
/// | 24 | owners: processes' objects holding it as an owner (u32, atomic) |
package final class SharedSegment: @unchecked Sendable {
    // @unchecked Sendable: the fields are immutable; the memory is shared by design and each
    // type built on a segment says how access to it is synchronised.

    /// What a segment holds, checked when one is received so that a lock's segment can never be
    /// read as an array's.
    package enum Kind: UInt32, Sendable {
        case array = 1, atomic, lock, semaphore, event, barrier, queue
        /// A message's large packed array, put beside the message rather than in it: see ``SpillArea``.
        case spill
    }

    /// Bytes before the payload: one page.
    package static let headerSize = 4096
    private static let magic: UInt64 = 0x4452_4853_444E_5053  // "SPNDSHRD" little-endian
    /// The prefix of every segment's memfd name, as it shows in `/proc/PID/maps`.
    package static let namePrefix = "spindle-shared-"

    package let kind: Kind
    /// The memfd; open for as long as this object lives, so that the segment can be sent on.
    package let descriptor: Int32
    /// Bytes of payload.
    package let byteCount: Int
    /// Where the payload is mapped: page-aligned, `byteCount` bytes, read-write.
    package let bytes: UnsafeMutableRawPointer
    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int
    /// Whether this object counts in the header's owners.
    private let isOwner: Bool
    /// For a lease (see ``init(leasing:onRelease:)``): the segment whose mapping this one borrows,
    /// and what to do when the lease ends.
    private let leased: SharedSegment?
    private let onRelease: (@Sendable () -> Void)?

    /// Makes a new segment of `byteCount` zeroed bytes, owned by this process.
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` for a negative size,
    ///   ``SpindleError/Code/systemError`` when memory cannot be had.
    package init(kind: Kind, byteCount: Int) throws(SpindleError) {
        guard byteCount >= 0, byteCount <= Int.max - Self.headerSize else {
            throw SpindleError(.invalidArgument, "a shared segment of \(byteCount) bytes")
        }
        let total = Self.headerSize + byteCount
        let (fd, mapping) = try makeMappedMemoryFile(name: Self.namePrefix + "\(kind)", byteCount: total)
        mapping.storeBytes(of: Self.magic, toByteOffset: 0, as: UInt64.self)
        mapping.storeBytes(of: kind.rawValue, toByteOffset: 8, as: UInt32.self)
        mapping.storeBytes(of: UInt64(byteCount), toByteOffset: 16, as: UInt64.self)
        self.kind = kind
        self.descriptor = fd
        self.byteCount = byteCount
        self.mapping = mapping
        self.mappedBytes = total
        self.bytes = mapping + Self.headerSize
        self.isOwner = true
        self.leased = nil
        self.onRelease = nil
        owners.pointee.store(1, ordering: .releasing)
    }

    /// A lease on `segment`: the same memory and descriptor, kept mapped by `segment`, and
    /// `onRelease` called when this object goes. A message carries the lease, so that whoever
    /// lent the segment learns when the last holder of the message let go of it.
    package init(leasing segment: SharedSegment, onRelease: @escaping @Sendable () -> Void) {
        kind = segment.kind
        descriptor = segment.descriptor
        byteCount = segment.byteCount
        bytes = segment.bytes
        mapping = segment.mapping
        mappedBytes = segment.mappedBytes
        isOwner = false
        leased = segment
        self.onRelease = onRelease
    }

    /// Maps a segment received as descriptor `fd`, which this object then owns (and closes, also
    /// when this throws).
    ///
    /// - Parameter owning: whether this object counts as an owner; a worker's cached mapping does not.
    /// - Throws: ``SpindleError/Code/encodingFailed`` when `fd` is not a Spindle segment of kind
    ///   `expected`, ``SpindleError/Code/systemError`` when it cannot be mapped.
    package init(receiving fd: Int32, kind expected: Kind, owning: Bool) throws(SpindleError) {
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let err = errno
            close(fd)
            throw .system("fstat of a received segment", err)
        }
        let size = Int(status.st_size)
        guard status.st_mode & S_IFMT == S_IFREG, size >= Self.headerSize else {
            close(fd)
            throw SpindleError(.encodingFailed, "a received descriptor is not a Spindle shared segment")
        }
        let mapping: UnsafeMutableRawPointer
        do {
            mapping = try mapShared(fd, byteCount: size)
        } catch {
            close(fd)
            throw error
        }
        let magic = mapping.load(fromByteOffset: 0, as: UInt64.self)
        let kind = Kind(rawValue: mapping.load(fromByteOffset: 8, as: UInt32.self))
        let byteCount = mapping.load(fromByteOffset: 16, as: UInt64.self)
        guard magic == Self.magic, kind == expected, byteCount <= UInt64(size - Self.headerSize) else {
            munmap(mapping, size)
            close(fd)
            let found = magic == Self.magic ? "a \(kind.map { "\($0)" } ?? "corrupt") segment" : "not a Spindle segment"
            throw SpindleError(.encodingFailed, "a handle to a shared \(expected) names \(found)")
        }
        self.kind = expected
        self.descriptor = fd
        self.byteCount = Int(byteCount)
        self.mapping = mapping
        self.mappedBytes = size
        self.bytes = mapping + Self.headerSize
        self.isOwner = owning
        self.leased = nil
        self.onRelease = nil
        if owning { owners.pointee.add(1, ordering: .acquiringAndReleasing) }
    }

    deinit {
        if leased != nil {
            onRelease?()
            return
        }
        if isOwner { owners.pointee.subtract(1, ordering: .acquiringAndReleasing) }
        munmap(mapping, mappedBytes)
        closeDescriptor(descriptor)
    }

    /// The header's owner count, shared by every process that maps the segment.
    private var owners: UnsafeMutablePointer<Atomic<UInt32>> {
        (mapping + 24).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Whether any process still holds the segment as an owner.
    package var hasOwners: Bool { owners.pointee.load(ordering: .acquiring) > 0 }

    /// The segment's identity on this machine (device and inode of its memfd), the same in every
    /// process that has it open.
    package var identity: Identity {
        // fstat of a descriptor this object keeps open cannot fail.
        Identity(of: descriptor)!
    }

    /// Which file a segment is: what a worker's cache looks up a received descriptor by.
    package struct Identity: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64

        init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }

        /// The identity of the file open as `fd`, or `nil` when `fstat` fails.
        init?(of fd: Int32) {
            var status = stat()
            guard fstat(fd, &status) == 0 else { return nil }
            self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }
    }
}
