/// A timeline of a run as an SVG document: panels stacked on a shared "seconds since start" axis.
///
/// `spindle time --plot` draws the average threads in each state per sample as stacked step areas in the
/// top panel, with a dotted line at the number of CPUs, and rates and memory as step lines in small
/// panels below. Each panel has its own y axis and a legend in the corner where it hides the least.
///
/// ```swift
/// let chart = try TimelineChart(
///     title: "spindle time: make -j4",
///     intervals: [(0, 0.05), (0.05, 0.10), (0.10, 0.15)],
///     panels: [
///         TimelinePanel(
///             yLabel: "threads (average over sample)",
///             stacked: [
///                 ChartSeries(name: "on CPU", color: .onCPU, values: [1, 2, 2]),
///                 ChartSeries(name: "waiting for CPU", color: .runQueue, values: [0, 0, 2]),
///             ],
///             referenceLines: [ChartReferenceLine(value: 2, label: "2 CPUs")],
///             relativeHeight: 2.5
///         ),
///         TimelinePanel(yLabel: "MB/s", lines: [ChartSeries(name: "disk read", color: .diskRead, values: [0, 80, 0])]),
///     ]
/// )
/// try writeAtomically(chart.render(), to: "time.svg")
/// ```
struct TimelineChart: Sendable {
    var title: String
    var xLabel = "seconds since start"
    var width = 900.0
    var height = 560.0
    let intervals: [SampleInterval]
    let panels: [TimelinePanel]

    /// A timeline of the given sample intervals.
    ///
    /// - Throws: A ``ChartError`` when an interval is not a finite forward range, intervals overlap or are out
    ///   of order, or a series does not have exactly one value per interval.
    init(title: String, intervals: [(start: Double, end: Double)], panels: [TimelinePanel]) throws(ChartError) {
        let intervals = intervals.map { SampleInterval(start: $0.start, end: $0.end) }
        for (index, interval) in intervals.enumerated() {
            guard interval.start.isFinite, interval.end.isFinite, interval.end >= interval.start else {
                throw ChartError(
                    "sample interval \(index) (\(interval.start)…\(interval.end)) is not a forward time range"
                )
            }
            if index > 0, interval.start < intervals[index - 1].end - 1e-9 * max(1, abs(interval.start)) {
                throw ChartError("sample interval \(index) starts before interval \(index - 1) ends")
            }
        }
        for panel in panels {
            for series in panel.stacked + panel.lines where series.values.count != intervals.count {
                throw ChartError(
                    "series '\(series.name)' of panel '\(panel.yLabel)' has \(series.values.count) values "
                        + "for \(intervals.count) sample intervals"
                )
            }
        }
        self.title = title
        self.intervals = intervals
        self.panels = panels
    }

