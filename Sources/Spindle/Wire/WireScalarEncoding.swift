/// The scalar `encode` methods that unkeyed and single-value containers share: each readies its
/// container (``beginScalar()``) and writes the value the same way.
protocol WireScalarEncoding {
    var encoding: WireEncoding { get }

    /// Makes the container ready for one more value, or throws if it may not take one.
    func beginScalar() throws
}

extension WireScalarEncoding {
    mutating func encodeNil() throws {
        try beginScalar()
        encoding.writeNil()
    }

    mutating func encode(_ value: Bool) throws {
        try beginScalar()
        encoding.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        try beginScalar()
        encoding.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        try beginScalar()
        encoding.writeDouble(value)
    }

    mutating func encode(_ value: Float) throws {
        try beginScalar()
        encoding.writeFloat(value)
    }

    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    @inline(__always)
    private func encodeInteger<I: FixedWidthInteger>(_ value: I) throws {
        try beginScalar()
        encoding.writeInteger(value)
    }
}
