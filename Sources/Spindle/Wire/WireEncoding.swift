/// The state of one ``WireEncoder/encode(_:into:)`` call: the output, the key table, the open containers.
///
/// Values are written straight to the output in one pass. Each value that has its own `encode(to:)`
/// gets a *frame* on a stack; a container's byte length is reserved when it opens and filled in when
/// its frame closes, which happens when its value's `encode(to:)` returns or when a container below
/// it on the stack is written to again.
final class WireEncoding {
    /// What one value, or one nested container, being encoded has written so far: a frame of the stack.
    ///
    /// Not named `Frame`: that is the transport's unit, in `Frame.swift`.
    struct OpenValue {
        /// Identifies this frame among all frames of the message, so a stale container is detected.
        let id: Int
        /// The container the value asked for, if any.
        var kind: Kind
        /// Where the container's length placeholder starts.
        var lengthOffset: Int
        /// The bytes reserved there for the length (and an unkeyed container's count).
        var reserved: Int
        /// Elements written so far, for an unkeyed container.
        var count: Int
        /// Where this value sits in its parent, for coding paths.
        let key: (any CodingKey)?
    }

    /// Which container a frame's value uses.
    enum Kind {
        case none, keyed, unkeyed, singleValue, filledSingleValue
    }

    // Every stored property is `@exclusivity(unchecked)`: one encode call owns this object and never
    // overlaps two accesses to a property, and the run-time checks cost a fifth of the encoding time.

    /// The output; the caller's buffer is swapped in and out, so its existing bytes stay in front.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// Whether the whole message was written.
    @exclusivity(unchecked) private(set) var finished = false
    @exclusivity(unchecked) private var frames: [OpenValue] = []
    @exclusivity(unchecked) private var nextFrameID = 1
    /// The first misuse of a container, thrown at the end if no write threw it sooner.
    @exclusivity(unchecked) private var misuse: WireError?

    /// One key of the table: its name, and the index of the key written after it last time.
    struct KeyEntry {
        let name: String
        var next: Int
    }

    /// The key table: this message's keys in first-use order (the first ``usedKeys``), then what
    /// remains of the previous message's table, which this one will likely repeat.
    ///
    /// Arrays of structs write the same keys in the same order over and over, so comparing the
    /// next key with the predicted one (two words, for short strings) usually finds it.
    @exclusivity(unchecked) var keys: [KeyEntry] = []
    /// How many of ``keys`` this message uses.
    @exclusivity(unchecked) var usedKeys = 0
    /// Key indices by name, built only once the table is too long to search linearly.
    @exclusivity(unchecked) var keyIndices: [String: Int] = [:]
    /// The index of the key written last (`-1` at first), and of the key written first.
    @exclusivity(unchecked) var previousKey = -1
    @exclusivity(unchecked) var firstKey = -1
    /// The bytes of the last short key table written, with its trailer, and its number of keys
    /// (`-1` when none is kept): they are ``keys``' first entries, unchanged since.
    @exclusivity(unchecked) var keyTableMemo: [UInt8] = []
    @exclusivity(unchecked) var keyTableMemoCount = -1
    /// The fast paths of the last two types asked about: see ``fastEncodable(_:)``.
    @exclusivity(unchecked) private var recentFastPaths = WireRecentTypes<any WireFastEncodable.Type>()
    /// The shared segments the message's handles name, sent with it as descriptors; `nil` when the
    /// message cannot carry any.
    @exclusivity(unchecked) var segments: [SharedSegment]?
    /// Where large packed arrays go instead of the message, if anywhere.
    @exclusivity(unchecked) var spill: SpillArea?

    /// Spills `elements` and attaches the segment; returns its index among the attachments, or
    /// `nil` when the array must go in the message.
    func attachSpilled(_ elements: UnsafeRawBufferPointer) -> Int? {
        guard let spill, let attached = segments?.count, attached < Frame.maximumAttachments,
            let lease = spill.spill(elements)
        else { return nil }
        return append(attachment: lease)
    }

