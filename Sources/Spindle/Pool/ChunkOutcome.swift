/// What one chunk of a ``Pool/map(_:_:options:)`` produced: the outputs up to the first failure.
///
/// Backends run a chunk wherever their workers live and hand this back to the map engine, which
/// yields the outputs and throws the failure at its position.
@usableFromInline
package struct ChunkOutcome<Output: Sendable>: Sendable {
    /// The outputs of the chunk's first items, in input order.
    @usableFromInline package var outputs: [Output]
    /// The error of item number `outputs.count`, if one failed; the items after it did not run.
    @usableFromInline package var failure: (any Error)?
    /// Time spent running the items, which the automatic chunk sizer learns from.
    @usableFromInline package var busyNanoseconds: UInt64
    /// CPU time the items took, when the backend could measure it exactly; pipelines tell CPU-bound
    /// stages from waiting ones with it.
    @usableFromInline package var cpuNanoseconds: UInt64?

    @inlinable
    package init(outputs: [Output], failure: (any Error)?, busyNanoseconds: UInt64, cpuNanoseconds: UInt64? = nil) {
        self.outputs = outputs
        self.failure = failure
        self.busyNanoseconds = busyNanoseconds
        self.cpuNanoseconds = cpuNanoseconds
    }

    /// Runs `body` over `inputs` in order, stopping at the first error or at task cancellation.
    /// `willRun`, when given, hears the index of each item before it runs.
    ///
    /// Inlinable so that the loop is specialised for the job's types: generic code would spend
    /// over a hundred nanoseconds per item on witness-table calls.
    @inlinable
    package static func run<Input>(
        _ inputs: [Input],
        willRun: (Int) -> Void = { _ in },
        _ body: (Input) async throws -> Output
    ) async -> ChunkOutcome {
        let start = monotonicNanoseconds()
        var outputs: [Output] = []
        outputs.reserveCapacity(inputs.count)
        var failure: (any Error)?
        // An index, not `enumerated()`: when this runs unspecialised, a tuple per item costs a
        // type-metadata lookup.
        var index = 0
        for input in inputs {
            // Items of a cancelled map that have not started never run.
            if Task.isCancelled {
                failure = SpindleError.cancelled()
                break
            }
            willRun(index)
            index += 1
            do {
                outputs.append(try await body(input))
            } catch {
                failure = error
                break
            }
        }
        return ChunkOutcome(outputs: outputs, failure: failure, busyNanoseconds: monotonicNanoseconds() - start)
    }
}
