/// A rectangle in pixels, with `y` growing downwards as on the canvas.
struct PixelBox: Equatable, Sendable {
    var x0: Double
    var y0: Double
    var x1: Double
    var y1: Double

    /// The box spanning both corners, in whichever order they are given.
    init(x0: Double, y0: Double, x1: Double, y1: Double) {
        (self.x0, self.x1) = (min(x0, x1), max(x0, x1))
        (self.y0, self.y1) = (min(y0, y1), max(y0, y1))
    }

    /// The area this box shares with `other`, counting thin boxes (a line) as at least `minimum` pixels thick.
    func overlap(with other: PixelBox, minimum: Double = 1) -> Double {
        let width = min(x1, other.x1 + minimum / 2) - max(x0, other.x0 - minimum / 2)
        let height = min(y1, other.y1 + minimum / 2) - max(y0, other.y0 - minimum / 2)
        return width > 0 && height > 0 ? width * height : 0
    }
}

/// The rectangle of a canvas where data is drawn, with the axes that map data values into it.
///
/// Insets keep the ends of the axes off the frame, so that a line at zero or a marker at the last x value
/// does not merge with the frame; stacked areas want none, so that they stand on the frame.
///
/// ```swift
/// let area = PlotArea(left: 60, top: 40, width: 800, height: 400, x: xAxis, y: yAxis)
/// area.drawGrid(on: &canvas)
/// canvas.circle(cx: area.px(2), cy: area.py(1.5), radius: 3, fill: .onCPU)
/// area.drawAxes(on: &canvas, xTickLabels: true)
/// ```
struct PlotArea {
    var left: Double
    var top: Double
    var width: Double
    var height: Double
    var x: ChartAxis
    var y: ChartAxis
    /// Pixels between the frame and the ends of the x axis, and of the y axis.
    var insets: (x: Double, y: Double)

    init(
        left: Double,
        top: Double,
        width: Double,
        height: Double,
        x: ChartAxis,
        y: ChartAxis,
        insets: (x: Double, y: Double) = (0, 0)
    ) {
        (self.left, self.top, self.width, self.height) = (left, top, width, height)
        (self.x, self.y) = (x, y)
        self.insets = (min(max(insets.x, 0), width / 4), min(max(insets.y, 0), height / 4))
    }

    var right: Double { left + width }
    var bottom: Double { top + height }

    /// The horizontal pixel position of the data value `value`.
    func px(_ value: Double) -> Double { left + insets.x + x.fraction(of: value) * (width - 2 * insets.x) }

    /// The vertical pixel position of the data value `value`.
    func py(_ value: Double) -> Double { bottom - insets.y - y.fraction(of: value) * (height - 2 * insets.y) }

    /// Faint lines at every tick inside the frame, drawn first so that the data covers them.
    func drawGrid(on canvas: inout SVGCanvas) {
        for position in y.ticks.map(py) where position > top + 0.5 && position < bottom - 0.5 {
            canvas.line(x1: left, y1: position, x2: right, y2: position, stroke: .grid)
        }
        for position in x.ticks.map(px) where position > left + 0.5 && position < right - 0.5 {
            canvas.line(x1: position, y1: top, x2: position, y2: bottom, stroke: .grid)
        }
    }

    /// The frame, tick marks on the left and bottom edges, y tick labels, and x tick labels if asked for.
    func drawAxes(on canvas: inout SVGCanvas, xTickLabels: Bool) {
        canvas.rect(x: left, y: top, width: width, height: height, fill: nil, stroke: .axis)
        let tick = ChartMetrics.tickLength
        for value in y.ticks {
            let position = py(value)
            canvas.line(x1: left - tick, y1: position, x2: left, y2: position, stroke: .axis)
            canvas.text(y.label(for: value), x: left - tick - 3, y: position + 4, anchor: .end)
        }
        for value in x.ticks {
            let position = px(value)
            canvas.line(x1: position, y1: bottom, x2: position, y2: bottom + tick, stroke: .axis)
            if xTickLabels {
                canvas.text(x.label(for: value), x: position, y: bottom + tick + 12, anchor: .middle)
            }
        }
    }