    /// The index of `segment` among the message's attachments, adding it the first time.
    ///
    /// - Throws: `EncodingError.invalidValue` when the message cannot carry segments or already
    ///   carries ``Frame/maximumSharedValues``.
    func attach(_ segment: SharedSegment, of type: Any.Type, codingPath: [any CodingKey]) throws -> Int {
        func refuse(_ reason: String) -> EncodingError {
            .invalidValue(type, .init(codingPath: codingPath, debugDescription: reason))
        }
        guard let attached = segments else {
            throw refuse("\(type) is shared memory, and this message cannot carry shared memory")
        }
        if let index = attached.firstIndex(where: { $0 === segment }) { return index }
        guard attached.count(where: { $0.kind != .spill }) < Frame.maximumSharedValues else {
            throw refuse("a message may carry at most \(Frame.maximumSharedValues) shared segments")
        }
        return append(attachment: segment)
    }

    /// Adds `segment` to the message's attachments, which must be on, and returns its index.
    private func append(attachment segment: SharedSegment) -> Int {
        // Taken out while appended to, so that the array is not copied.
        var attached = segments!
        segments = nil
        attached.append(segment)
        segments = attached
        return attached.count - 1
    }

    // MARK: Reuse

    /// The calling thread's spare encoding state: see ``lend()``.
    private static let spare = ThreadSpare<WireEncoding>()

    /// An encoding state for one message: the calling thread's spare, or a new one.
    ///
    /// Reusing one saves its allocations (the object, the stack of frames, the key table) and
    /// keeps its cache of fast paths; for a small struct that is a fifth of the encoding time.
    ///
    /// The spare is reset here, not when given back: a value that kept its `Encoder` past its
    /// message and wrote to it since has marked the spare's state, which must not fail this message.
    static func lend() -> WireEncoding {
        guard let spare = spare.take() else { return WireEncoding() }
        spare.finished = false
        spare.frames.removeAll(keepingCapacity: true)
        spare.misuse = nil
        // The previous message's keys stay, to be confirmed one by one. A state whose table grew
        // past a linear search (with `keyIndices` built) was not kept: see `giveBack()`.
        spare.usedKeys = 0
        spare.previousKey = -1
        return spare
    }

    /// Keeps this state as the calling thread's spare, unless it grew large.
    ///
    /// What the message referred to is let go of here: a spilled array's lease must not outlive
    /// its message.
    func giveBack() {
        segments = nil
        spill = nil
        guard frames.capacity <= 64, keyIndices.isEmpty, bytes.isEmpty else { return }
        Self.spare.giveBack(self)
    }

    /// Writes `value` as a complete message: the value, the key table and the trailer.
    func encodeMessage<T: Encodable>(_ value: T) throws {
        try encodeValue(value, key: nil)
        closeFrames(downTo: 0)
        if let misuse { throw misuse }
        writeKeyTable()
        finished = true
    }

    /// Writes one value, by a fast path for standard types or else by its own `encode(to:)`.
    func encodeValue<T: Encodable>(_ value: T, key: (any CodingKey)?) throws {
        // Measured on x86_64: a metatype compare with a leaf type costs under a nanosecond (one with
        // a generic type such as `[Double]` about 1.5 ns, as its metadata is looked up), while the
        // conformance cast in `fastEncodable` costs 30-45 ns. So leaves are compared first, and the
        // cast, which also covers `Optional` and `ContiguousArray`, is cached.
        if T.self == String.self {
            writeString(unsafeBitCast(value, to: String.self))
        } else if T.self == Int.self {
            writeInteger(unsafeBitCast(value, to: Int.self))
        } else if T.self == Double.self {
            writeDouble(unsafeBitCast(value, to: Double.self))
        } else if T.self == Bool.self {
            writeBool(unsafeBitCast(value, to: Bool.self))
        } else if !encodeLeafIfNumber(value) {
            if let fast = fastEncodable(T.self) {
                try fast.wireEncode(value, someLayers: 0, key: key, into: self)
            } else {
                try encodeComposite(value, key: key)
            }
        }
    }

