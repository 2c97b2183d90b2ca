import Spindle

/// The `spindle time --plot` chart of a profile: average threads in each state over time, with a
/// line at the CPU count, then disk traffic, then memory.
struct TimePlot {
    var profile: TimeProfile
    var title: String

    /// The kinds of wait stacked above disk, in drawing order; structural waits (children, joins)
    /// are left to the "all threads" outline, since they only mirror work shown elsewhere.
    static let stackedWaits: [WaitKind] = [.lock, .condition, .pipe, .network, .terminal, .poll, .sleep, .other]

    func chart() throws -> TimelineChart {
        let samples = profile.timeline
        let waits = Self.stackedWaits.filter { kind in samples.contains { ($0.waits[kind] ?? 0) > 0 } }
        var stacked = [
            ChartSeries(name: "on CPU", color: .onCPU, values: samples.map(\.onCPU)),
            ChartSeries(name: "waiting for CPU", color: .runQueue, values: samples.map(\.runQueue)),
            ChartSeries(name: "blocked on disk", color: .diskIO, values: samples.map { $0.waits[.disk] ?? 0 }),
        ]
        stacked += waits.map { kind in
            ChartSeries(name: kind.label, color: .waitClass(kind), values: samples.map { $0.waits[kind] ?? 0 })
        }
        let cpus = profile.cpusUsable
        let threads = TimelinePanel(
            yLabel: "threads (average)",
            stacked: stacked,
            lines: [
                ChartSeries(
                    name: "all threads",
                    color: .allThreads,
                    values: samples.map { Double($0.threads) },
                    lineWidth: 1
                )
            ],
            referenceLines: [ChartReferenceLine(value: Double(cpus), label: "\(cpus) CPU\(cpus == 1 ? "" : "s")")],
            relativeHeight: 2.6
        )
        let disk = TimelinePanel(
            yLabel: "disk MB/s",
            lines: [
                ChartSeries(name: "read", color: .diskRead, values: samples.map { $0.readBytesPerSecond / 1e6 }),
                ChartSeries(name: "write", color: .diskWrite, values: samples.map { $0.writeBytesPerSecond / 1e6 }),
            ]
        )
        let memory = TimelinePanel(
            yLabel: "memory MiB",
            lines: [
                ChartSeries(
                    name: "resident (all processes)",
                    color: .memory,
                    values: samples.map { Double($0.residentBytes) / 1_048_576 }
                )
            ]
        )
        let interval = Int((profile.sampling.interval * 1000).rounded())
        return try TimelineChart(
            title: "spindle time: \(title) (\(interval) ms samples) — \(profile.verdict.text)",
            intervals: samples.map { (start: $0.start, end: $0.end) },
            panels: [threads, disk, memory]
        )
    }

    func render() throws -> String { try chart().render() }
}
