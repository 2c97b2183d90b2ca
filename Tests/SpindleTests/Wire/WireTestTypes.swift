@testable import Spindle

// Codable shapes the wire tests round-trip and fuzz.

/// The benchmark's small struct: what a typical job input looks like.
struct SmallRecord: Codable, Equatable, Sendable {
    var id: Int
    var name: String
    var score: Double
    var tags: [String]
}

/// An enum with every kind of case synthesized Codable supports.
enum Shape: Codable, Equatable, Sendable {
    case point
    case circle(radius: Double)
    case rectangle(width: Double, height: Double)
    case labeled(String, Int)
    case polygon([Shape])
}

/// A raw-value enum: single value containers.
enum Color: String, Codable, Equatable, Sendable {
    case red, green, blue
}

/// A recursive indirect enum.
indirect enum Expression: Codable, Equatable, Sendable {
    case number(Double)
    case variable(String)
    case negate(Expression)
    case add(Expression, Expression)
    case call(name: String, arguments: [Expression])
}

/// Most Codable shapes at once.
struct Everything: Codable, Equatable, Sendable {
    var int: Int
    var int8: Int8
    var int16: Int16
    var int32: Int32
    var int64: Int64
    var uint: UInt
    var uint8: UInt8
    var uint16: UInt16
    var uint32: UInt32
    var uint64: UInt64
    var float: Float
    var double: Double
    var bool: Bool
    var string: String
    var optionalPresent: Int?
    var optionalAbsent: String?
    var nestedOptional: Int??
    var tripleOptional: Int???
    var optionalArray: [Int?]
    var ints: [Int]
    var doubles: ContiguousArray<Double>
    var bools: [Bool]
    var bytes: [UInt8]
    var strings: [String]
    var matrix: [[Int32]]
    var shapes: [Shape]
    var color: Color
    var dictionary: [String: [Int]]
    var intKeys: [Int: String]
    var set: Set<String>
    var records: [SmallRecord]
    var expression: Expression

    static let sample = Everything(
        int: -42,
        int8: -128,
        int16: 32_767,
        int32: -2_000_000_000,
        int64: .min,
        uint: .max,
        uint8: 255,
        uint16: 0,
        uint32: 4_000_000_000,
        uint64: .max,
        float: -1.5,
        double: .pi,
        bool: true,
        string: "héllo, wörld 🌍",
        optionalPresent: 7,
        optionalAbsent: nil,
        nestedOptional: .some(nil),
        tripleOptional: .some(.some(nil)),
        optionalArray: [1, nil, 3],
        ints: [.min, -1, 0, 1, .max],
        doubles: [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude],
        bools: [true, false, true],
        bytes: [0, 1, 254, 255],
        strings: ["", "a", String(repeating: "long ", count: 40)],
        matrix: [[1, 2], [], [3]],
        shapes: [.point, .circle(radius: 2), .rectangle(width: 3, height: 4), .labeled("x", -1), .polygon([.point])],
        color: .green,
        dictionary: ["a": [1, 2], "": [], "ünï": [3]],
        intKeys: [1: "one", -2: "minus two"],
        set: ["x", "y"],
        records: [SmallRecord(id: 1, name: "a", score: 0.5, tags: ["t"])],
        expression: .add(.number(1), .call(name: "f", arguments: [.variable("x"), .negate(.number(2))]))
    )
}

/// A superclass and a subclass that codes it through `superEncoder()` / `superDecoder()`.
class Animal: Codable {
    var name: String
    init(name: String) { self.name = name }
}

final class Dog: Animal, Equatable {
    var breed: String

    init(name: String, breed: String) {
        self.breed = breed
        super.init(name: name)
    }

    private enum CodingKeys: String, CodingKey { case breed }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        breed = try container.decode(String.self, forKey: .breed)
        try super.init(from: container.superDecoder())
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(breed, forKey: .breed)
        try super.encode(to: container.superEncoder())
    }

    static func == (lhs: Dog, rhs: Dog) -> Bool { lhs.name == rhs.name && lhs.breed == rhs.breed }
}

/// A subclass that shares its encoder with its superclass, so both write one keyed container.
final class Cat: Animal, Equatable {
    var lives: Int

    init(name: String, lives: Int) {
        self.lives = lives
        super.init(name: name)
    }

    private enum CodingKeys: String, CodingKey { case lives }

