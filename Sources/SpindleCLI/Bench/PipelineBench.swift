import Foundation
import Spindle

/// `spindle bench --only pipeline`: what a pipeline costs per item with the work taken out, and
/// the memory it holds over a very long source.
///
/// 1. Three no-op stages on one ThreadPool, a source of `items` integers and a loop that sums the
///    results: the time per item is all pipeline overhead (buffers, chunks, ordering). The same
///    items through one `ThreadPool.map` of a no-op closure, in the same rounds, show the cost of
///    one stage done the plain way.
/// 2. Ten million items through two stages, the first making 256 bytes per item: how much the
///    peak resident memory grows (the kernel's high-water mark, reset first), against the 2.4 GiB
///    the items would take if the pipeline held them.
struct PipelineBench {
    var items: Int
    var rounds: Int
    var longItems = 10_000_000

    func run(note: (String) -> Void) async throws -> [[String]] {
        let pool = try ThreadPool(workers: AvailableCPUs.count)
        note("pipeline of 3 no-op stages over \(items) items, \(rounds) rounds")
        var pipelineBest = Double.infinity, mapBest = Double.infinity
        var report = ""
        for _ in 0..<rounds {
            let pipeline = Pipeline(0..<items)
                .stage(on: pool, name: "one") { $0 }
                .stage(on: pool, name: "two") { $0 }
                .stage(on: pool, name: "three") { $0 }
            var total = 0
            let start = ContinuousClock.now
            for try await x in pipeline { total &+= x }
            let elapsed = (ContinuousClock.now - start).seconds
            precondition(total == (0..<items).reduce(0, &+), "the pipeline lost or changed items")
            if elapsed < pipelineBest {
                pipelineBest = elapsed
                report = pipeline.report.map(String.init(describing:)) ?? ""
            }
            var mapTotal = 0
            let mapStart = ContinuousClock.now
            for try await x in pool.map(0..<items, { $0 }) { mapTotal &+= x }
            mapBest = min(mapBest, (ContinuousClock.now - mapStart).seconds)
            precondition(mapTotal == total)
        }
        note("the fastest pipeline round:\n" + report)
        let perItem = pipelineBest / Double(items) * 1e6
        let mapPerItem = mapBest / Double(items) * 1e6

        note("pipeline of \(longItems) items of 256 bytes: peak memory growth")
        resetPeakResident()
        let before = peakResidentBytes()
        let long = Pipeline(0..<longItems)
            .stage(on: pool, name: "make") { x in [UInt8](repeating: UInt8(truncatingIfNeeded: x), count: 256) }
            .stage(on: pool, name: "measure") { $0.count }
        var bytes = 0
        let longStart = ContinuousClock.now
        for try await count in long { bytes += count }
        let longSeconds = (ContinuousClock.now - longStart).seconds
        precondition(bytes == 256 * longItems, "the long pipeline lost items")
        let growth = peakResidentBytes() - before
        await pool.shutdown()
        return [
            [
                "pipeline, 3 no-op stages", "µs per item (threads)", Verdict.format(perItem) + " µs",
                "×" + Verdict.format(perItem / mapPerItem) + " one map", "≤ 5 µs",
            ],
            ["", "one no-op ThreadPool.map", Verdict.format(mapPerItem) + " µs", "", ""],
            [
                "pipeline, \(longItems / 1_000_000) M items × 256 B", "peak memory growth, MiB",
                Verdict.format(Double(growth) / 1_048_576), "", "constant",
            ],
            ["", "items/s", Verdict.format(Double(longItems) / longSeconds / 1e6) + " M", "", ""],
        ]
    }
}