    /// Writes `value` if it is one of the fixed-width numbers other than `Int` and `Double`.
    private func encodeLeafIfNumber<T>(_ value: T) -> Bool {
        if T.self == Int64.self {
            writeInteger(unsafeBitCast(value, to: Int64.self))
        } else if T.self == UInt64.self {
            writeInteger(unsafeBitCast(value, to: UInt64.self))
        } else if T.self == UInt.self {
            writeInteger(unsafeBitCast(value, to: UInt.self))
        } else if T.self == Int32.self {
            writeInteger(unsafeBitCast(value, to: Int32.self))
        } else if T.self == UInt32.self {
            writeInteger(unsafeBitCast(value, to: UInt32.self))
        } else if T.self == Int16.self {
            writeInteger(unsafeBitCast(value, to: Int16.self))
        } else if T.self == UInt16.self {
            writeInteger(unsafeBitCast(value, to: UInt16.self))
        } else if T.self == Int8.self {
            writeInteger(unsafeBitCast(value, to: Int8.self))
        } else if T.self == UInt8.self {
            writeInteger(unsafeBitCast(value, to: UInt8.self))
        } else if T.self == Float.self {
            writeFloat(unsafeBitCast(value, to: Float.self))
        } else {
            return false
        }
        return true
    }

    /// `T`'s fast path, if it has one.
    ///
    /// The dynamic cast is a conformance lookup in the runtime's global cache (30-45 ns); arrays of
    /// structs ask about the same two types again and again, so remember the last two answers here.
    private func fastEncodable<T>(_ type: T.Type) -> (any WireFastEncodable.Type)? {
        recentFastPaths.answer(for: T.self) { T.self as? any WireFastEncodable.Type }
    }

    /// Writes a value through its own `encode(to:)`, in a frame of its own.
    private func encodeComposite<T: Encodable>(_ value: T, key: (any CodingKey)?) throws {
        let (depth, id) = try pushFrame(key: key)
        try value.encode(to: WireValueEncoder(encoding: self, depth: depth, id: id))
        closeFrames(downTo: depth)
    }
}

// MARK: - Frames

extension WireEncoding {
    /// Opens a frame for a value about to be written at the end of the output.
    ///
    /// - Returns: The frame's depth and id, which its encoder and containers carry.
    func pushFrame(key: (any CodingKey)?) throws(WireError) -> (depth: Int, id: Int) {
        guard frames.count < wireMaximumDepth else {
            let path = WireError.describe(codingPath(depth: frames.count) + (key.map { [$0] } ?? []))
            throw WireError("cannot encode: values nest deeper than \(wireMaximumDepth) levels at \(path)")
        }
        // Reserved here rather than in `init`, so that a message of leaves and packed arrays allocates
        // no stack; most messages nest a few levels, which one allocation covers.
        if frames.capacity == 0 { frames.reserveCapacity(8) }
        let id = nextFrameID
        nextFrameID += 1
        frames.append(OpenValue(id: id, kind: .none, lengthOffset: 0, reserved: 0, count: 0, key: key))
        return (frames.count - 1, id)
    }

    /// Makes the frame at `depth` the top of the stack, closing any nested frames above it.
    ///
    /// - Returns: `false`, after recording the misuse, if that frame was closed already.
    @inline(__always)
    func prepareWrite(depth: Int, id: Int) -> Bool {
        if depth == frames.count - 1 && frames[depth].id == id { return true }
        return prepareWriteSlowly(depth: depth, id: id)
    }

    private func prepareWriteSlowly(depth: Int, id: Int) -> Bool {
        guard depth < frames.count, frames[depth].id == id else {
            recordMisuse(
                "a container was written to after a later sibling value; the wire encoder writes in "
                    + "one pass, so fill nested containers and super-encoders before writing to their parent"
            )
            return false
        }
        closeFrames(downTo: depth + 1)
        return true
    }

