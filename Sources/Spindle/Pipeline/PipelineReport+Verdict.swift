extension PipelineReport {
    /// What limited a run.
    public enum Limit: Sendable, Hashable {
        /// The stage at this index of ``PipelineReport/stages``: its workers were the busiest.
        case stage(Int)
        /// The source: the stages waited for items while it produced them.
        case source
        /// The loop consuming the results: the last stage waited for room.
        case consumer
        /// Nothing was busy for long: too few items, or too few in flight, to fill the stages.
        case nothing
    }

    /// What limited the run, from the stages' busy and waiting shares.
    ///
    /// The busiest stage limits the pipeline when its workers were busy most of the time. Failing
    /// that, a consumer that never waited while the last stage waited for room is the limit, or a
    /// source that never waited while the first stage waited for items.
    public var limit: Limit {
        let busiest = stages.indices.max { stages[$0].busyShare < stages[$1].busyShare }
        if let busiest, stages[busiest].busyShare >= 0.6 { return .stage(busiest) }
        let lastRoomWait = stages.last?.roomWaitShare ?? sourceRoomWaitShare
        if consumerWaitShare < 0.3 && lastRoomWait >= 0.4 { return .consumer }
        let firstInputWait = stages.first?.inputWaitShare ?? consumerWaitShare
        if sourceRoomWaitShare < 0.2 && firstInputWait >= 0.4 { return .source }
        if let busiest, stages[busiest].busyShare >= 0.3 { return .stage(busiest) }
        return .nothing
    }

    /// The verdict in plain words: what limited the run, why, how the other stages spent their
    /// time, and what the numbers suggest.
    public var verdict: String {
        var sentences: [String] = []
        switch outcome {
        case .failed:
            sentences.append(
                "Stopped by a failure after \(itemsDelivered) results: \(failure.map(String.init(describing:)) ?? "unknown")."
            )
        case .cancelled: sentences.append("Stopped early by the consumer after \(itemsDelivered) results.")
        case .running, .finished: break
        }
        switch limit {
        case .stage(let index):
            sentences += stageVerdict(index)
        case .source:
            let waiting = stages.first.map { "`\($0.name)` waited for items \(percent($0.inputWaitShare)) of its time" }
            sentences.append(
                "The source limits the pipeline: \(waiting ?? "the consumer waited") while it produced them."
            )
            sentences.append(
                "Make the source faster: read ahead, or move its slow part into a stage on a pool of its own."
            )
        case .consumer:
            let waiting = stages.last.map { "`\($0.name)` waited for room \(percent($0.roomWaitShare)) of its time" }
            sentences.append(
                "The loop consuming the results limits the pipeline: \(waiting ?? "the source waited") while the loop was busy."
            )
            sentences.append("Do less per result in the loop, or move that work into a stage.")
        case .nothing:
            sentences.append(
                "No stage was busy for long: the pipeline spent its time waiting, not working (too few items, or too few in flight)."
            )
            if itemsRead > 0 {
                sentences.append("Larger buffers or more concurrency keep more items in flight.")
            }
        }
        return sentences.joined(separator: " ")
    }

    private func stageVerdict(_ index: Int) -> [String] {
        let stage = stages[index]
        let workers = stage.pool.description
        var sentences: [String] = []
        var nature = ""
        var advice: String
        let saturated = cpuPerWall >= 0.85 * Double(cpusUsable)
        switch stage.cpuPerBusy {
        case let perBusy? where perBusy >= 0.7:
            nature = ", CPU-bound (\(format(perBusy)) CPU seconds per busy second)"
            if stage.slots >= cpusUsable {
                advice =
                    "It has a worker for each of the \(cpusUsable) CPUs: only less work per item, or more machines, would make it faster."
            } else if saturated {
                advice =
                    "All \(cpusUsable) CPUs are busy (\(format(cpuPerWall)) CPU seconds per second): only less work per item, or more machines, would make it faster."
            } else {
                advice = "Give it more workers: up to \(cpusUsable), the CPUs this process may use."
            }
        case let perBusy? where perBusy <= 0.35:
            nature =
                ", and mostly waiting, not computing (\(format(perBusy)) CPU seconds per busy second: I/O, sleeps, locks)"
            advice = "More concurrency overlaps the waits: try \(stage.slots * 2) workers for it."
        case let perBusy?:
            nature = ", partly computing, partly waiting (\(format(perBusy)) CPU seconds per busy second)"
            advice =
                saturated
                ? "All \(cpusUsable) CPUs are busy: only less work per item would make it faster."
                : "A few more workers (\(stage.slots + max(1, stage.slots / 2))) may help while CPUs are free."
        case nil:
            advice = "Give it more workers, or make each item cheaper."
        }
        sentences.append(
            "Stage `\(stage.name)` limits the pipeline: its \(workers) were busy \(percent(stage.busyShare)) of the time\(nature)."
        )
        var others: [String] = []
        if index == 0 || stages[..<index].allSatisfy({ $0.roomWaitShare < 0.25 }), sourceRoomWaitShare >= 0.25 {
            others.append("the source waits for room \(percent(sourceRoomWaitShare)) of its time")
        }
        for earlier in stages[..<index] where earlier.roomWaitShare >= 0.25 {
            others.append("`\(earlier.name)` waits for room \(percent(earlier.roomWaitShare)) of its time")
        }
        for later in stages[(index + 1)...] where later.inputWaitShare >= 0.25 {
            others.append("`\(later.name)` waits for input \(percent(later.inputWaitShare)) of its time")
        }
        if !others.isEmpty {
            sentences.append(others.joined(separator: "; ").capitalizingFirst + ".")
        }
        sentences.append(advice)
        return sentences
    }

    // MARK: Text

    /// The report as a table with the verdict under it:
    ///
    /// ```text
    /// pipeline: 400 results in 2.3 s (173/s), finished; the stages used 1.9 CPU seconds per second of 2 CPUs
    ///   stage    pool           in → out    chunks  busy  CPU/busy  CPU/s  waiting for input  for room
    ///   source                        400                                                         71 %
    ///   read     8 threads     400 → 400       400  12 %      0.05   0.04                0 %      70 %
    /// ```
    public var description: String {
        let rate = wall > .zero ? " (" + formatRate(Double(itemsDelivered) / wall.seconds) + ")" : ""
        let ended: String
        switch outcome {
        case .running: ended = "still running"
        case .finished: ended = "finished"
        case .failed: ended = "stopped by a failure"
        case .cancelled: ended = "cancelled"
        }
        var lines = [
            "pipeline: \(itemsDelivered) results in \(formatSeconds(wall))\(rate), \(ended); "
                + "the stages used \(format(cpuPerWall)) CPU seconds per second of \(cpusUsable) CPUs"
        ]
        let header = [
            "stage", "pool", "in → out", "chunks", "busy", "CPU/busy", "CPU/s", "waiting for input", "for room",
        ]
        var rows: [[String]] = [
            ["source", "", "\(itemsRead)", "", "", "", "", "", percent(sourceRoomWaitShare)]
        ]
        for stage in stages {
            rows.append([
                stage.name, stage.pool.description, "\(stage.itemsIn) → \(stage.itemsOut)", "\(stage.chunks)",
                percent(stage.busyShare), stage.cpuPerBusy.map { formatFixed($0, digits: 2) } ?? "?",
                stage.cpuPerWall.map { formatFixed($0, digits: 2) } ?? "?", percent(stage.inputWaitShare),
                percent(stage.roomWaitShare),
            ])
        }
        rows.append(["consumer", "", "\(itemsDelivered)", "", "", "", "", percent(consumerWaitShare), ""])
        let table = [header] + rows
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        for row in table {
            let cells = row.indices.map { column in
                // Names left-aligned, numbers right-aligned.
                row[column].padding(to: widths[column], left: column >= 2)
            }
            lines.append("  " + cells.joined(separator: "  "))
        }
        if !failures.isEmpty {
            lines.append("\(failures.count) item\(failures.count == 1 ? "" : "s") failed and went no further:")
            for failure in failures.prefix(5) { lines.append("  " + failure.description) }
            if failures.count > 5 { lines.append("  … and \(failures.count - 5) more") }
        }
        lines.append("verdict: " + verdict)
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// The string with its first letter capitalised.
    var capitalizingFirst: String { prefix(1).uppercased() + dropFirst() }
}