    required init(from decoder: any Decoder) throws {
        lives = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .lives)
        try super.init(from: decoder)
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lives, forKey: .lives)
        try super.encode(to: encoder)
    }

    static func == (lhs: Cat, rhs: Cat) -> Bool { lhs.name == rhs.name && lhs.lives == rhs.lives }
}

/// Writes four fields in order; reads them back in another order, skipping one and probing with `contains`.
struct Shuffled: Codable, Equatable {
    var a: Int
    var b: String
    var c: [Double]
    var d: SmallRecord?

    /// The encoded keys plus one that is never written.
    enum ProbeKeys: String, CodingKey { case a, b, c, d, missing }

    init(a: Int, b: String, c: [Double], d: SmallRecord?) {
        (self.a, self.b, self.c, self.d) = (a, b, c, d)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: ProbeKeys.self)
        d = try container.decodeIfPresent(SmallRecord.self, forKey: .d)
        precondition(!container.contains(.missing))
        b = try container.decode(String.self, forKey: .b)
        precondition(container.contains(.a))
        a = try container.decode(Int.self, forKey: .a)
        c = []  // skipped on purpose
    }
}

/// A value that wraps one other value through a single value container.
struct Wrapper<Wrapped: Codable & Equatable>: Codable, Equatable {
    var wrapped: Wrapped

    init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    init(from decoder: any Decoder) throws {
        wrapped = try decoder.singleValueContainer().decode(Wrapped.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrapped)
    }
}

/// Encodes doubles one by one through an unkeyed container, and decodes them the same way.
struct ElementwiseDoubles: Codable, Equatable {
    var values: [Double]

    init(_ values: [Double]) { self.values = values }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        values = []
        while !container.isAtEnd { values.append(try container.decode(Double.self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for value in values { try container.encode(value) }
    }
}

/// A struct whose decoding throws a `DecodingError` of its own.
struct Validated: Codable {
    var percent: Int

    init(percent: Int) { self.percent = percent }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        percent = try container.decode(Int.self, forKey: .percent)
        guard (0...100).contains(percent) else {
            throw DecodingError.dataCorruptedError(
                forKey: .percent,
                in: container,
                debugDescription: "\(percent) is not a percentage"
            )
        }
    }
}

/// Throws an `EncodingError` when encoded.
struct Unencodable: Encodable {
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(
            self,
            .init(codingPath: encoder.codingPath, debugDescription: "this value refuses to be encoded")
        )
    }
}

/// Encodes itself with an error of its own type.
struct Failing: Codable {
    struct Failure: Error {}
    init() {}
    init(from decoder: any Decoder) throws { throw Failure() }
    func encode(to encoder: any Encoder) throws { throw Failure() }
}

/// The fuzz target struct: nested arrays, strings, optionals and enums.
struct FuzzTarget: Codable, Equatable, Sendable {
    var id: UInt64
    var name: String
    var note: String?
    var values: [Double]
    var matrix: [[Int]]
    var shape: Shape
    var children: [SmallRecord]
    var flags: [Bool]
    var color: Color?
}

/// Encodes `value` as a fresh message.
func wireBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try WireEncoder.encode(value, into: &bytes)
    return bytes
}

/// Decodes `bytes` as one message.
func wireDecode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
    try bytes.withUnsafeBytes { try WireDecoder.decode(T.self, from: $0) }
}

/// Encodes and decodes `value`.
func roundTrip<T: Codable>(_ value: T) throws -> T {
    try wireDecode(T.self, wireBytes(value))
}

/// Every container method with a concrete overload, called explicitly: keyed, unkeyed, nested,
/// super-encoders and single value containers.
struct ContainerTour: Codable, Equatable {
    var bool = true
    var string = "tour"
    var double = -0.25
    var float: Float = 3.5
    var int = -7
    var int8: Int8 = -8
    var int16: Int16 = -16
    var int32: Int32 = -32
    var int64: Int64 = -64
    var uint: UInt = 7
    var uint8: UInt8 = 8
    var uint16: UInt16 = 16
    var uint32: UInt32 = 32
    var uint64: UInt64 = 64

    enum Keys: String, CodingKey { case nothing, list, parent, x }

    init() {}

