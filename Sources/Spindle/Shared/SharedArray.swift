/// A fixed-size array in memory that processes share: what a job reads or fills without its data
/// being copied to and from a worker.
///
/// A `SharedArray` can be a job's property, input or output. It crosses to a ``ProcessPool``'s
/// worker as a handle, never as a copy: the worker maps the same pages, so what either side writes
/// the other sees. On a ``ThreadPool`` it is simply the same memory. Either way, code runs unchanged
/// on both pools.
///
/// ```swift
/// struct Sum: Job {
///     var data: ReadOnlySharedArray<Double>
///     func run(_ range: Range<Int>) async throws -> Double {
///         data.withUnsafeBufferPointer { $0[range].reduce(0, +) }
///     }
/// }
///
/// let data = try SharedArray<Double>(repeating: 1, count: 1 << 21)   // 16 MiB
/// let total = try await pool.submit(Sum(data: data.readOnly), 0..<data.count).value
/// ```
///
/// ## Sharing, not copying
///
/// `SharedArray` has *reference* semantics, like the memory it stands for: copies of a value, and
/// the values decoded from it in other processes, are views of the same elements, and writing
/// through any of them changes them all (which is why the subscript's setter is nonmutating).
/// Concurrent writes to the same element, or a write concurrent with a read, are a data race, as
/// they are with threads: give each worker its own ``slice(_:)`` to fill, or use a ``SharedAtomic``
/// or a ``ProcessLock``.
///
/// ## Lifetime
///
/// The memory lives while any value in any process refers to it, and is freed by the kernel when
/// the last one goes, even if processes are killed: it has no name to leave behind. A pool keeps the
/// arrays of a task alive until the task is done. A worker keeps the arrays its jobs received
/// mapped between tasks, so that running a job again on the same array costs nothing; it lets go
/// once no other process holds the array.
///
/// Elements must be `BitwiseCopyable` (numbers, `Bool`, tuples and structs of them): anything with a
/// reference or a pointer means nothing in another process.
public struct SharedArray<Element: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked Sendable: like an UnsafeMutableBufferPointer that owns its memory; the type
    // documents that synchronising access to the elements is the caller's business.

    let segment: SharedSegment
    /// The index in the segment of this view's first element.
    let offset: Int
    /// The number of elements.
    public let count: Int

    init(segment: SharedSegment, offset: Int, count: Int) {
        self.segment = segment
        self.offset = offset
        self.count = count
    }

    /// Makes an array of `count` elements, each `value`, in new shared memory.
    ///
    /// - Throws: ``SpindleError/Code/invalidArgument`` for a negative count,
    ///   ``SpindleError/Code/systemError`` when the memory cannot be had.
    public init(repeating value: Element, count: Int) throws(SpindleError) {
        try self.init(uninitializedCount: count)
        withUnsafeMutableBufferPointer { $0.initialize(repeating: value) }
    }

    /// Makes an array holding `elements`, in new shared memory.
    ///
    /// - Throws: ``SpindleError/Code/systemError`` when the memory cannot be had.
    public init(_ elements: some Collection<Element>) throws(SpindleError) {
        try self.init(uninitializedCount: elements.count)
        _ = withUnsafeMutableBufferPointer { $0.initialize(from: elements) }
    }

    /// Memory for `count` elements, zero bits until written.
    private init(uninitializedCount count: Int) throws(SpindleError) {
        let stride = MemoryLayout<Element>.stride
        guard count >= 0 else { throw SpindleError(.invalidArgument, "a SharedArray of \(count) elements") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: Swift.max(stride, 1))
        guard !overflow else { throw SpindleError(.invalidArgument, "a SharedArray of \(count) elements is too large") }
        precondition(MemoryLayout<Element>.alignment <= SharedSegment.headerSize)
        self.init(segment: try SharedSegment(kind: .array, byteCount: bytes), offset: 0, count: count)
    }

    private var base: UnsafeMutablePointer<Element> {
        segment.bytes.assumingMemoryBound(to: Element.self) + offset
    }

    /// The element at `index`, which must be in `0..<count`; setting it writes the shared memory.
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            return base[index]
        }
        nonmutating set {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            base[index] = newValue
        }
    }

    /// Calls `body` with the elements, to read many of them at the speed of a plain array.
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the elements, to write many of them at the speed of a plain array.
    public func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// The elements in `range`, as an array of their own that shares their memory: how N workers
    /// each fill their own part of one output. Its indices start at 0.
    public func slice(_ range: Range<Int>) -> SharedArray {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= count,
            "SharedArray slice \(range) out of range 0..<\(count)"
        )
        return SharedArray(segment: segment, offset: offset + range.lowerBound, count: range.count)
    }

    /// A view of the same elements that cannot write them: what to give a job whose input must not change.
    public var readOnly: ReadOnlySharedArray<Element> { ReadOnlySharedArray(self) }

    /// Whether two arrays are views of the same shared memory (not whether their elements are equal).
    public func sharesMemory(with other: SharedArray) -> Bool { segment === other.segment }

    /// Copies the elements into an ordinary array.
    public var elements: [Element] { withUnsafeBufferPointer { Array($0) } }
}

extension SharedArray: RandomAccessCollection, MutableCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
}

extension SharedArray: CustomStringConvertible {
    /// The elements, as an array prints them, or the first eight and the count when there are more.
    public var description: String {
        guard count > 8 else { return "SharedArray(\(elements))" }
        return "SharedArray(\(Array(prefix(8)).description.dropLast()), … \(count) elements])"
    }
}

extension SharedArray: Codable {
    /// Writes a handle to the array's memory; only a Spindle pool's messages can carry it.
    ///
    /// - Throws: `EncodingError.invalidValue` for any other encoder, such as `JSONEncoder`: the
    ///   elements are not data to be copied but memory to be shared.
    public func encode(to encoder: any Encoder) throws {
        try segment.encodeHandle(of: Self.self, to: encoder) { container in
            try container.encode(_mangledTypeName(Element.self) ?? "\(Element.self)")
            try container.encode(MemoryLayout<Element>.stride)
            try container.encode(offset)
            try container.encode(count)
        }
    }

    /// Reads a handle written by ``encode(to:)`` and maps the memory it names.
    ///
    /// - Throws: `DecodingError` outside a Spindle pool's message, or for a handle that names
    ///   memory of another element type or past the end of its segment.
    public init(from decoder: any Decoder) throws {
        var (segment, container) = try SharedSegment.decodeHandle(kind: .array, of: Self.self, from: decoder)
        let typeName = try container.decode(String.self)
        let stride = try container.decode(Int.self)
        let offset = try container.decode(Int.self)
        let count = try container.decode(Int.self)
        func corrupt(_ message: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
        }
        let expected = _mangledTypeName(Element.self) ?? "\(Element.self)"
        guard typeName == expected, stride == MemoryLayout<Element>.stride else {
            throw corrupt("a SharedArray handle of another element type where \(Element.self) was expected")
        }
        let (end, overflow) = offset.addingReportingOverflow(count)
        let (bytes, bytesOverflow) = end.multipliedReportingOverflow(by: Swift.max(stride, 1))
        guard offset >= 0, count >= 0, !overflow, !bytesOverflow, bytes <= segment.byteCount else {
            throw corrupt(
                "a SharedArray handle for elements \(offset)..<\(offset &+ count) of a segment of \(segment.byteCount) bytes"
            )
        }
        self.init(segment: segment, offset: offset, count: count)
    }
}
