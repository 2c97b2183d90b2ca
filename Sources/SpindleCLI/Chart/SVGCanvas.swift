/// A standalone SVG 1.1 document built element by element, with escaped text and compact numbers.
///
/// The canvas knows nothing about charts: it writes shapes in pixel coordinates (origin top left),
/// escapes every string it is given and rounds every number to at most two decimals.
///
/// ```swift
/// var canvas = SVGCanvas(width: 300, height: 100)
/// canvas.rect(x: 10, y: 10, width: 50, height: 20, fill: .onCPU)
/// canvas.text("a < b", x: 150, y: 60, anchor: .middle)
/// let svg = canvas.document()  // "<?xml …?><svg xmlns=… width="300" height="100" …>…</svg>"
/// ```
struct SVGCanvas {
    /// Which point of a text its `x` coordinate names.
    enum TextAnchor: String {
        case start, middle, end
    }

    /// A stroke pattern.
    enum Dash {
        case solid, dashed, dotted

        var pattern: String? {
            switch self {
            case .solid: nil
            case .dashed: "6 4"
            case .dotted: "1.5 3"
            }
        }
    }

    let width: Double
    let height: Double
    private var body = ""

    /// An empty canvas with a white background (or `background`) and a sans-serif default font.
    init(width: Double, height: Double, background: ChartColor = .white) {
        self.width = width
        self.height = height
        rect(x: 0, y: 0, width: width, height: height, fill: background)
    }

    mutating func rect(
        x: Double,
        y: Double,
        width: Double,
        height: Double,
        fill: ChartColor?,
        stroke: ChartColor? = nil,
        strokeWidth: Double = 1,
        opacity: Double = 1
    ) {
        element(
            "rect",
            [
                ("x", Self.number(x)), ("y", Self.number(y)),
                ("width", Self.number(max(0, width))), ("height", Self.number(max(0, height))),
                ("fill", fill?.value ?? "none"), ("fill-opacity", opacity < 1 ? Self.number(opacity) : nil),
                ("stroke", stroke?.value), ("stroke-width", stroke == nil ? nil : Self.number(strokeWidth)),
            ]
        )
    }

    mutating func line(
        x1: Double,
        y1: Double,
        x2: Double,
        y2: Double,
        stroke: ChartColor,
        width: Double = 1,
        dash: Dash = .solid
    ) {
        element(
            "line",
            [
                ("x1", Self.number(x1)), ("y1", Self.number(y1)), ("x2", Self.number(x2)), ("y2", Self.number(y2)),
                ("stroke", stroke.value), ("stroke-width", Self.number(width)), ("stroke-dasharray", dash.pattern),
            ]
        )
    }

    /// Draws `path`, filled, stroked or both; an empty path draws nothing.
    mutating func path(
        _ path: SVGPath,
        fill: ChartColor?,
        stroke: ChartColor? = nil,
        strokeWidth: Double = 1,
        dash: Dash = .solid
    ) {
        guard !path.isEmpty else { return }
        element(
            "path",
            [
                ("d", path.data),
                ("fill", fill?.value ?? "none"),
                ("stroke", stroke?.value),
                ("stroke-width", stroke == nil ? nil : Self.number(strokeWidth)),
                ("stroke-dasharray", stroke == nil ? nil : dash.pattern),
                ("stroke-linejoin", stroke == nil ? nil : "round"),
            ]
        )
    }

    mutating func circle(cx: Double, cy: Double, radius: Double, fill: ChartColor, stroke: ChartColor? = nil) {
        element(
            "circle",
            [
                ("cx", Self.number(cx)), ("cy", Self.number(cy)), ("r", Self.number(radius)),
                ("fill", fill.value), ("stroke", stroke?.value),
            ]
        )
    }

    /// Writes `text` with its baseline at `y`.
    ///
    /// - Parameters:
    ///   - rotation: Degrees clockwise around (`x`, `y`); -90 reads bottom to top, as y-axis labels do.
    ///   - halo: Draws a white outline under the text first, so it stays legible over lines and areas.
    mutating func text(
        _ text: String,
        x: Double,
        y: Double,
        size: Double = ChartMetrics.tickFont,
        anchor: TextAnchor = .start,
        fill: ChartColor = .text,
        bold: Bool = false,
        rotation: Double = 0,
        halo: Bool = false
    ) {
        var attributes: [(String, String?)] = [
            ("x", Self.number(x)), ("y", Self.number(y)), ("font-size", Self.number(size)),
            ("text-anchor", anchor == .start ? nil : anchor.rawValue),
            ("font-weight", bold ? "bold" : nil),
            ("transform", rotation == 0 ? nil : "rotate(\(Self.number(rotation)) \(Self.number(x)) \(Self.number(y)))"),
        ]
        // SVG 1.1 has no `paint-order`, so the halo is a second, white-stroked copy underneath.
        if halo {
            element(
                "text",
                attributes + [
                    ("fill", ChartColor.white.value), ("stroke", ChartColor.white.value), ("stroke-width", "3"),
                    ("stroke-linejoin", "round"),
                ],
                content: text
            )
        }
        attributes.append(("fill", fill.value))
        element("text", attributes, content: text)
    }

    /// The complete document: XML declaration, `<svg>` root with `viewBox`, and the elements drawn so far.
    func document() -> String {
        let size = "width=\"\(Self.number(width))\" height=\"\(Self.number(height))\""
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" \(size) \
            viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="sans-serif">
            \(body)</svg>

            """
    }

    /// Appends `<name a="v" …/>` (or with `content` as escaped text), leaving out attributes whose value is nil.
    private mutating func element(_ name: String, _ attributes: [(String, String?)], content: String? = nil) {
        body += "<" + name
        for case let (key, value?) in attributes {
            body += " \(key)=\"\(Self.escape(value))\""
        }
        if let content {
            body += ">" + Self.escape(content) + "</\(name)>\n"
        } else {
            body += "/>\n"
        }
    }
}

extension SVGCanvas {
    /// `text` made safe for XML text and attribute values.
    ///
    /// Escapes `&`, `<`, `>`, `"` and `'`, and replaces the control characters XML 1.0 forbids
    /// (a command line can contain anything) with U+FFFD.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// `value` with at most two decimals and no trailing zeros ("12", "0.5", "-3.25"); non-finite values give "0".
    ///
    /// Coordinates need no more precision than a hundredth of a pixel, and never an exponent.
    static func number(_ value: Double) -> String {
        decimal(value, digits: 2, trimmingZeros: true)
    }

    /// `value` with `digits` decimals, without Foundation's locale-dependent formatting.
    ///
    /// `digits` is at most 9, and values are clamped so that the scaled value fits in 64-bit integers
    /// (±9·10¹⁵ for two digits).
    static func decimal(_ value: Double, digits: Int, trimmingZeros: Bool = false) -> String {
        guard value.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<min(max(digits, 0), 9) { scale *= 10 }
        let limit = 9e17 / Double(scale)
        let scaled = Int64((min(max(value, -limit), limit) * Double(scale)).rounded())
        let magnitude = scaled.magnitude
        var text = (scaled < 0 ? "-" : "") + String(magnitude / UInt64(scale))
        guard scale > 1 else { return text }
        var fraction = String(magnitude % UInt64(scale))
        fraction = String(repeating: "0", count: String(scale).count - 1 - fraction.count) + fraction
        if trimmingZeros {
            while fraction.last == "0" { fraction.removeLast() }
        }
        if !fraction.isEmpty { text += "." + fraction }
        return text
    }
}