    /// The complete SVG document; a chart without samples or panels says "no samples".
    func render() -> String {
        let layout = ChartLayout(width: width, height: height)
        var canvas = SVGCanvas(width: layout.width, height: layout.height)
        layout.drawTitle(title, on: &canvas)
        guard !intervals.isEmpty, !panels.isEmpty else {
            layout.drawEmpty("no samples", on: &canvas)
            return canvas.document()
        }

        // Average down to about one step per pixel column, all series of all panels alike.
        let allSeries = panels.flatMap { $0.stacked + $0.lines }
        let (bins, binnedValues) = TimelineGeometry.binned(
            intervals,
            allSeries.map(\.values),
            maxBins: Int(layout.width)
        )
        var remaining = binnedValues[...]
        var data: [(panel: TimelinePanel, stacked: [[Double]], lines: [[Double]])] = []
        for panel in panels {
            let stacked = Array(remaining.prefix(panel.stacked.count))
            remaining = remaining.dropFirst(panel.stacked.count)
            let lines = Array(remaining.prefix(panel.lines.count))
            remaining = remaining.dropFirst(panel.lines.count)
            data.append((panel, TimelineGeometry.cumulative(stacked), lines))
        }

        // Panel heights share what the gaps leave; each y axis gets as many ticks as its height allows.
        let gap = 14.0
        let weights = panels.map { $0.relativeHeight.isFinite ? max($0.relativeHeight, 0.1) : 1 }
        let available = max(layout.plotBottom - layout.plotTop - gap * Double(panels.count - 1), 10)
        let heights = weights.map { available * $0 / weights.reduce(0, +) }
        let yAxes = zip(data, heights).map { item, height in
            let values = (item.stacked.last ?? []) + item.lines.joined() + item.panel.referenceLines.map(\.value)
            return ChartAxis(linearThrough: values, maxTicks: min(8, max(3, Int(height / 19))), headroom: 0.04)
        }
        let left = layout.plotLeft(yAxes: yAxes)
        let plotWidth = layout.plotRight - left
        let xAxis = ChartAxis(
            linearFrom: min(0, bins[0].start),
            through: bins[bins.count - 1].end,
            maxTicks: min(12, max(3, Int(plotWidth / 70))),
            widened: false
        )

        var top = layout.plotTop
        for (index, item) in data.enumerated() {
            // Lines keep off the bottom of the frame; stacked areas stand on it.
            let area = PlotArea(
                left: left,
                top: top,
                width: plotWidth,
                height: heights[index],
                x: xAxis,
                y: yAxes[index],
                insets: (0, item.panel.stacked.isEmpty ? 4 : 0)
            )
            let isLast = index == data.count - 1
            draw(item.panel, stacked: item.stacked, lines: item.lines, bins: bins, in: area, on: &canvas)
            area.drawAxes(on: &canvas, xTickLabels: isLast)
            area.drawYLabel(item.panel.yLabel, on: &canvas, x: layout.yLabelBaseline)
            if isLast { area.drawXLabel(xLabel, on: &canvas) }
            top += heights[index] + gap
        }
        return canvas.document()
    }

    /// Draws one panel's data and legend inside `area`.
    ///
    /// - Parameters:
    ///   - stacked: The cumulative tops of the stacked layers, from ``TimelineGeometry/cumulative(_:)``.
    ///   - lines: The values of the panel's lines.
    private func draw(
        _ panel: TimelinePanel,
        stacked: [[Double]],
        lines: [[Double]],
        bins: [SampleInterval],
        in area: PlotArea,
        on canvas: inout SVGCanvas
    ) {
        area.drawGrid(on: &canvas)
        var legend = ChartLegend()
        var marks: [PixelBox] = []
        for (index, series) in panel.stacked.enumerated() {
            let lower = index == 0 ? [Double](repeating: 0, count: bins.count) : stacked[index - 1]
            let path = TimelineGeometry.areaPath(bins, lower: lower, upper: stacked[index], in: area)
            canvas.path(path, fill: series.color)
            legend.add(series.name, .area(series.color))
        }
        if let total = stacked.last {
            marks += zip(bins, total).map {
                PixelBox(x0: area.px($0.start), y0: area.py($1), x1: area.px($0.end), y1: area.bottom)
            }
        }
        for (series, values) in zip(panel.lines, lines) {
            let path = TimelineGeometry.linePath(bins, values: values, in: area)
            canvas.path(path, fill: nil, stroke: series.color, strokeWidth: series.lineWidth, dash: series.dash)
            legend.add(series.name, .line(series.color, width: series.lineWidth, dash: series.dash))
            for (bin, value) in zip(bins, values) where value.isFinite {
                marks.append(
                    PixelBox(x0: area.px(bin.start), y0: area.py(value), x1: area.px(bin.end), y1: area.py(value))
                )
            }
        }
        for reference in panel.referenceLines {
            if let label = area.drawReferenceLine(at: reference.value, label: reference.label, on: &canvas) {
                marks.append(label)
            }
        }
        legend.draw(on: &canvas, in: area, avoiding: marks)
    }
}