    func encode(to encoder: any Encoder) throws {
        var keyed = encoder.container(keyedBy: Keys.self)
        try keyed.encodeNil(forKey: .nothing)
        var list = keyed.nestedUnkeyedContainer(forKey: .list)
        try list.encodeNil()
        try list.encode(bool)
        try list.encode(string)
        try list.encode(double)
        try list.encode(float)
        try list.encode(int)
        try list.encode(int8)
        try list.encode(int16)
        try list.encode(int32)
        try list.encode(int64)
        try list.encode(uint)
        try list.encode(uint8)
        try list.encode(uint16)
        try list.encode(uint32)
        try list.encode(uint64)
        var nestedKeyed = list.nestedContainer(keyedBy: Keys.self)
        try nestedKeyed.encode(1, forKey: .x)
        var nestedList = list.nestedUnkeyedContainer()
        try nestedList.encode("inner")
        try encodeSingles(into: &list)
        var parent = keyed.superEncoder(forKey: .parent).singleValueContainer()
        try parent.encodeNil()
    }

    /// Each value in a single value container of its own, through the list's super-encoders.
    private func encodeSingles(into list: inout any UnkeyedEncodingContainer) throws {
        func single() -> any SingleValueEncodingContainer { list.superEncoder().singleValueContainer() }
        var container = single()
        try container.encodeNil()
        container = single()
        try container.encode(bool)
        container = single()
        try container.encode(string)
        container = single()
        try container.encode(double)
        container = single()
        try container.encode(float)
        container = single()
        try container.encode(int)
        container = single()
        try container.encode(int8)
        container = single()
        try container.encode(int16)
        container = single()
        try container.encode(int32)
        container = single()
        try container.encode(int64)
        container = single()
        try container.encode(uint)
        container = single()
        try container.encode(uint8)
        container = single()
        try container.encode(uint16)
        container = single()
        try container.encode(uint32)
        container = single()
        try container.encode(uint64)
    }

    init(from decoder: any Decoder) throws {
        let keyed = try decoder.container(keyedBy: Keys.self)
        guard try keyed.decodeNil(forKey: .nothing) else { throw TourError.mismatch("nothing") }
        var list = try keyed.nestedUnkeyedContainer(forKey: .list)
        guard list.count == 32, try list.decodeNil() else { throw TourError.mismatch("list") }
        bool = try list.decode(Bool.self)
        string = try list.decode(String.self)
        double = try list.decode(Double.self)
        float = try list.decode(Float.self)
        int = try list.decode(Int.self)
        int8 = try list.decode(Int8.self)
        int16 = try list.decode(Int16.self)
        int32 = try list.decode(Int32.self)
        int64 = try list.decode(Int64.self)
        uint = try list.decode(UInt.self)
        uint8 = try list.decode(UInt8.self)
        uint16 = try list.decode(UInt16.self)
        uint32 = try list.decode(UInt32.self)
        uint64 = try list.decode(UInt64.self)
        guard try list.nestedContainer(keyedBy: Keys.self).decode(Int.self, forKey: .x) == 1 else {
            throw TourError.mismatch("nested keyed")
        }
        var nestedList = try list.nestedUnkeyedContainer()
        guard try nestedList.decode(String.self) == "inner" else { throw TourError.mismatch("nested list") }
        try decodeSingles(from: &list)
        guard try keyed.superDecoder(forKey: .parent).singleValueContainer().decodeNil() else {
            throw TourError.mismatch("parent")
        }
    }

    /// Reads what ``encodeSingles(into:)`` wrote and checks it matches the list's values.
    private func decodeSingles(from list: inout any UnkeyedDecodingContainer) throws {
        func single() throws -> any SingleValueDecodingContainer { try list.superDecoder().singleValueContainer() }
        guard try single().decodeNil(),
            try single().decode(Bool.self) == bool,
            try single().decode(String.self) == string,
            try single().decode(Double.self) == double,
            try single().decode(Float.self) == float,
            try single().decode(Int.self) == int,
            try single().decode(Int8.self) == int8,
            try single().decode(Int16.self) == int16,
            try single().decode(Int32.self) == int32,
            try single().decode(Int64.self) == int64,
            try single().decode(UInt.self) == uint,
            try single().decode(UInt8.self) == uint8,
            try single().decode(UInt16.self) == uint16,
            try single().decode(UInt32.self) == uint32,
            try single().decode(UInt64.self) == uint64,
            list.isAtEnd
        else { throw TourError.mismatch("singles") }
    }

    enum TourError: Error { case mismatch(String) }
}

/// Carries another message: its `encode(to:)` and `init(from:)` run the wire coder themselves,
/// while the outer message is being coded.
struct Envelope: Codable, Equatable {
    var label: String
    var inner: SmallRecord

    enum CodingKeys: String, CodingKey { case label, inner }

