@testable import Spindle
import Testing

@Suite struct WireMalformedInputTests {
    /// The `WireError` that decoding `bytes` as `T` throws; records an issue if it throws none.
    private func decodingError<T: Decodable>(
        _ type: T.Type,
        _ bytes: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> WireError? {
        #expect(throws: WireError.self, sourceLocation: sourceLocation) { try wireDecode(T.self, bytes) }
    }

    @Test func emptyInput() {
        #expect(decodingError(Int.self, [])?.message.contains("empty") == true)
    }

    @Test func trailingBytes() throws {
        for sample in [try wireBytes(5), try wireBytes(SmallRecord(id: 1, name: "a", score: 1, tags: ["t"]))] {
            for garbage: [UInt8] in [[0], [1], [0x80], [0xC0, 0], [0, 0, 0, 0]] {
                _ = decodingError(SmallRecord.self, sample + garbage)
            }
        }
        // A complete value followed by a second one, both before an empty key table.
        #expect(decodingError(Int.self, [0x81, 0x81, 0])?.message.contains("unexpected bytes") == true)
    }

    @Test func everyTruncationIsACleanError() throws {
        let expression = Expression.call(name: "f", arguments: [.negate(.number(1)), .variable("x")])
        let samples: [(bytes: [UInt8], decode: ([UInt8]) throws -> Void)] = [
            (try wireBytes(Everything.sample), { _ = try wireDecode(Everything.self, $0) }),
            (try wireBytes(expression), { _ = try wireDecode(Expression.self, $0) }),
            (try wireBytes([1.5, 2.5]), { _ = try wireDecode([Double].self, $0) }),
            (try wireBytes(["a": [1], "b": [2, 3]]), { _ = try wireDecode([String: [Int]].self, $0) }),
        ]
        for (bytes, decode) in samples {
            for length in 0..<bytes.count {
                #expect(throws: WireError.self, "prefix of \(length) bytes") { try decode(Array(bytes.prefix(length))) }
            }
            try decode(bytes)
        }
    }

    @Test func typeMismatchNamesThePathAndTheTypes() throws {
        struct Renamed: Codable { var id: Int; var name: Int }
        let bytes = try wireBytes(SmallRecord(id: 1, name: "x", score: 0, tags: []))
        let message = decodingError(Renamed.self, bytes)?.message ?? ""
        #expect(message.contains("type mismatch at .name"))
        #expect(message.contains("expected Int, found string"))
        let nested = try wireBytes([SmallRecord(id: 1, name: "x", score: 0, tags: ["a", "b"])])
        struct IntTags: Codable { var tags: [Int] }
        #expect(decodingError([IntTags].self, nested)?.message.contains("[0].tags[0]") == true)
        #expect(
            decodingError(String.self, try wireBytes(1))?.message.contains("expected String, found integer") == true
        )
        #expect(decodingError(Int.self, try wireBytes(Int?.none))?.message.contains("value not found") == true)
        #expect(decodingError([Int].self, try wireBytes(SmallRecord(id: 1, name: "", score: 0, tags: []))) != nil)
        #expect(decodingError(Bool.self, try wireBytes(1)) != nil)
    }

    @Test func elementwiseArrayErrorsNameTheElement() throws {
        // A packed `[Int16]` read as `[Int8]` is read element by element; 300 does not fit.
        let topLevel = decodingError([Int8].self, try wireBytes([Int16]([1, 300])))?.message ?? ""
        #expect(topLevel.contains("type mismatch at [1]:"), "\(topLevel)")
        struct Wide: Codable { var values: [Int16] }
        struct Narrow: Codable { var values: [Int8] }
        let field = decodingError(Narrow.self, try wireBytes(Wide(values: [1, 300])))?.message ?? ""
        #expect(field.contains("type mismatch at .values[1]:"), "\(field)")
        let nested = decodingError([[Int8]].self, try wireBytes([[Int16]]([[1], [2, 300]])))?.message ?? ""
        #expect(nested.contains("type mismatch at [1][1]:"), "\(nested)")
    }

