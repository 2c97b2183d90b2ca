// The byte-level writers: tags, varints, numbers, strings, packed arrays, keys and the key table.
extension WireEncoding {
    /// Appends `value` as an unsigned LEB128 varint.
    @inline(__always)
    func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// The number of bytes `writeVarint(value)` appends.
    static func varintSize(_ value: UInt64) -> Int {
        (64 - value.leadingZeroBitCount + 6) / 7 + (value == 0 ? 1 : 0)
    }

    /// Overwrites bytes from `offset` with `value` as a varint, advancing `offset` past it.
    static func storeVarint(_ value: UInt64, in bytes: inout [UInt8], at offset: inout Int) {
        var value = value
        while value >= 0x80 {
            bytes[offset] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            offset += 1
        }
        bytes[offset] = UInt8(value)
        offset += 1
    }

    /// Appends an integer of any width: small ones in the tag, others as a sign tag and a varint.
    @inline(__always)
    func writeInteger<I: FixedWidthInteger>(_ value: I) {
        if value < 0 {
            bytes.append(WireTag.negative)
            writeVarint(UInt64(truncatingIfNeeded: ~Int64(value)))
        } else if value < 64 {
            bytes.append(WireTag.smallInteger | UInt8(truncatingIfNeeded: value))
        } else {
            bytes.append(WireTag.unsigned)
            writeVarint(UInt64(value))
        }
    }

    /// Appends `nil`, under `someLayers` layers of `.some` when it is a nested optional's value.
    func writeNil(someLayers: Int = 0) {
        if someLayers == 0 {
            bytes.append(WireTag.null)
        } else {
            bytes.append(WireTag.nestedNull)
            writeVarint(UInt64(someLayers))
        }
    }

    /// Appends a `Bool`.
    @inline(__always)
    func writeBool(_ value: Bool) {
        bytes.append(value ? WireTag.trueValue : WireTag.falseValue)
    }

    /// Appends a `Float`'s bits.
    func writeFloat(_ value: Float) {
        bytes.append(WireTag.float32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a `Double`'s bits.
    @inline(__always)
    func writeDouble(_ value: Double) {
        bytes.append(WireTag.float64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a string's UTF-8 bytes with one copy.
    func writeString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            if utf8.count < 64 {
                bytes.append(WireTag.smallString | UInt8(truncatingIfNeeded: utf8.count))
            } else {
                bytes.append(WireTag.string)
                writeVarint(UInt64(utf8.count))
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(utf8))
        }
    }

    /// Appends a packed array: kind, count, then the elements' bytes with one copy.
    func writePacked(_ kind: WirePackedKind, count: Int, elements: UnsafeRawBufferPointer) {
        if elements.count >= SpillArea.threshold, let index = attachSpilled(elements) {
            bytes.append(WireTag.spilled)
            bytes.append(kind.rawValue)
            writeVarint(UInt64(count))
            writeVarint(UInt64(index))
            return
        }
        widenOpenContainers(before: elements.count)
        bytes.reserveCapacity(bytes.count + elements.count + 12)
        bytes.append(WireTag.packed)
        bytes.append(kind.rawValue)
        writeVarint(UInt64(count))
        bytes.append(contentsOf: elements)
    }

    /// Appends a field's key as its index in the key table, adding it to the table on first use.
    ///
    /// The table of the thread's previous message is still in ``keys``, beyond ``usedKeys``: a
    /// message of the same type uses the same keys in the same order, so each of its keys is found
    /// where the prediction says and confirmed there, with no search and no copy of its name.
    func writeKey(_ name: String) {
        let predicted = previousKey < 0 ? firstKey : keys[previousKey].next
        let index: Int
        if predicted >= 0 && predicted <= usedKeys && predicted < keys.count && keys[predicted].name == name {
            index = predicted
            if index == usedKeys { usedKeys += 1 }
        } else {
            index = lookUpOrAddKey(name)
            if previousKey < 0 { firstKey = index } else { keys[previousKey].next = index }
        }
        previousKey = index
        writeVarint(UInt64(index))
    }

    /// The index of `name` in this message's key table, added if new.
    private func lookUpOrAddKey(_ name: String) -> Int {
        // Most messages have a few keys: a linear search beats building a dictionary for each.
        if usedKeys <= Self.linearKeySearchLimit {
            if let index = keys[..<usedKeys].firstIndex(where: { $0.name == name }) { return index }
        } else if let index = keyIndices[name] {
            return index
        }
        // A new key for this message takes the next index: the previous message's key there, if
        // it is the same, or else a new entry in place of the previous message's remaining keys.
        if usedKeys < keys.count && keys[usedKeys].name != name {
            keys.removeSubrange(usedKeys...)
            if keyTableMemoCount > usedKeys { keyTableMemoCount = -1 }
        }
        if usedKeys == keys.count {
            if keys.capacity == 0 { keys.reserveCapacity(8) }
            keys.append(KeyEntry(name: name, next: -1))
        }
        usedKeys += 1
        if usedKeys > Self.linearKeySearchLimit {
            if keyIndices.isEmpty {
                for index in 0..<usedKeys { keyIndices[keys[index].name] = index }
            } else {
                keyIndices[name] = usedKeys - 1
            }
        }
        return usedKeys - 1
    }

    /// Tables of up to this many keys are searched linearly, larger ones through ``keyIndices``.
    static let linearKeySearchLimit = 16

    /// Appends the key table and the trailer that locates it.
    ///
    /// Messages of one type repeat their table, so the last short table written is kept, as bytes,
    /// and copied when this message's keys are the same.
    func writeKeyTable() {
        if usedKeys > 0 && usedKeys == keyTableMemoCount {
            bytes.append(contentsOf: keyTableMemo)
            return
        }
        let start = bytes.count
        if usedKeys > 0 {
            writeVarint(UInt64(usedKeys))
            for index in 0..<usedKeys {
                var key = keys[index].name
                key.withUTF8 { utf8 in
                    writeVarint(UInt64(utf8.count))
                    bytes.append(contentsOf: UnsafeRawBufferPointer(utf8))
                }
            }
        }
        // The trailer is a varint written back to front: a decoder reads it from the last byte.
        let trailerStart = bytes.count
        writeVarint(UInt64(trailerStart - start))
        bytes[trailerStart...].reverse()
        if usedKeys > 0 && bytes.count - start <= Self.keyTableMemoLimit {
            keyTableMemo.removeAll(keepingCapacity: true)
            keyTableMemo.append(contentsOf: bytes[start...])
            keyTableMemoCount = usedKeys
        }
    }

    /// The longest key table, trailer included, that is kept for the next message.
    static let keyTableMemoLimit = 256
}