    /// Gives the value of the frame at `depth` a container of `kind`, writing its header.
    ///
    /// Asking again for the same kind returns the same container, so a subclass and its superclass
    /// can share one keyed container.
    ///
    /// - Returns: `false` if the frame is stale or already has a different container.
    func useFrame(depth: Int, id: Int, as kind: Kind) -> Bool {
        guard prepareWrite(depth: depth, id: id) else { return false }
        switch (frames[depth].kind, kind) {
        case (.none, _):
            openContainer(kind, inFrameAt: depth)
            return true
        case (.keyed, .keyed), (.unkeyed, .unkeyed), (.singleValue, .singleValue), (.filledSingleValue, .singleValue):
            return true
        default:
            recordMisuse("a value asked its encoder for a \(kind) container after using a \(frames[depth].kind) one")
            return false
        }
    }

    /// Pushes a frame for a nested container or super-encoder and opens its container.
    func pushNestedFrame(_ kind: Kind, key: any CodingKey) -> (depth: Int, id: Int) {
        do {
            let frame = try pushFrame(key: key)
            openContainer(kind, inFrameAt: frame.depth)
            return frame
        } catch {
            if misuse == nil { misuse = error }
            return (0, 0)
        }
    }

    private func openContainer(_ kind: Kind, inFrameAt depth: Int) {
        frames[depth].kind = kind
        frames[depth].lengthOffset = bytes.count + 1
        switch kind {
        case .keyed:
            bytes.append(contentsOf: [WireTag.keyed, 0])
            frames[depth].reserved = 1
        case .unkeyed:
            bytes.append(contentsOf: [WireTag.unkeyed, 0, 0])
            frames[depth].reserved = 2
        case .none, .singleValue, .filledSingleValue: break
        }
    }

    /// Marks a single value container's one value as written.
    ///
    /// - Returns: `false` if the frame is stale or already holds a value.
    func fillSingleValue(depth: Int, id: Int) -> Bool {
        guard prepareWrite(depth: depth, id: id) else { return false }
        guard frames[depth].kind == .singleValue else {
            recordMisuse("a single value container was asked to encode a second value")
            return false
        }
        frames[depth].kind = .filledSingleValue
        return true
    }

    /// Counts one more element written to the unkeyed container of the frame at `depth`.
    func countElement(depth: Int) -> Int {
        frames[depth].count += 1
        return frames[depth].count - 1
    }

    /// The number of elements written to the unkeyed container of the frame at `depth`.
    func elementCount(depth: Int, id: Int) -> Int {
        depth < frames.count && frames[depth].id == id ? frames[depth].count : 0
    }

    /// Closes every frame at `depth` or above, filling in container lengths.
    func closeFrames(downTo depth: Int) {
        while frames.count > depth {
            let frame = frames.removeLast()
            switch frame.kind {
            case .none:
                // Nothing was written (a super-encoder left unused, an empty `encode(to:)`): an
                // empty keyed container decodes as a struct with no fields present.
                bytes.append(contentsOf: [WireTag.keyed, 0])
            case .keyed:
                patchLength(at: frame.lengthOffset, reserved: frame.reserved, count: nil)
            case .unkeyed:
                patchLength(at: frame.lengthOffset, reserved: frame.reserved, count: frame.count)
            case .singleValue:
                recordMisuse("a single value container was closed without encoding a value")
                bytes.append(WireTag.null)
            case .filledSingleValue:
                break
            }
        }
    }

