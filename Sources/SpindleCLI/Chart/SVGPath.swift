/// The `d` attribute of an SVG path, built from absolute moves and lines, with redundant steps merged.
///
/// Coordinates are rounded to a hundredth of a pixel. A horizontal or vertical step that goes nowhere
/// is dropped, and consecutive steps in the same direction along the same axis become one, so a step
/// edge of 10 000 samples with long flat runs costs a few commands, not 20 000.
///
/// ```swift
/// var path = SVGPath()
/// path.move(to: 0, 10)
/// path.horizontal(to: 5)
/// path.horizontal(to: 9)   // merges with the previous step: "M0 10H9"
/// path.vertical(to: 10)    // goes nowhere: dropped
/// path.close()
/// ```
struct SVGPath {
    /// The direction of an axis-parallel step, as its path command letter.
    private enum Axis: String {
        case horizontal = "H"
        case vertical = "V"
    }

    private enum Command {
        case move(Double, Double)
        case line(Double, Double)
        case step(Axis, from: Double, to: Double)
        case close
    }

    /// The commands already written out; `pending` may still merge with the next one.
    private var written = ""
    private var pending: Command?
    private var x = 0.0
    private var y = 0.0
    private var subpathStart = (x: 0.0, y: 0.0)

    var isEmpty: Bool { written.isEmpty && pending == nil }

    /// The path data, such as `M0 10H9V20Z`.
    var data: String {
        var copy = self
        copy.flush()
        return copy.written
    }

    /// Starts a new subpath at (`x`, `y`).
    mutating func move(to x: Double, _ y: Double) {
        let (x, y) = (Self.round(x), Self.round(y))
        if case .move = pending {
            pending = nil  // a move followed by a move: only the last one matters
        }
        flush()
        pending = .move(x, y)
        (self.x, self.y) = (x, y)
        subpathStart = (x, y)
    }

    /// A straight line to (`x`, `y`).
    mutating func line(to x: Double, _ y: Double) {
        let (x, y) = (Self.round(x), Self.round(y))
        if x == self.x {
            vertical(to: y)
        } else if y == self.y {
            horizontal(to: x)
        } else {
            flush()
            pending = .line(x, y)
            (self.x, self.y) = (x, y)
        }
    }

    /// A horizontal line to `x`, merged with the previous one when it continues in the same direction.
    mutating func horizontal(to x: Double) { step(.horizontal, to: x) }

    /// A vertical line to `y`, merged with the previous one when it continues in the same direction.
    mutating func vertical(to y: Double) { step(.vertical, to: y) }

    /// A line along `axis` to the coordinate `target`, merged with a pending step along the same axis
    /// that goes in the same direction.
    private mutating func step(_ axis: Axis, to target: Double) {
        let target = Self.round(target)
        let current = axis == .horizontal ? x : y
        guard target != current else { return }
        if case .step(axis, let from, let to) = pending, (to - from).sign == (target - to).sign {
            pending = .step(axis, from: from, to: target)
        } else {
            flush()
            pending = .step(axis, from: current, to: target)
        }
        if axis == .horizontal { x = target } else { y = target }
    }

    /// Closes the current subpath back to its start.
    mutating func close() {
        flush()
        pending = .close
        (x, y) = subpathStart
    }

    private mutating func flush() {
        guard let command = pending else { return }
        pending = nil
        let n = SVGCanvas.number
        switch command {
        case .move(let x, let y): written += "M\(n(x)) \(n(y))"
        case .line(let x, let y): written += "L\(n(x)) \(n(y))"
        case .step(let axis, _, let to): written += axis.rawValue + n(to)
        case .close: written += "Z"
        }
    }

    private static func round(_ value: Double) -> Double {
        guard value.isFinite else { return 0 }
        return (min(max(value, -1e9), 1e9) * 100).rounded() / 100
    }
}
