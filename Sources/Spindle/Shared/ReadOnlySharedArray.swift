/// A view of a ``SharedArray`` that can read its elements but not write them: what to give a job
/// whose input must not change.
///
/// It shares the memory of the array it came from (``SharedArray/readOnly``), and crosses to a
/// worker the same way, as a handle. That it cannot write is a promise of its type, checked by the
/// compiler, not by the pages, which stay writable through the array it came from.
public struct ReadOnlySharedArray<Element: BitwiseCopyable>: Sendable {
    private let array: SharedArray<Element>

    init(_ array: SharedArray<Element>) {
        self.array = array
    }

    /// The number of elements.
    public var count: Int { array.count }

    /// The element at `index`, which must be in `0..<count`.
    public subscript(index: Int) -> Element { array[index] }

    /// Calls `body` with the elements, to read many of them at the speed of a plain array.
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        try array.withUnsafeBufferPointer(body)
    }

    /// The elements in `range`, as a view of its own whose indices start at 0.
    public func slice(_ range: Range<Int>) -> ReadOnlySharedArray {
        ReadOnlySharedArray(array.slice(range))
    }

    /// Copies the elements into an ordinary array.
    public var elements: [Element] { array.elements }
}

extension ReadOnlySharedArray: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { array.count }
}

extension ReadOnlySharedArray: CustomStringConvertible {
    /// The elements, as ``SharedArray`` prints them.
    public var description: String { "ReadOnly" + array.description }
}

extension ReadOnlySharedArray: Codable {
    /// Writes a handle to the memory, as ``SharedArray/encode(to:)`` does.
    public func encode(to encoder: any Encoder) throws {
        try array.encode(to: encoder)
    }

    /// Reads a handle and maps the memory it names, as ``SharedArray/init(from:)`` does.
    public init(from decoder: any Decoder) throws {
        self.init(try SharedArray(from: decoder))
    }
}