    /// The y-axis title, rotated to read upwards, centred on the plot with its baseline at `x`.
    func drawYLabel(_ label: String, on canvas: inout SVGCanvas, x: Double) {
        let size = ChartMetrics.labelFont
        let text = ChartMetrics.truncated(label, toWidth: height, size: size)
        canvas.text(text, x: x, y: top + height / 2, size: size, anchor: .middle, rotation: -90)
    }

    /// The x-axis title, centred below the tick labels.
    func drawXLabel(_ label: String, on canvas: inout SVGCanvas) {
        let size = ChartMetrics.labelFont
        let text = ChartMetrics.truncated(label, toWidth: width, size: size)
        canvas.text(text, x: left + width / 2, y: bottom + ChartMetrics.tickLength + 31, size: size, anchor: .middle)
    }

    /// A horizontal dotted line at `value` with `label` above its left end (skipped when outside the axis).
    ///
    /// - Returns: The box of the label, for the legend to avoid.
    @discardableResult
    func drawReferenceLine(at value: Double, label: String, on canvas: inout SVGCanvas) -> PixelBox? {
        guard value.isFinite, value >= y.lower, value <= y.upper else { return nil }
        let position = py(value)
        canvas.line(x1: left, y1: position, x2: right, y2: position, stroke: .reference, dash: .dotted)
        guard !label.isEmpty else { return nil }
        let size = ChartMetrics.tickFont - 1
        // Above the line, unless that would leave the frame.
        let baseline = position - 4 - size < top ? position + size + 2 : position - 4
        canvas.text(label, x: left + 5, y: baseline, size: size, fill: .reference, halo: true)
        let labelWidth = ChartMetrics.textWidth(label, size: size)
        return PixelBox(x0: left + 5, y0: baseline - size, x1: left + 5 + labelWidth, y1: baseline + 2)
    }
}

/// The margins shared by the charts: title on top, y-axis titles on the left, x labels below.
struct ChartLayout {
    let width: Double
    let height: Double

    /// The layout of a `width`×`height` chart; sizes that are not finite or too small to lay out are replaced.
    init(width: Double, height: Double) {
        self.width = width.isFinite ? max(width, 320) : 900
        self.height = height.isFinite ? max(height, 240) : 560
    }

    var plotTop: Double { 46 }
    var plotBottom: Double { height - 50 }
    var plotRight: Double { width - 22 }
    /// Where the rotated y-axis titles sit (their baseline, since they read upwards).
    var yLabelBaseline: Double { 22 }

    /// The left edge of the plots: room for the y-axis title and the widest tick label of `yAxes`.
    func plotLeft(yAxes: [ChartAxis]) -> Double {
        let labels = yAxes.flatMap { axis in axis.ticks.map { axis.label(for: $0) } }
        let widest = labels.map { ChartMetrics.textWidth($0, size: ChartMetrics.tickFont) }.max() ?? 0
        return yLabelBaseline + 10 + widest + ChartMetrics.tickLength + 6
    }

    func drawTitle(_ title: String, on canvas: inout SVGCanvas) {
        let text = ChartMetrics.truncated(title, toWidth: width - 40, size: ChartMetrics.titleFont, bold: true)
        canvas.text(text, x: width / 2, y: 27, size: ChartMetrics.titleFont, anchor: .middle, bold: true)
    }

    /// A light frame with `message` in its middle, for charts without data.
    func drawEmpty(_ message: String, on canvas: inout SVGCanvas) {
        let left = 60.0
        canvas.rect(
            x: left,
            y: plotTop,
            width: plotRight - left,
            height: plotBottom - plotTop,
            fill: nil,
            stroke: .grid
        )
        let middle = (x: (left + plotRight) / 2, y: (plotTop + plotBottom) / 2)
        canvas.text(message, x: middle.x, y: middle.y, size: 14, anchor: .middle, fill: .mutedText)
    }
}
