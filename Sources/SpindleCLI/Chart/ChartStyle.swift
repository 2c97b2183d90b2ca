import Spindle

/// A colour for chart marks: any SVG colour value, usually `#rrggbb`.
///
/// The constants name what they show, so every chart draws a thread state in the same colour:
///
/// ```swift
/// ChartSeries(name: "on CPU", color: .onCPU, values: onCPU)
/// ChartSeries(name: "lock", color: .waitClass(.lock), values: lockWaits)
/// ChartSeries(name: "threads · cpu", color: .palette(0), values: walls)
/// ```
struct ChartColor: Hashable, Sendable, ExpressibleByStringLiteral {
    var value: String

    init(stringLiteral value: String) { self.value = value }
}

extension ChartColor {
    // Thread states, as in the mock-up: the strong "tab10" hues for the three states the verdict is
    // about (on CPU, waiting for a CPU, blocked on disk), muted tones for the other waits, so that
    // the three stand out however many wait classes are stacked above them.

    /// Running on a CPU.
    static let onCPU: ChartColor = "#2ca02c"
    /// Runnable, waiting in a run queue for a CPU.
    static let runQueue: ChartColor = "#d62728"
    /// Blocked on disk I/O (state D).
    static let diskIO: ChartColor = "#1f77b4"
    /// Waiting on a lock (futex).
    static let lockWait: ChartColor = "#a98bb8"
    /// Waiting for a signal: a condition variable, a semaphore, an idle worker.
    static let conditionWait: ChartColor = "#e0a6c4"
    /// Waiting on a socket.
    static let networkWait: ChartColor = "#8db5ac"
    /// Waiting on a pipe.
    static let pipeWait: ChartColor = "#cdb584"
    /// Sleeping on a timer.
    static let sleepWait: ChartColor = "#d4d4d4"
    /// Idle in poll, select or epoll.
    static let pollWait: ChartColor = "#b3b3b3"
    /// Waiting on a terminal.
    static let terminalWait: ChartColor = "#dcc9b0"
    /// A parent waiting for its child processes to exit.
    static let childrenWait: ChartColor = "#b59c8c"
    /// A thread waiting for another thread to finish.
    static let joinWait: ChartColor = "#9fabbd"
    /// Any other wait.
    static let otherWait: ChartColor = "#8f8f8f"
    /// The outline of all threads, whatever their state.
    static let allThreads: ChartColor = "#3c3c3c"

    /// Bytes read per second.
    static let diskRead: ChartColor = "#1f77b4"
    /// Bytes written per second.
    static let diskWrite: ChartColor = "#ff7f0e"
    /// Resident memory.
    static let memory: ChartColor = "#9467bd"

    static let white: ChartColor = "#ffffff"
    static let text: ChartColor = "#222222"
    static let mutedText: ChartColor = "#777777"
    static let axis: ChartColor = "#666666"
    static let grid: ChartColor = "#e8e8e8"
    static let legendBorder: ChartColor = "#cccccc"
    static let reference: ChartColor = "#333333"

    /// The colour of a kind of wait, distinct for each kind.
    static func waitClass(_ kind: WaitKind) -> ChartColor {
        switch kind {
        case .disk: .diskIO
        case .lock: .lockWait
        case .condition: .conditionWait
        case .sleep: .sleepWait
        case .pipe: .pipeWait
        case .network: .networkWait
        case .terminal: .terminalWait
        case .poll: .pollWait
        case .children: .childrenWait
        case .join: .joinWait
        case .other: .otherWait
        }
    }

    /// The `index`th colour of a ten-colour categorical palette ("tab10"), cycling.
    static func palette(_ index: Int) -> ChartColor {
        let colors: [ChartColor] = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        ]
        return colors[((index % colors.count) + colors.count) % colors.count]
    }
}

/// The shape drawn at each point of a line chart's series.
enum ChartMarker: Sendable {
    case none, circle, square

    /// Draws the marker centred on (`x`, `y`), filled with `color` and outlined in white.
    func draw(on canvas: inout SVGCanvas, x: Double, y: Double, color: ChartColor) {
        let r = 4.0
        switch self {
        case .none:
            break
        case .circle:
            canvas.circle(cx: x, cy: y, radius: r, fill: color, stroke: .white)
        case .square:
            let half = r * 0.9
            canvas.rect(
                x: x - half,
                y: y - half,
                width: 2 * half,
                height: 2 * half,
                fill: color,
                stroke: .white,
                strokeWidth: 0.8
            )
        }
    }
}

/// Font sizes and spacing shared by the charts, tuned for about 900×560 pixels.
enum ChartMetrics {
    static let titleFont = 15.0
    static let labelFont = 12.0
    static let tickFont = 11.0
    static let legendFont = 11.0
    static let tickLength = 4.0

    /// An estimate of the width of `text` in a sans-serif font of `size` pixels.
    ///
    /// SVG cannot measure text before it is drawn; 0.6 em per character (0.66 in bold) fits DejaVu Sans
    /// and Liberation Sans digits and lower case with a little to spare, which is what layout needs.
    static func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
        Double(text.count) * size * (bold ? 0.66 : 0.6)
    }

    /// `text` cut to fit `width` pixels at `size`, ending in "…" when cut.
    static func truncated(_ text: String, toWidth width: Double, size: Double, bold: Bool = false) -> String {
        guard textWidth(text, size: size, bold: bold) > width + 0.5 else { return text }
        let keep = max(0, Int(width / (size * (bold ? 0.66 : 0.6))) - 1)
        return String(text.prefix(keep)) + "…"
    }
}
