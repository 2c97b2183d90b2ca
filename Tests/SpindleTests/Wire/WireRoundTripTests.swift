@testable import Spindle
import Testing

@Suite struct WireRoundTripTests {
    @Test func everyShapeAtOnce() throws {
        #expect(try roundTrip(Everything.sample) == Everything.sample)
    }

    @Test func integerExtremesInEveryPath() throws {
        #expect(try roundTrip(Int.min) == .min)
        #expect(try roundTrip(Int.max) == .max)
        #expect(try roundTrip(UInt64.max) == .max)
        #expect(try roundTrip(Int8.min) == .min)
        #expect(try roundTrip([Int.min, Int.max]) == [.min, .max])
        #expect(try roundTrip([UInt64.max, 0]) == [.max, 0])
        #expect(try roundTrip(Wrapper(Int64.min)) == Wrapper(.min))
        for value in [0, 1, 63, 64, 127, 128, -1, -64, -65, 1 << 40, -(1 << 40)] {
            #expect(try roundTrip(value) == value)
            #expect(try roundTrip([value: value]) == [value: value])
        }
    }

    @Test func smallIntegersTakeOneByte() throws {
        #expect(try wireBytes(63) == [WireTag.smallInteger | 63, 0])
        #expect(try wireBytes(64) == [WireTag.unsigned, 64, 0])
        #expect(try wireBytes(-1) == [WireTag.negative, 0, 0])
    }

    @Test func integersDecodeAsAnyTypeTheyFitIn() throws {
        #expect(try wireDecode(UInt8.self, wireBytes(200)) == 200)
        #expect(try wireDecode(Int64.self, wireBytes(UInt32.max)) == Int64(UInt32.max))
        #expect(throws: WireError.self) { try wireDecode(Int8.self, wireBytes(300)) }
        #expect(throws: WireError.self) { try wireDecode(UInt.self, wireBytes(-1)) }
        #expect(throws: WireError.self) { try wireDecode(Int.self, wireBytes(UInt64.max)) }
    }