    @Test func missingKeyIsNamed() throws {
        struct Wider: Codable { var id: Int; var missing: Int }
        let message = decodingError(Wider.self, try wireBytes(SmallRecord(id: 1, name: "", score: 0, tags: [])))?
            .message
        #expect(message?.contains("key 'missing' not found") == true)
    }

    @Test func errorsFromTheTypesOwnCode() throws {
        let message = decodingError(Validated.self, try wireBytes(Validated(percent: 200)))?.message ?? ""
        #expect(message.contains("not a percentage") && message.contains(".percent"))
        let encodingError = #expect(throws: WireError.self) { try wireBytes([Unencodable()]) }
        #expect(encodingError?.message.contains("refuses to be encoded") == true)
        #expect(encodingError?.message.contains("[0]") == true)
        #expect(throws: Failing.Failure.self) { try wireDecode(Failing.self, wireBytes(SmallRecord?.none)) }
    }

    @Test func invalidUTF8() {
        #expect(decodingError(String.self, [0xC2, 0xFF, 0xFE, 0])?.message.contains("UTF-8") == true)
        #expect(decodingError([String].self, [WireTag.unkeyed, 3, 1, 0xC1, 0x80, 0]) != nil)
        // A key table entry that is not UTF-8.
        #expect(decodingError([String: Int].self, [WireTag.keyed, 2, 0, 0x81, 1, 1, 0xFF, 3]) != nil)
    }

    @Test func boolsMustBeZeroOrOne() {
        #expect(decodingError([Bool].self, [WireTag.packed, WirePackedKind.bool.rawValue, 2, 1, 2, 0]) != nil)
        #expect(decodingError(Bool.self, [0x04, 0]) != nil)
        #expect(decodingError(ElementwiseBools.self, [WireTag.packed, WirePackedKind.bool.rawValue, 1, 7, 0]) != nil)
    }

    @Test func hugeCountsFailBeforeAllocating() {
        let huge: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        #expect(decodingError([Double].self, [WireTag.packed, WirePackedKind.float64.rawValue] + huge + [0]) != nil)
        #expect(decodingError([String].self, [WireTag.unkeyed, 10] + huge + [0]) != nil)
        #expect(decodingError([String].self, [WireTag.unkeyed] + huge + [0]) != nil)
        #expect(decodingError(String.self, [WireTag.string] + huge + [0]) != nil)
        #expect(decodingError([String: Int].self, [WireTag.keyed, 0] + huge + [1, 1]) != nil)
        // A key table that claims 2^62 keys.
        #expect(decodingError([String: Int].self, [WireTag.keyed, 0] + huge + [9]) != nil)
    }