    init(label: String, inner: SmallRecord) {
        self.label = label
        self.inner = inner
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(label, forKey: .label)
        var bytes: [UInt8] = []
        try WireEncoder.encode(inner, into: &bytes)
        try container.encode(bytes, forKey: .inner)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        label = try container.decode(String.self, forKey: .label)
        let bytes = try container.decode([UInt8].self, forKey: .inner)
        inner = try bytes.withUnsafeBytes { try WireDecoder.decode(SmallRecord.self, from: $0) }
    }
}

/// Two fields whose keys are as long as ``SmallRecord``'s first two, for key tables of one size.
struct SameSizedKeys: Codable, Equatable {
    var ab: Int
    var cdef: String
}

/// Keeps the `Encoder` it was given past its message, as no value should.
final class EncoderThief: Encodable, @unchecked Sendable {
    // @unchecked Sendable: used on one thread, by one test.
    var stolen: (any Encoder)?

    enum CodingKeys: String, CodingKey { case value }

    func encode(to encoder: any Encoder) throws {
        stolen = encoder
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .value)
    }
}

/// Three fields, `a`, `b` and `c`, written in an order of the test's choosing and read by key: for
/// messages whose key tables share keys with the previous message's, in another order or subset.
struct OrderedKeys: Codable, Equatable {
    enum CodingKeys: String, CodingKey { case a, b, c, d }

    var a: Int
    var b: Int?
    var c: String
    var d: Double?
    /// The order in which `encode(to:)` writes the fields.
    var order: [CodingKeys] = [.a, .b, .c, .d]

    init(a: Int, b: Int? = nil, c: String, d: Double? = nil, order: [CodingKeys] = [.a, .b, .c, .d]) {
        (self.a, self.b, self.c, self.d, self.order) = (a, b, c, d, order)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        a = try container.decode(Int.self, forKey: .a)
        b = try container.decodeIfPresent(Int.self, forKey: .b)
        c = try container.decode(String.self, forKey: .c)
        d = try container.decodeIfPresent(Double.self, forKey: .d)
        order = []
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        for key in order {
            switch key {
            case .a: try container.encode(a, forKey: .a)
            case .b: try container.encodeIfPresent(b, forKey: .b)
            case .c: try container.encode(c, forKey: .c)
            case .d: try container.encodeIfPresent(d, forKey: .d)
            }
        }
    }

    /// Equal fields; the order they were written in is not part of the value.
    static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.a, lhs.b, lhs.c, lhs.d) == (rhs.a, rhs.b, rhs.c, rhs.d)
    }
}

/// Encodes `value` with an encoding state of its own, as the first message of a new thread would
/// be: a message encoded while another one is gets a fresh state. What it writes is the bytes.
final class FreshlyEncoded<Value: Encodable>: Encodable, @unchecked Sendable {
    // @unchecked Sendable: used on one thread, by one test.
    let value: Value
    private(set) var bytes: [UInt8] = []

    init(_ value: Value) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        bytes = try wireBytes(value)
        var container = encoder.singleValueContainer()
        try container.encode(0)
    }

    /// The bytes of `value` encoded afresh.
    static func bytes(of value: Value) throws -> [UInt8] {
        let fresh = FreshlyEncoded(value)
        _ = try wireBytes(fresh)
        return fresh.bytes
    }
}

/// A value with a packed array and a string, for ``DecoderThief`` to read.
struct ThiefBait: Codable, Equatable {
    var values: [Double]
    var name: String
}

/// Keeps the `Decoder` it was given, and containers, past its `init(from:)`, as no type should:
/// once its message is decoded, their bytes are gone.
final class DecoderThief: Decodable, @unchecked Sendable {
    // @unchecked Sendable: used on one thread, by one test.
    enum CodingKeys: String, CodingKey { case values, name }

    let decoder: any Decoder
    let keyed: KeyedDecodingContainer<CodingKeys>
    let unkeyed: any UnkeyedDecodingContainer
    let name: String

    init(from decoder: any Decoder) throws {
        self.decoder = decoder
        keyed = try decoder.container(keyedBy: CodingKeys.self)
        unkeyed = try keyed.nestedUnkeyedContainer(forKey: .values)
        name = try keyed.decode(String.self, forKey: .name)
    }
}

/// Keeps its single value container past its `init(from:)`.
final class SingleValueThief: Decodable, @unchecked Sendable {
    // @unchecked Sendable: used on one thread, by one test.
    let container: any SingleValueDecodingContainer
    let value: Int

    init(from decoder: any Decoder) throws {
        container = try decoder.singleValueContainer()
        value = try container.decode(Int.self)
    }
}
