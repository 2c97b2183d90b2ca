#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A chart of lines through points as an SVG document, such as wall time against worker count.
///
/// `spindle compare --plot` draws one line per pool and workload, with point markers, and a dashed
/// ideal line per workload. With `log2X` the x axis doubles at each step and its ticks sit on the
/// worker counts themselves.
///
/// ```swift
/// let threads = LineChart.Series(
///     name: "threads · cpu",
///     color: .palette(0),
///     points: [(1, 1.6), (2, 0.82), (4, 0.83), (8, 0.83)]
/// )
/// let chart = LineChart(
///     title: "spindle compare: wall time",
///     xLabel: "workers",
///     yLabel: "wall time (s)",
///     log2X: true,
///     series: [threads, .ideal(for: threads, name: "ideal (linear) · cpu")]
/// )
/// try writeAtomically(chart.render(), to: "compare.svg")
/// ```
struct LineChart: Sendable {
    /// One line: points joined in order of x, with a marker at each.
    struct Series: Sendable {
        var name: String
        var color: ChartColor
        var points: [(x: Double, y: Double)]
        var dash: SVGCanvas.Dash
        var marker: ChartMarker
        var lineWidth: Double

        init(
            name: String,
            color: ChartColor,
            points: [(x: Double, y: Double)],
            dashed: Bool = false,
            marker: ChartMarker? = nil,
            lineWidth: Double = 2
        ) {
            self.name = name
            self.color = color
            self.points = points
            self.dash = dashed ? .dashed : .solid
            self.marker = marker ?? (dashed ? ChartMarker.none : .circle)
            self.lineWidth = dashed ? min(lineWidth, 1.5) : lineWidth
        }

        /// The line `base` would follow if it scaled perfectly from its smallest x: dashed, without
        /// markers. y is a time that shrinks in proportion to x (y₀·x₀/x). Between `base`'s x values
        /// the line gets intermediate points, so that it curves smoothly on either x scale.
        static func ideal(for base: Series, name: String) -> Series {
            let usable = base.points.filter { $0.x.isFinite && $0.y.isFinite && $0.x > 0 }.sorted { $0.x < $1.x }
            guard let first = usable.first else { return Series(name: name, color: base.color, points: []) }
            var xs: [Double] = [first.x]
            for (previous, next) in zip(usable, usable.dropFirst()) where next.x > previous.x {
                for step in 1...8 { xs.append(previous.x * pow(next.x / previous.x, Double(step) / 8)) }
            }
            let points = xs.map { x in (x: x, y: first.y * first.x / x) }
            return Series(name: name, color: base.color, points: points, dashed: true)
        }
    }

    var title: String
    var xLabel: String
    var yLabel: String
    /// Doubles along the x axis (1, 2, 4, 8, …); points with x ≤ 0 are left out.
    var log2X = false
    var series: [Series]
    var width = 900.0
    var height = 560.0

    /// The complete SVG document; a chart without any drawable point says "no data".
    func render() -> String {
        let layout = ChartLayout(width: width, height: height)
        var canvas = SVGCanvas(width: layout.width, height: layout.height)
        layout.drawTitle(title, on: &canvas)
        // Points that cannot be placed are dropped; lines run in order of x.
        let lines = series.map { series in
            (
                series,
                series.points.filter {
                    ChartAxis.isUsable($0.x) && ChartAxis.isUsable($0.y) && (!log2X || $0.x > 0)
                }
                .sorted { $0.x < $1.x }
            )
        }
        let points = lines.flatMap(\.1)
        guard !points.isEmpty else {
            layout.drawEmpty("no data", on: &canvas)
            return canvas.document()
        }

        let plotHeight = layout.plotBottom - layout.plotTop
        let yAxis = ChartAxis(
            linearThrough: points.map(\.y),
            maxTicks: min(8, max(3, Int(plotHeight / 40))),
            headroom: 0.04
        )
        let left = layout.plotLeft(yAxes: [yAxis])
        let plotWidth = layout.plotRight - left
        let xAxis =
            log2X
            ? ChartAxis(log2Through: points.map(\.x))
            : ChartAxis(linearThrough: points.map(\.x), maxTicks: min(12, max(3, Int(plotWidth / 70))))
        let area = PlotArea(
            left: left,
            top: layout.plotTop,
            width: plotWidth,
            height: plotHeight,
            x: xAxis,
            y: yAxis,
            insets: (log2X ? 0 : 12, 6)
        )
        area.drawGrid(on: &canvas)

        var legend = ChartLegend()
        var marks: [PixelBox] = []
        // Dashed reference lines first, so the measured lines and their markers are drawn over them.
        for (series, points) in lines.sorted(by: { $0.0.dash != .solid && $1.0.dash == .solid }) {
            var path = SVGPath()
            for (index, point) in points.enumerated() {
                if index == 0 {
                    path.move(to: area.px(point.x), area.py(point.y))
                } else {
                    path.line(to: area.px(point.x), area.py(point.y))
                }
            }
            if points.count > 1 {
                canvas.path(path, fill: nil, stroke: series.color, strokeWidth: series.lineWidth, dash: series.dash)
            }
            // Sloped segments as a chain of small boxes: one bounding box would claim a whole corner.
            for (previous, next) in zip(points, points.dropFirst()) {
                let (x0, y0, x1, y1) = (area.px(previous.x), area.py(previous.y), area.px(next.x), area.py(next.y))
                let pieces = max(1, min(200, Int(abs(x1 - x0) / 8)))
                for piece in 0..<pieces {
                    let (from, to) = (Double(piece) / Double(pieces), Double(piece + 1) / Double(pieces))
                    marks.append(
                        PixelBox(
                            x0: x0 + (x1 - x0) * from,
                            y0: y0 + (y1 - y0) * from,
                            x1: x0 + (x1 - x0) * to,
                            y1: y0 + (y1 - y0) * to
                        )
                    )
                }
            }
        }
        for (series, points) in lines where !points.isEmpty {
            for point in points {
                let (x, y) = (area.px(point.x), area.py(point.y))
                series.marker.draw(on: &canvas, x: x, y: y, color: series.color)
                marks.append(PixelBox(x0: x - 4, y0: y - 4, x1: x + 4, y1: y + 4))
            }
            legend.add(
                series.name,
                .line(series.color, width: series.lineWidth, dash: series.dash, marker: series.marker)
            )
        }
        area.drawAxes(on: &canvas, xTickLabels: true)
        area.drawYLabel(yLabel, on: &canvas, x: layout.yLabelBaseline)
        area.drawXLabel(xLabel, on: &canvas)
        legend.draw(on: &canvas, in: area, avoiding: marks)
        return canvas.document()
    }
}