    @Test func overlongVarints() throws {
        let overflow: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]
        #expect(decodingError(UInt64.self, [WireTag.unsigned] + overflow + [0])?.message.contains("overflows") == true)
        let maximum: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(try wireDecode(UInt64.self, [WireTag.unsigned] + maximum + [0]) == .max)
        #expect(
            decodingError(Int.self, [0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) != nil
        )
    }

    @Test func invalidTagsAndKeyIndices() {
        #expect(decodingError(Int.self, [0x30, 0])?.message.contains("invalid tag") == true)
        #expect(decodingError([Int].self, [WireTag.packed, 99, 0, 0])?.message.contains("kind") == true)
        // A field whose key index is past the end of an empty key table.
        #expect(decodingError(SmallRecord.self, [WireTag.keyed, 2, 5, 0x81, 0]) != nil)
    }

    @Test func deepNestingIsRejectedNotOverflowed() throws {
        // `Expression.negate` nested 2,000 times, built by hand: the encoder refuses such depth.
        var value: [UInt8] = [WireTag.keyed, 2, 0, 0x81]  // .variable-like leaf: an unknown shape
        for _ in 0..<2_000 {
            value = keyed(field: 1, value: value)  // {"_0": value}
            value = keyed(field: 0, value: value)  // {"negate": …}
        }
        let message = decodingError(Expression.self, value + keyTable(["negate", "_0"]))?.message
        #expect(message?.contains("deeper than 512") == true)

        // A linked list 2,000 deep recurses through `decodeIfPresent`, without nested containers.
        var list: [UInt8] = [WireTag.keyed, 0]
        for _ in 0..<2_000 { list = keyed(field: 0, value: list) }
        let listMessage = decodingError(Chain.self, list + keyTable(["next"]))?.message
        #expect(listMessage?.contains("deeper than 512") == true)

        func chain(_ count: Int) -> Chain {
            let head = Chain()
            var tail = head
            for _ in 1..<count {
                tail.next = Chain()
                tail = tail.next!
            }
            return head
        }
        #expect(try roundTrip(chain(512)).next != nil, "the limit itself is allowed")
        #expect(throws: WireError.self) { try wireBytes(chain(513)) }

        var expression = Expression.number(1)
        for _ in 0..<600 { expression = .negate(expression) }
        #expect(throws: WireError.self) { try wireBytes(expression) }
    }

    @Test func containersUsedOutOfOrderAreRejected() {
        struct Interleaved: Encodable {
            enum CodingKeys: CodingKey { case a, b, c }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                var nested = container.nestedUnkeyedContainer(forKey: .a)
                try container.encode(1, forKey: .b)
                try nested.encode(2)
            }
        }
        let error = #expect(throws: WireError.self) { try wireBytes(Interleaved()) }
        #expect(error?.message.contains("one pass") == true)

        struct LateSuper: Encodable {
            enum CodingKeys: CodingKey { case a }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                let parent = container.superEncoder()
                try container.encode(1, forKey: .a)
                try 5.encode(to: parent)
            }
        }
        #expect(throws: WireError.self) { try wireBytes(LateSuper()) }
    }

    @Test(arguments: Misuse.Kind.allCases)
    func misusedContainersAreRejected(_ kind: Misuse.Kind) {
        #expect(throws: WireError.self) { try wireBytes(Misuse(kind: kind)) }
    }

    /// `{key index: value}` as a keyed container.
    private func keyed(field: UInt8, value: [UInt8]) -> [UInt8] {
        var content = [field] + value
        var length = content.count
        var header: [UInt8] = []
        while length >= 0x80 {
            header.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        header.append(UInt8(length))
        content.insert(contentsOf: [WireTag.keyed] + header, at: 0)
        return content
    }

    /// A key table and its trailer, for short tables.
    private func keyTable(_ keys: [String]) -> [UInt8] {
        var table: [UInt8] = [UInt8(keys.count)]
        for key in keys { table += [UInt8(key.utf8.count)] + Array(key.utf8) }
        return table + [UInt8(table.count)]
    }
}

/// A value whose `encode(to:)` breaks a rule of the `Encoder` protocol.
struct Misuse: Encodable {
    /// Which rule; not itself `Encodable`, as Swift Testing encodes `Encodable` arguments with JSON.
    enum Kind: CaseIterable {
        case twoSingleValues, keyedThenUnkeyed, emptySingleValue
    }

    enum CodingKeys: CodingKey { case a }

    let kind: Kind

    func encode(to encoder: any Encoder) throws {
        switch kind {
        case .twoSingleValues:
            var container = encoder.singleValueContainer()
            try container.encode(1)
            try container.encode(2)
        case .keyedThenUnkeyed:
            var keyed = encoder.container(keyedBy: CodingKeys.self)
            try keyed.encode(1, forKey: .a)
            var unkeyed = encoder.unkeyedContainer()
            try unkeyed.encode(2)
        case .emptySingleValue:
            _ = encoder.singleValueContainer()
        }
    }
}

/// A linked list, for nesting without nested containers.
final class Chain: Codable {
    var next: Chain?
}

/// Decodes bools one by one, to read a packed Bool array element-wise.
struct ElementwiseBools: Decodable {
    var values: [Bool] = []

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        while !container.isAtEnd { values.append(try container.decode(Bool.self)) }
    }
}
