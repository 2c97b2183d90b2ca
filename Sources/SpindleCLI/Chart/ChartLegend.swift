/// A legend box in a corner of a plot area: one row per series, placed where it hides the least data.
///
/// ```swift
/// var legend = ChartLegend()
/// legend.add("on CPU", .area(.onCPU))
/// legend.add("all threads", .line(.allThreads))
/// legend.draw(on: &canvas, in: area, avoiding: dataBoxes)
/// ```
struct ChartLegend {
    /// The sample drawn before a label.
    enum Swatch {
        case area(ChartColor)
        case line(ChartColor, width: Double = 1.5, dash: SVGCanvas.Dash = .solid, marker: ChartMarker = .none)
    }

    enum Corner: CaseIterable {
        // In order of preference, for ties.
        case topRight, topLeft, bottomRight, bottomLeft
    }

    private(set) var entries: [(label: String, swatch: Swatch)] = []

    static let rowHeight = 16.0
    static let padding = 7.0
    static let swatchWidth = 22.0
    static let inset = 8.0

    mutating func add(_ label: String, _ swatch: Swatch) {
        entries.append((label, swatch))
    }

    /// Where the entries go in a plot area: rows per column, column width, and the size of the whole box.
    struct Layout {
        var area: PlotArea
        var rows: Int
        var columnWidth: Double
        var width: Double
        var height: Double

        /// The box of the legend in `corner` of the plot area.
        func box(at corner: Corner) -> PixelBox {
            let left = corner == .topLeft || corner == .bottomLeft
            let top = corner == .topLeft || corner == .topRight
            let x0 = left ? area.left + ChartLegend.inset : area.right - ChartLegend.inset - width
            let y0 = top ? area.top + ChartLegend.inset : area.bottom - ChartLegend.inset - height
            return PixelBox(x0: x0, y0: y0, x1: x0 + width, y1: y0 + height)
        }

        /// The corner whose box overlaps `marks` least; the first in ``Corner`` order among equals.
        func bestCorner(avoiding marks: [PixelBox]) -> Corner {
            var best = (corner: Corner.topRight, cost: Double.infinity)
            for corner in Corner.allCases {
                let box = box(at: corner)
                // Lines count as 6 px thick: hiding a line costs more than hiding a sliver of a filled area.
                let cost = marks.reduce(0) { $0 + box.overlap(with: $1, minimum: 6) }
                if cost < best.cost { best = (corner, cost) }
            }
            return best.corner
        }
    }

    /// How the entries fit `area`.
    ///
    /// Entries wrap into more columns when one column would be taller than the plot, as in a short
    /// panel with many lines; labels are cut so that the box stays within 60 % of the plot's width.
    func layout(in area: PlotArea) -> Layout {
        let fit = (area.height - 2 * Self.inset - 2 * Self.padding + 3) / Self.rowHeight
        let rows = fit.isFinite ? Int(min(max(fit, 1), Double(max(entries.count, 1)))) : 1
        let columns = (entries.count + rows - 1) / rows
        let labelWidth = entries.map { ChartMetrics.textWidth($0.label, size: ChartMetrics.legendFont) }.max() ?? 0
        let natural = Self.swatchWidth + 6 + labelWidth + Self.padding
        let columnWidth = max(Self.swatchWidth + 30, min(natural, area.width * 0.6 / Double(max(columns, 1))))
        return Layout(
            area: area,
            rows: rows,
            columnWidth: columnWidth,
            width: Self.padding + columnWidth * Double(columns),
            height: Self.padding * 2 + Self.rowHeight * Double(rows) - 3
        )
    }

    /// Draws the legend in the corner of `area` that hides the least of `marks` (nothing if it has no entries).
    func draw(on canvas: inout SVGCanvas, in area: PlotArea, avoiding marks: [PixelBox]) {
        guard !entries.isEmpty else { return }
        let layout = layout(in: area)
        let box = layout.box(at: layout.bestCorner(avoiding: marks))
        canvas.rect(
            x: box.x0,
            y: box.y0,
            width: box.x1 - box.x0,
            height: box.y1 - box.y0,
            fill: .white,
            stroke: .legendBorder,
            opacity: 0.9
        )
        let (rows, columnWidth) = (layout.rows, layout.columnWidth)
        for (index, entry) in entries.enumerated() {
            let swatchX = box.x0 + Self.padding + columnWidth * Double(index / rows)
            let middle = box.y0 + Self.padding + Self.rowHeight * Double(index % rows) + 6.5
            let labelX = swatchX + Self.swatchWidth + 6
            switch entry.swatch {
            case .area(let color):
                canvas.rect(x: swatchX, y: middle - 5, width: Self.swatchWidth, height: 10, fill: color)
            case .line(let color, let width, let dash, let marker):
                canvas.line(
                    x1: swatchX,
                    y1: middle,
                    x2: swatchX + Self.swatchWidth,
                    y2: middle,
                    stroke: color,
                    width: width,
                    dash: dash
                )
                marker.draw(on: &canvas, x: swatchX + Self.swatchWidth / 2, y: middle, color: color)
            }
            let label = ChartMetrics.truncated(
                entry.label,
                toWidth: swatchX + columnWidth - labelX - Self.padding,
                size: ChartMetrics.legendFont
            )
            canvas.text(label, x: labelX, y: middle + 4, size: ChartMetrics.legendFont)
        }
    }
}
