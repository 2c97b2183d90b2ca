import Synchronization

/// One value that processes update atomically, such as a counter of items done or a flag to stop:
/// `Synchronization.Atomic` in memory that processes share.
///
/// It crosses to a ``ProcessPool``'s worker as a handle to the same memory, and on a ``ThreadPool``
/// it is simply shared, so that a job can count or signal the same way on both.
///
/// ```swift
/// struct Work: Job {
///     var done: SharedAtomic<Int>
///     func run(_ x: Int) async throws -> Int {
///         defer { done.add(1) }
///         return x * x
///     }
/// }
/// let done = try SharedAtomic(0)
/// ```
///
/// The value is any ``SharedAtomicValue``: the integer types, `Bool` and `Double`, held in one
/// 64-bit word. Every operation is sequentially consistent, the ordering that is hardest to get
/// wrong (and costs the same as any other on x86).
public struct SharedAtomic<Value: SharedAtomicValue>: @unchecked Sendable {
    // @unchecked Sendable: every access to the value is atomic.
    private let segment: SharedSegment

    /// Makes a shared atomic holding `value`.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when shared memory cannot be had.
    public init(_ value: Value) throws(SpindleError) {
        segment = try SharedSegment(kind: .atomic, byteCount: MemoryLayout<Atomic<UInt64>>.size)
        atomic.initialize(to: Atomic(value.sharedAtomicBits))
    }

    private init(segment: SharedSegment) {
        self.segment = segment
    }

    private var atomic: UnsafeMutablePointer<Atomic<UInt64>> {
        segment.bytes.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The value now.
    public func load() -> Value {
        Value(sharedAtomicBits: atomic.pointee.load(ordering: .sequentiallyConsistent))
    }

    /// Replaces the value.
    public func store(_ value: Value) {
        atomic.pointee.store(value.sharedAtomicBits, ordering: .sequentiallyConsistent)
    }

    /// Replaces the value and returns the one it replaced.
    @discardableResult
    public func exchange(_ value: Value) -> Value {
        Value(sharedAtomicBits: atomic.pointee.exchange(value.sharedAtomicBits, ordering: .sequentiallyConsistent))
    }

    /// Replaces the value with `desired` if it is `expected`; returns whether it did, and the value
    /// it found.
    @discardableResult
    public func compareExchange(
        expected: Value,
        desired: Value
    ) -> (exchanged: Bool, original: Value) {
        let (exchanged, original) = atomic.pointee.compareExchange(
            expected: expected.sharedAtomicBits,
            desired: desired.sharedAtomicBits,
            ordering: .sequentiallyConsistent
        )
        return (exchanged, Value(sharedAtomicBits: original))
    }
}

extension SharedAtomic {
    /// Replaces the value with `transform` of it, atomically (a compare-and-swap loop), and
    /// returns the new value.
    private func update(_ transform: (Value) -> Value) -> Value {
        var current = atomic.pointee.load(ordering: .relaxed)
        while true {
            let next = transform(Value(sharedAtomicBits: current))
            let (exchanged, original) = atomic.pointee.weakCompareExchange(
                expected: current,
                desired: next.sharedAtomicBits,
                ordering: .sequentiallyConsistent
            )
            if exchanged { return next }
            current = original
        }
    }
}

extension SharedAtomic where Value: FixedWidthInteger {
    /// Adds `delta`, wrapping around on overflow, and returns the new value.
    @discardableResult
    public func add(_ delta: Value) -> Value {
        update { $0 &+ delta }
    }
}

extension SharedAtomic: Codable {
    /// Writes a handle to the value's memory; only a Spindle pool's messages can carry it.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder) { container in
            try container.encode(_mangledTypeName(Value.self) ?? "\(Value.self)")
        }
    }

    /// Reads a handle written by ``encode(to:)`` and maps the memory it names.
    public init(from decoder: any Decoder) throws {
        var (segment, container) = try SharedSegment.decodeHandle(kind: .atomic, of: Self.self, from: decoder)
        let typeName = try container.decode(String.self)
        guard typeName == _mangledTypeName(Value.self) ?? "\(Value.self)",
            segment.byteCount >= MemoryLayout<Atomic<UInt64>>.size
        else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a SharedAtomic handle of another type where \(Value.self) was expected"
                )
            )
        }
        self.init(segment: segment)
    }
}

/// A value that a ``SharedAtomic`` can hold: one that fits in a 64-bit word and means the same in
/// every process.
public protocol SharedAtomicValue: Sendable {
    /// The value held in `sharedAtomicBits`.
    init(sharedAtomicBits: UInt64)
    /// The value as a 64-bit word; equal values must give equal words.
    var sharedAtomicBits: UInt64 { get }
}

extension SharedAtomicValue where Self: FixedWidthInteger {
    /// The integer whose low bits the word holds.
    public init(sharedAtomicBits: UInt64) { self.init(truncatingIfNeeded: sharedAtomicBits) }
    /// The integer's bits, sign-extended to 64.
    public var sharedAtomicBits: UInt64 { UInt64(truncatingIfNeeded: self) }
}

extension Int: SharedAtomicValue {}
extension Int64: SharedAtomicValue {}
extension Int32: SharedAtomicValue {}
extension Int16: SharedAtomicValue {}
extension Int8: SharedAtomicValue {}
extension UInt: SharedAtomicValue {}
extension UInt64: SharedAtomicValue {}
extension UInt32: SharedAtomicValue {}
extension UInt16: SharedAtomicValue {}
extension UInt8: SharedAtomicValue {}

extension Bool: SharedAtomicValue {
    /// `true` for any word but 0.
    public init(sharedAtomicBits: UInt64) { self = sharedAtomicBits != 0 }
    /// 1 for `true`, 0 for `false`.
    public var sharedAtomicBits: UInt64 { self ? 1 : 0 }
}

extension Double: SharedAtomicValue {
    /// The double with these IEEE 754 bits.
    public init(sharedAtomicBits: UInt64) { self.init(bitPattern: sharedAtomicBits) }
    /// The double's IEEE 754 bits.
    public var sharedAtomicBits: UInt64 { bitPattern }
}

extension SharedAtomic where Value == Double {
    /// Adds `delta` and returns the new value: how workers accumulate a sum.
    @discardableResult
    public func add(_ delta: Double) -> Double {
        update { $0 + delta }
    }
}