    @Test func nanPayloadsSurvive() throws {
        let doubles = [
            Double(bitPattern: 0x7FF8_0000_DEAD_BEEF), Double(bitPattern: 0x7FF0_0000_0000_0001),
            Double(bitPattern: 0xFFF8_0000_0000_0000), -0.0,
        ]
        let floats = [Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0x7F80_0001)]
        #expect(try roundTrip(doubles).map(\.bitPattern) == doubles.map(\.bitPattern))
        #expect(try roundTrip(floats).map(\.bitPattern) == floats.map(\.bitPattern))
        #expect(try roundTrip(ElementwiseDoubles(doubles)).values.map(\.bitPattern) == doubles.map(\.bitPattern))
        for double in doubles {
            #expect(try roundTrip(double).bitPattern == double.bitPattern)
        }
        #expect(try roundTrip(floats[0]).bitPattern == floats[0].bitPattern)
    }

    @Test func emptyValues() throws {
        #expect(try roundTrip("") == "")
        #expect(try roundTrip([Int]()) == [])
        #expect(try roundTrip([String]()) == [])
        #expect(try roundTrip([SmallRecord]()) == [])
        #expect(try roundTrip([String: Int]()) == [:])
        #expect(try roundTrip(ContiguousArray<Bool>()) == [])
        #expect(try roundTrip([[Double]]([[], []])) == [[], []])
    }

    @Test func unicodeStrings() throws {
        let strings = ["é", "日本語のテキスト", "👩‍👩‍👧‍👦", "\u{0}", String(repeating: "ü🌍", count: 1000), "a\u{301}"]
        for string in strings {
            #expect(try roundTrip(string) == string)
        }
        #expect(try roundTrip(strings) == strings)
        #expect(try roundTrip(SmallRecord(id: 1, name: strings[2], score: 0, tags: strings)).tags == strings)
    }

    @Test func nestedOptionals() throws {
        let values: [Int??] = [nil, .some(nil), .some(.some(5))]
        #expect(try roundTrip(values) == values)
        for value in values {
            #expect(try roundTrip(value) == value)
            #expect(try roundTrip(Wrapper(value)) == Wrapper(value))
        }
        let triples: [Int???] = [nil, .some(nil), .some(.some(nil)), .some(.some(.some(1)))]
        #expect(try roundTrip(triples) == triples)
        let optionalNil: Int? = nil
        #expect(try roundTrip(optionalNil) == nil)
    }

    @Test func optionalPropertiesOmittedOrPresent() throws {
        struct Partial: Codable, Equatable {
            var first: Int?
            var second: String?
            var third: [Int]?
        }
        for value in [Partial(), Partial(first: 1), Partial(second: "x"), Partial(first: 1, second: "", third: [])] {
            #expect(try roundTrip(value) == value)
        }
    }

    @Test func enumsWithAssociatedValues() throws {
        let shapes: [Shape] = [
            .point, .circle(radius: 1), .rectangle(width: 2, height: 3), .labeled("", .min),
            .polygon([.polygon([.point]), .circle(radius: -0.0)]),
        ]
        #expect(try roundTrip(shapes) == shapes)
        #expect(try roundTrip(Color.blue) == .blue)
        let expression = Expression.call(name: "f", arguments: [.add(.number(.nan), .variable("x"))])
        #expect(try wireBytes(roundTrip(expression)) == wireBytes(expression))
    }

    @Test func classesWithSuperclassCoding() throws {
        let dog = Dog(name: "Rex", breed: "collie")
        #expect(try roundTrip(dog) == dog)
        let cat = Cat(name: "Tom", lives: 9)
        #expect(try roundTrip(cat) == cat)
        #expect(try roundTrip([dog, dog]) == [dog, dog])
    }

    @Test func dictionariesAndSets() throws {
        let byString: [String: [Int]] = ["a": [1], "b": [], "": [-1, 2]]
        #expect(try roundTrip(byString) == byString)
        let byInt: [Int: Double] = [-1: 1.5, 0: 0, 1 << 50: -2]
        #expect(try roundTrip(byInt) == byInt)
        struct Point: Codable, Hashable { var x, y: Int }
        let byStruct: [Point: String] = [Point(x: 1, y: 2): "a", Point(x: -1, y: 0): "b"]
        #expect(try roundTrip(byStruct) == byStruct)
        let set: Set<Int> = [1, 2, 3]
        #expect(try roundTrip(set) == set)
        let many = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("key\($0)", $0) })
        #expect(try roundTrip(many) == many)
    }

    @Test func largeArrays() throws {
        let count = 1_200_000
        let ints = (0..<count).map { $0 &* 2_654_435_761 }
        #expect(try roundTrip(ints) == ints)
        let doubles = ContiguousArray((0..<count).map { Double($0) / 7 })
        #expect(try roundTrip(doubles) == doubles)
        let bools = (0..<count).map { $0 % 3 == 0 }
        #expect(try roundTrip(bools) == bools)
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try roundTrip(bytes) == bytes)
        let strings = (0..<count).map { String($0) }
        #expect(try roundTrip(strings) == strings)
    }

    @Test func packedArraysAreRawBytes() throws {
        let bytes = try wireBytes([Double](repeating: 1, count: 1000))
        // Tag, kind, two-byte count, the elements, the empty key table's trailer.
        #expect(bytes.count == 4 + 8000 + 1)
        #expect(bytes[0] == WireTag.packed && bytes[1] == WirePackedKind.float64.rawValue)
    }

    /// A large packed array widens the containers it is in before it is written, rather than being
    /// moved when they close; the widened lengths and counts are padded varints.
    @Test func containersAroundLargeArraysGetPaddedLengths() throws {
        let large = (0..<4096).map { Double($0) / 3 }
        let bytes = try wireBytes([large])
        // Tag, padded length and count, then the packed array: tag, kind, two-byte count, elements.
        let arrayBytes = 4 + 8 * large.count
        #expect(bytes.count == 1 + 10 + 10 + arrayBytes + 1)
        #expect(bytes[0] == WireTag.unkeyed)
        #expect(Array(bytes[1...10]) == paddedVarint(10 + arrayBytes), "the length: the count and the array")
        #expect(Array(bytes[11...20]) == paddedVarint(1), "the count")
        #expect(try wireDecode([[Double]].self, bytes) == [large])

        // Values before and after the array, in nested keyed and unkeyed containers; `Shuffled`
        // reads its fields out of order and skips the array, by the padded lengths.
        let nested = Shuffled(
            a: 7,
            b: "before",
            c: (0..<5000).map { Double($0) * 3 },
            d: SmallRecord(id: 2, name: "after", score: 1, tags: ["x"])
        )
        var skipped = nested
        skipped.c = []
        #expect(try roundTrip(nested) == skipped)
        #expect(try roundTrip([nested, nested]) == [skipped, skipped])
        let several = [[1.0, 2.0], large, [3.0], large.reversed()]
        #expect(try roundTrip(several) == several)
        let keyed = ["small": [1.5], "large": large, "empty": []]
        #expect(try roundTrip(keyed) == keyed)
        let small = try wireBytes([[1.0, 2.0]])
        #expect(small.count == 1 + 2 + 3 + 16 + 1, "a small message keeps one-byte lengths")
    }

    /// Each thread reuses one encoder and one decoder state from message to message: nothing of
    /// one message may leak into the next.
    @Test func reusedCoderStateLeavesNothingBehind() throws {
        let record = SmallRecord(id: 7, name: "seven", score: 0.5, tags: ["a", "b"])
        // A message coded while another is being coded.
        let envelope = Envelope(label: "outer", inner: record)
        #expect(try roundTrip(envelope) == envelope)
        #expect(try roundTrip([envelope, envelope]) == [envelope, envelope])
        // Messages of different types in turn, whose key tables differ.
        let other = SameSizedKeys(ab: 1, cdef: "x")
        for _ in 0..<3 {
            #expect(try roundTrip(record) == record)
            #expect(try roundTrip(other) == other)
        }
        // A failed encode, then a good one: nothing of the first in the second.
        let otherBytes = try wireBytes(other)
        #expect(throws: WireError.self) { try wireBytes(["first": Unencodable()]) }
        #expect(try wireBytes(other) == otherBytes)
        #expect(try roundTrip(other) == other)
        // A key table that fails to parse, then the good one of the same size: read afresh.
        let good = try wireBytes(record)
        var bad = good
        bad[bad.count - 3] = 0xFF  // inside the key table: a key's length past its end
        #expect(throws: WireError.self) { try wireDecode(SmallRecord.self, bad) }
        #expect(try wireDecode(SmallRecord.self, good) == record)
        // An encoder kept past its message and written to since: the next message is not blamed.
        let thief = EncoderThief()
        _ = try wireBytes(thief)
        var late = try #require(thief.stolen).container(keyedBy: EncoderThief.CodingKeys.self)
        #expect(throws: WireError.self) { try late.encode(2, forKey: .value) }
        #expect(try roundTrip(record) == record)
        // A decode that throws in the middle, then a good one.
        #expect(throws: WireError.self) { try wireDecode(Validated.self, wireBytes(["percent": 101])) }
        #expect(try wireDecode(Validated.self, wireBytes(["percent": 99])).percent == 99)
    }

    /// A thread's encoder keeps its last key table to confirm the next message's keys against;
    /// each message must still carry exactly its own keys, in the order it first used them.
    @Test func eachMessageCarriesItsOwnKeyTableWhateverCameBefore() throws {
        let many = Dictionary(uniqueKeysWithValues: (0..<20).map { ("key\($0)", $0) })
        let record = SmallRecord(id: 7, name: "seven", score: 0.5, tags: ["a"])
        let abc = OrderedKeys(a: 1, b: 2, c: "three")
        let messages:
            [(name: String, bytes: () throws -> [UInt8], fresh: () throws -> [UInt8], check: () throws -> Bool)] = [
                message("a, b, c", abc),
                message("a, c (a subset)", OrderedKeys(a: 1, c: "x")),
                message("c, b, a (another order)", OrderedKeys(a: 1, b: 2, c: "y", order: [.c, .b, .a])),
                message("a, b, c, d (one more)", OrderedKeys(a: 1, b: 2, c: "z", d: 4)),
                message("b, a, d, c", OrderedKeys(a: 5, b: 6, c: "w", d: 7, order: [.b, .a, .d, .c])),
                message("20 keys", many),
                message("a struct in an array", [record, record]),
                message("no keys", [1, 2, 3]),
            ]
        let expected = try messages.map { try $0.fresh() }
        // Every message after every other, and after itself.
        for (i, first) in messages.enumerated() {
            for (j, second) in messages.enumerated() {
                #expect(try first.bytes() == expected[i], "\(first.name), on its turn before \(second.name)")
                #expect(try second.bytes() == expected[j], "\(second.name) after \(first.name)")
                #expect(try second.check(), "\(second.name) after \(first.name)")
            }
        }
    }

    /// How ``eachMessageCarriesItsOwnKeyTableWhateverCameBefore()`` encodes `value`: on this
    /// thread, afresh, and round trip.
    private func message<T: Codable & Equatable>(
        _ name: String,
        _ value: T
    ) -> (name: String, bytes: () throws -> [UInt8], fresh: () throws -> [UInt8], check: () throws -> Bool) {
        (name, { try wireBytes(value) }, { try FreshlyEncoded.bytes(of: value) }, { try roundTrip(value) == value })
    }

    /// A decoder or container used after its message was decoded would read bytes that are gone
    /// (freed, or another message's): it throws instead.
    @Test func aDecoderKeptPastItsMessageThrowsInsteadOfReading() throws {
        let thief = try wireDecode(DecoderThief.self, wireBytes(ThiefBait(values: [1, 2, 3], name: "bait")))
        let single = try wireDecode(SingleValueThief.self, wireBytes(42))
        #expect(thief.name == "bait" && single.value == 42)
        // Another message on this thread, which decodes with the same state.
        #expect(try roundTrip(ThiefBait(values: [4, 5], name: "other")) == ThiefBait(values: [4, 5], name: "other"))

        func expectStale(_ what: String, _ body: () throws -> Void) {
            let error = #expect(throws: DecodingError.self, "\(what)") { try body() }
            guard case .dataCorrupted(let context) = error else { return }
            #expect(context.debugDescription.contains("after its message was decoded"), "\(what)")
        }
        expectStale("a keyed container from the kept decoder") {
            _ = try thief.decoder.container(keyedBy: DecoderThief.CodingKeys.self)
        }
        expectStale("an unkeyed container from the kept decoder") { _ = try thief.decoder.unkeyedContainer() }
        expectStale("a single value container from the kept decoder") {
            _ = try thief.decoder.singleValueContainer()
        }
        expectStale("a field of the kept keyed container") { _ = try thief.keyed.decode(String.self, forKey: .name) }
        expectStale("a nested container of the kept keyed container") {
            _ = try thief.keyed.nestedUnkeyedContainer(forKey: .values)
        }
        expectStale("an element of the kept packed array") {
            var unkeyed = thief.unkeyed
            _ = try unkeyed.decode(Double.self)
        }
        expectStale("the kept single value container") { _ = try single.container.decode(Int.self) }
        #expect(!thief.keyed.contains(.name))
        #expect(thief.keyed.allKeys.isEmpty)
        #expect(!single.container.decodeNil())
    }

    private func paddedVarint(_ value: Int) -> [UInt8] {
        (0..<10).map { UInt8(value >> (7 * $0) & 0x7F) | ($0 < 9 ? 0x80 : 0) }
    }

    @Test func packedAndElementwiseArraysInteroperate() throws {
        let values: [Double] = [1, -2.5, .infinity]
        #expect(try wireDecode(ElementwiseDoubles.self, wireBytes(values)).values == values)
        #expect(try wireDecode([Double].self, wireBytes(ElementwiseDoubles(values))) == values)
        #expect(try wireDecode([Int64].self, wireBytes([Int32]([1, -2, .max]))) == [1, -2, Int64(Int32.max)])
        #expect(throws: WireError.self) { try wireDecode([Int8].self, wireBytes([300])) }
        #expect(throws: WireError.self) { try wireDecode([String].self, wireBytes([1.5])) }
    }

    @Test func outOfOrderSkippingDecoder() throws {
        let value = Shuffled(a: 5, b: "bee", c: [1, 2, 3], d: SmallRecord(id: 1, name: "d", score: 2, tags: []))
        var expected = value
        expected.c = []
        #expect(try roundTrip(value) == expected)
        #expect(try roundTrip([value, value]) == [expected, expected])
        var withoutD = value
        withoutD.d = nil
        expected.d = nil
        #expect(try roundTrip(withoutD) == expected)
    }

    @Test func readerWithFewerFieldsSkipsTheRest() throws {
        struct Narrow: Codable, Equatable { var name: String }
        let records = (0..<100).map { SmallRecord(id: $0, name: "n\($0)", score: 1, tags: ["a", "b"]) }
        #expect(try wireDecode([Narrow].self, wireBytes(records)) == records.map { Narrow(name: $0.name) })
    }

    @Test func keysAreSentOncePerMessage() throws {
        let records = (0..<1000).map { SmallRecord(id: $0, name: "", score: 0, tags: []) }
        let bytes = try wireBytes(records)
        let score = Array("score".utf8)
        let occurrences = (0...(bytes.count - score.count)).filter { bytes[$0..<$0 + score.count].elementsEqual(score) }
        #expect(occurrences.count == 1)
        #expect(try wireDecode([SmallRecord].self, bytes) == records)
    }

    @Test func smallerThanJSONForATypicalStruct() throws {
        let record = SmallRecord(id: 12_345, name: "worker-7", score: 0.875, tags: ["cpu", "batch", "retry"])
        let json = #"{"id":12345,"name":"worker-7","score":0.875,"tags":["cpu","batch","retry"]}"#
        let wire = try wireBytes(record)
        #expect(wire.count < json.utf8.count)
        let records = try wireBytes([SmallRecord](repeating: record, count: 100))
        #expect(records.count < json.utf8.count * 100 * 2 / 3)
    }

    @Test func appendsToExistingBytes() throws {
        var bytes: [UInt8] = [9, 9, 9]
        try WireEncoder.encode("hi", into: &bytes)
        #expect(bytes.prefix(3) == [9, 9, 9])
        #expect(try wireDecode(String.self, Array(bytes.dropFirst(3))) == "hi")
        #expect(throws: Failing.Failure.self) { try WireEncoder.encode(Failing(), into: &bytes) }
        #expect(bytes.count == 3 + 4, "a failed encode leaves the buffer as it was")
    }
}