    /// Fills in a container's byte length (and element count) in the `reserved` bytes at `offset`,
    /// widening a narrow placeholder if needed; a widened one gets padded varints.
    fileprivate func patchLength(at offset: Int, reserved placeholderSize: Int, count: Int?) {
        if placeholderSize == Self.wideVarint * (count == nil ? 1 : 2) {
            var cursor = offset
            Self.storePaddedVarint(UInt64(bytes.count - offset - Self.wideVarint), in: &bytes, at: &cursor)
            if let count { Self.storePaddedVarint(UInt64(count), in: &bytes, at: &cursor) }
            return
        }
        let contentStart = offset + placeholderSize
        let countSize = count.map { Self.varintSize(UInt64($0)) } ?? 0
        let length = bytes.count - contentStart + countSize
        let headerSize = Self.varintSize(UInt64(length)) + countSize
        if headerSize > placeholderSize {
            bytes.insert(contentsOf: repeatElement(0, count: headerSize - placeholderSize), at: contentStart)
        }
        var cursor = offset
        Self.storeVarint(UInt64(length), in: &bytes, at: &cursor)
        if let count { Self.storeVarint(UInt64(count), in: &bytes, at: &cursor) }
    }

    /// Gives every open container a placeholder wide enough for any length, before a value of
    /// `byteCount` bytes is appended inside them.
    ///
    /// A narrow placeholder is widened when its container closes, by moving all its contents: for
    /// a large packed array that is one more copy of it, as costly as encoding it. Moving what the
    /// open containers hold so far, before the array, costs next to nothing; the price is a few
    /// bytes of padding per container, so only large values pay it. Never called inside a
    /// container begun by ``beginUnkeyedContainer()``, whose caller holds its offset.
    func widenOpenContainers(before byteCount: Int) {
        guard byteCount >= Self.widenThreshold else { return }
        var shift = 0
        for depth in frames.indices {
            frames[depth].lengthOffset += shift
            let wide: Int
            switch frames[depth].kind {
            case .keyed: wide = Self.wideVarint
            case .unkeyed: wide = 2 * Self.wideVarint
            case .none, .singleValue, .filledSingleValue: continue
            }
            let extra = wide - frames[depth].reserved
            guard extra > 0 else { continue }
            bytes.insert(
                contentsOf: repeatElement(0, count: extra),
                at: frames[depth].lengthOffset + frames[depth].reserved
            )
            frames[depth].reserved = wide
            shift += extra
        }
    }

    /// Values at least this large make their open containers wide: see ``widenOpenContainers(before:)``.
    static let widenThreshold = 16 << 10
    /// The bytes of a padded varint: any 64-bit value.
    static let wideVarint = 10

    /// Overwrites ``wideVarint`` bytes from `offset` with `value` as a varint padded with
    /// continuation bytes (which any LEB128 reader accepts), advancing `offset` past it.
    static func storePaddedVarint(_ value: UInt64, in bytes: inout [UInt8], at offset: inout Int) {
        for index in 0..<wideVarint {
            let group = UInt8(truncatingIfNeeded: value >> (7 * UInt64(index))) & 0x7F
            bytes[offset] = index == wideVarint - 1 ? group : group | 0x80
            offset += 1
        }
    }

    private func recordMisuse(_ message: String) {
        if misuse == nil { misuse = WireError("cannot encode: \(message)") }
    }

    /// The error to throw from a container whose frame is stale.
    var misuseError: WireError { misuse ?? WireError("cannot encode: a container was used out of order") }

    /// The coding path of the value in the frame at `depth`.
    func codingPath(depth: Int) -> [any CodingKey] {
        frames.prefix(min(depth + 1, frames.count)).compactMap(\.key)
    }
}

// MARK: - Containers written without a frame

extension WireEncoding {
    /// Writes an unkeyed container's header for elements written directly, with no user code between.
    ///
    /// - Returns: The offset to pass to ``endUnkeyedContainer(_:count:)``.
    func beginUnkeyedContainer() -> Int {
        bytes.append(contentsOf: [WireTag.unkeyed, 0, 0])
        return bytes.count - 2
    }

    /// Fills in the header written by ``beginUnkeyedContainer()``.
    func endUnkeyedContainer(_ lengthOffset: Int, count: Int) {
        patchLength(at: lengthOffset, reserved: 2, count: count)
    }
}
