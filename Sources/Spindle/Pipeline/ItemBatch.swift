/// Items on their way through a pipeline, with the source position each came from.
///
/// Two arrays rather than an array of pairs: a stage hands its chunk's outputs on as they are, and
/// a chunk's inputs are the values as they are, with no loop over the items (which, in generic
/// code, would look up type metadata for every pair). Slices, so that taking chunk after chunk off
/// the front of a large batch (a fan-out's) costs each chunk's size, not the rest's; indices are
/// the slices', so read them with `first`, iteration or `prefix`, not from 0.
struct ItemBatch<Value: Sendable>: Sendable {
    /// Each item's position in the source (for fanned-out items, their origin's).
    var origins: ArraySlice<Int> = []
    var values: ArraySlice<Value> = []

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

    /// Removes and returns the first `n` items, in constant time (slices of the same storage).
    mutating func removeFirst(_ n: Int) -> ItemBatch {
        defer {
            origins = origins.dropFirst(n)
            values = values.dropFirst(n)
        }
        return ItemBatch(origins: origins.prefix(n), values: values.prefix(n))
    }
}
