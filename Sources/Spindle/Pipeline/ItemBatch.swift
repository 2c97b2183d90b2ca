/// Items on their way through a pipeline, with the source position each came from.
///
/// Two arrays rather than an array of pairs: a stage hands its chunk's outputs on as they are, and
/// a chunk's inputs are the values as they are, with no loop over the items (which, in generic
/// code, would look up type metadata for every pair).
struct ItemBatch<Value: Sendable>: Sendable {
    /// Each item's position in the source (for fanned-out items, their origin's).
    var origins: [Int] = []
    var values: [Value] = []

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }

    /// Appends `other`'s items.
    mutating func append(_ other: ItemBatch) {
        origins += other.origins
        values += other.values
    }

    /// Appends a chunk's outputs, one item each: a plain stage.
    static func each(_ outputs: [Value], from origins: ArraySlice<Int>, into items: inout ItemBatch<Value>) {
        items.origins += origins
        items.values += outputs
    }

    /// Appends the outputs that are not `nil`: a filtering stage.
    static func nonNil(_ outputs: [Value?], from origins: ArraySlice<Int>, into items: inout ItemBatch<Value>) {
        for (output, origin) in zip(outputs, origins) {
            guard let output else { continue }
            items.origins.append(origin)
            items.values.append(output)
        }
    }

    /// Appends every element of every output, each with its output's origin: a fanning-out stage.
    static func elements<Outputs: Sequence>(
        _ outputs: [Outputs],
        from origins: ArraySlice<Int>,
        into items: inout ItemBatch<Value>
    ) where Outputs.Element == Value {
        for (output, origin) in zip(outputs, origins) {
            for element in output {
                items.origins.append(origin)
                items.values.append(element)
            }
        }
    }

    /// Removes and returns the first `n` items.
    mutating func removeFirst(_ n: Int) -> ItemBatch {
        defer {
            origins.removeFirst(n)
            values.removeFirst(n)
        }
        return ItemBatch(origins: Array(origins.prefix(n)), values: Array(values.prefix(n)))
    }
}