extension WireRoundTripTests {
    @Test func everyContainerMethod() throws {
        var tour = ContainerTour()
        #expect(try roundTrip(tour) == tour)
        tour.int64 = .min
        tour.uint64 = .max
        tour.string = String(repeating: "é", count: 100)
        #expect(try roundTrip(tour) == tour)
    }

    @Test func packedArraysOfEveryWidth() throws {
        #expect(try roundTrip([Int8]([.min, 0, .max])) == [.min, 0, .max])
        #expect(try roundTrip([Int16]([.min, 0, .max])) == [.min, 0, .max])
        #expect(try roundTrip([Int32]([.min, 0, .max])) == [.min, 0, .max])
        #expect(try roundTrip([Int64]([.min, 0, .max])) == [.min, 0, .max])
        #expect(try roundTrip([UInt]([0, .max])) == [0, .max])
        #expect(try roundTrip([UInt16]([0, .max])) == [0, .max])
        #expect(try roundTrip([UInt32]([0, .max])) == [0, .max])
        #expect(try roundTrip([Float]([1.5, -.infinity])) == [1.5, -.infinity])
        // Packed elements read one by one, converting widths where the value fits.
        struct Elements<T: Decodable>: Decodable {
            var values: [T] = []
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                while !container.isAtEnd { values.append(try container.decode(T.self)) }
            }
        }
        #expect(try wireDecode(Elements<Int>.self, wireBytes([UInt16]([1, .max]))).values == [1, 65_535])
        #expect(try wireDecode(Elements<Double>.self, wireBytes([Float]([0.5]))).values == [0.5])
        #expect(try wireDecode(Elements<Bool>.self, wireBytes([true, false])).values == [true, false])
        #expect(throws: WireError.self) { try wireDecode(Elements<UInt8>.self, wireBytes([Int16]([-1]))) }
        #expect(throws: WireError.self) { try wireDecode(Elements<String>.self, wireBytes([1.5])) }
        #expect(throws: WireError.self) { try wireDecode(Elements<[Int]>.self, wireBytes([1])) }
    }
}

extension WireRoundTripTests {
    /// Writes `nil` explicitly and reads it back with `decodeNil(forKey:)` before `decode`.
    struct NilProbe: Codable, Equatable {
        var x: Int?
        var y: Int

        enum CodingKeys: CodingKey { case x, y }

        init(x: Int?, y: Int) { (self.x, self.y) = (x, y) }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            x = try container.decodeNil(forKey: .x) ? nil : container.decode(Int.self, forKey: .x)
            y = try container.decode(Int.self, forKey: .y)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            if let x { try container.encode(x, forKey: .x) } else { try container.encodeNil(forKey: .x) }
            try container.encode(y, forKey: .y)
        }
    }

    @Test func decodeNilThenDecode() throws {
        let probes = [NilProbe(x: nil, y: 1), NilProbe(x: 5, y: 2)]
        #expect(try roundTrip(probes) == probes)
    }
}
