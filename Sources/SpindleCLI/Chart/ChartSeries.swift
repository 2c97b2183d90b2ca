/// A sample interval of a timeline, in seconds since the start of the run.
struct SampleInterval: Hashable, Sendable {
    var start: Double
    var end: Double

    var duration: Double { end - start }
}

/// A named quantity with one value per sample interval of a timeline, drawn as a stacked layer or a step line.
///
/// ```swift
/// ChartSeries(name: "on CPU", color: .onCPU, values: [1, 1, 2, 2])
/// ChartSeries(name: "all threads", color: .allThreads, values: [2, 2, 3, 3], lineWidth: 1)
/// ```
struct ChartSeries: Sendable {
    var name: String
    var color: ChartColor
    /// One value per interval. A stacked layer treats NaN and negative values as zero; a line leaves a gap at NaN.
    var values: [Double]
    /// The stroke width when drawn as a line (stacked layers have no outline).
    var lineWidth = 1.5
    var dash = SVGCanvas.Dash.solid
}

/// A horizontal dotted line across a panel, labelled at its left end, such as the number of usable CPUs.
struct ChartReferenceLine: Sendable {
    var value: Double
    var label: String
}

/// One panel of a ``TimelineChart``: its own y axis, stacked step areas, step lines and reference lines.
///
/// ```swift
/// TimelinePanel(
///     yLabel: "threads (average over sample)",
///     stacked: [onCPU, runQueue, diskIO, lock],   // drawn bottom up, in this order
///     lines: [allThreads],
///     referenceLines: [ChartReferenceLine(value: 2, label: "2 CPUs")],
///     relativeHeight: 2.5
/// )
/// ```
struct TimelinePanel: Sendable {
    /// The y-axis title, with the unit: "MB/s", "RSS MiB".
    var yLabel: String
    /// Layers stacked from zero upwards in order; the legend lists them in the same order.
    var stacked: [ChartSeries] = []
    /// Step lines drawn over the layers.
    var lines: [ChartSeries] = []
    var referenceLines: [ChartReferenceLine] = []
    /// This panel's share of the chart's height, relative to the other panels' (all 1 by default).
    var relativeHeight = 1.0
}
