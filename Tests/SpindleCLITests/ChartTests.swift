import Foundation
import Spindle
@testable import SpindleCLI
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The SVG charts of `spindle time --plot` and `spindle compare --plot`.
///
/// Set `SPINDLE_CHART_PREVIEW` to a directory to keep the PNGs of the rendering test there, to look at them.
@Suite struct ChartTests {
    // MARK: Documents

    @Test func documentsAreWellFormedXML() throws {
        let timeline = try Self.mockUpTimeline().render()
        let empty = try TimelineChart(title: "empty", intervals: [], panels: []).render()
        let compare = Self.compareChart().render()
        for svg in [timeline, empty, compare] {
            let document = try SVGDocument(svg)
            #expect(document.elements.first?.name == "svg")
            #expect(document.elements.first?.attributes["xmlns"] == "http://www.w3.org/2000/svg")
            #expect(document.elements.first?.attributes["viewBox"] == "0 0 900 560")
            #expect(document.elements.dropFirst().first?.name == "rect", "a background first")
            #expect(!svg.contains(/[0-9][eE][-+][0-9]/), "no exponents in numbers")
        }
        #expect(try SVGDocument(timeline).texts.contains("seconds since start"))
        #expect(try SVGDocument(timeline).texts.contains("2 CPUs"))
        #expect(try SVGDocument(empty).texts.contains("no samples"))
        #expect(try SVGDocument(compare).texts.contains("ideal (linear) · sleep"))
    }

    @Test func textIsEscaped() throws {
        let awkward = "a<&>b \"q\" 'x' \u{1}"
        var chart = try TimelineChart(
            title: awkward,
            intervals: [(0, 1), (1, 2)],
            panels: [
                TimelinePanel(yLabel: awkward, lines: [ChartSeries(name: awkward, color: .diskRead, values: [1, 2])])
            ]
        )
        chart.xLabel = "<&>"
        let document = try SVGDocument(chart.render())
        #expect(document.texts.contains("a<&>b \"q\" 'x' \u{FFFD}"))
        #expect(document.texts.contains("<&>"))
        let line = LineChart(
            title: "<&>",
            xLabel: "x",
            yLabel: "y",
            series: [.init(name: "<&>", color: "#000\"", points: [(1, 1)])]
        )
        #expect(try SVGDocument(line.render()).texts.filter { $0 == "<&>" }.count == 2)
        #expect(SVGCanvas.escape("<&>\"'") == "&lt;&amp;&gt;&quot;&apos;")
    }

    @Test func numbersAreCompact() {
        #expect(SVGCanvas.number(1e-5) == "0")
        #expect(SVGCanvas.number(-0.001) == "0")
        #expect(SVGCanvas.number(1.0 / 3) == "0.33")
        #expect(SVGCanvas.number(2.5) == "2.5")
        #expect(SVGCanvas.number(-12.005) == "-12.01" || SVGCanvas.number(-12.005) == "-12")
        #expect(SVGCanvas.number(1_234_567.891) == "1234567.89")
        #expect(SVGCanvas.number(.nan) == "0" && SVGCanvas.number(.infinity) == "0")
        #expect(SVGCanvas.decimal(2, digits: 1) == "2.0")
        #expect(SVGCanvas.decimal(0.05, digits: 2) == "0.05")
    }

    // MARK: Colours

    @Test func everyWaitKindHasItsOwnColour() {
        let colors = WaitKind.allCases.map(ChartColor.waitClass)
        #expect(Set(colors).count == colors.count, "\(colors.map(\.value))")
        #expect(!colors.contains(.onCPU) && !colors.contains(.runQueue), "the run states keep their own colours")
        #expect(ChartColor.waitClass(.disk) == .diskIO)
    }

    // MARK: Axes

    @Test func linearTicksAreNice() {
        #expect(ChartAxis.niceTicks(from: 0, through: 1.93).ticks == [0, 0.5, 1, 1.5, 2])
        #expect(ChartAxis.niceTicks(from: 0, through: 12.4).ticks == [0, 2, 4, 6, 8, 10, 12, 14])
        #expect(ChartAxis.niceTicks(from: 0, through: 12.4, maxTicks: 4).ticks == [0, 5, 10, 15])
        #expect(ChartAxis.niceTicks(from: 0, through: 0.7).ticks == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])

        let flat = ChartAxis.niceTicks(from: 0, through: 0).ticks
        #expect(flat.first == 0 && flat.last == 1 && (2...8).contains(flat.count), "\(flat)")

        let tiny = ChartAxis(linearThrough: [0.000_31])
        #expect((4...8).contains(tiny.ticks.count) && tiny.upper >= 0.000_31)
        let labels = tiny.ticks.map { tiny.label(for: $0) }
        #expect(Set(labels).count == labels.count, "labels tell ticks apart: \(labels)")
        #expect(labels.last == "0.00035" || labels.last == "0.0004", "\(labels)")

        let dirty = ChartAxis(linearThrough: [.nan, .infinity, -.infinity, 3])
        #expect(dirty.lower == 0 && dirty.upper == 3 && dirty.ticks.allSatisfy(\.isFinite))
        #expect(ChartAxis(linearThrough: []).ticks.last == 1)

        let half = ChartAxis(linearThrough: [1.93])
        #expect(half.ticks.map { half.label(for: $0) } == ["0.0", "0.5", "1.0", "1.5", "2.0"])
        let big = ChartAxis(linearThrough: [2_400_000])
        #expect(big.ticks.map { big.label(for: $0) }.last == "2.5M")

        let exact = ChartAxis(linearFrom: 0, through: 3.9, maxTicks: 10, widened: false)
        #expect(exact.upper == 3.9 && exact.ticks.last == 3.5)
    }

    @Test func log2TicksSitOnTheWorkerCounts() {
        #expect(ChartAxis.log2Ticks(from: 1, through: 16) == [1, 2, 4, 8, 16])
        #expect(ChartAxis.log2Ticks(from: 3, through: 12) == [2, 4, 8, 16])
        #expect(ChartAxis(log2Through: [16, 1, 4, 2, 8, 8, .nan, 0, -2]).ticks == [1, 2, 4, 8, 16])
        #expect(ChartAxis(log2Through: [1, 3, 6]).ticks == [1, 3, 6])

        let axis = ChartAxis(log2Through: [1, 16])
        #expect(abs(axis.fraction(of: 4) - 0.5) < 1e-12, "4 is halfway from 1 to 16 on a log2 axis")
        #expect(axis.fraction(of: 1) > 0 && axis.fraction(of: 16) < 1, "end points clear the frame")
        #expect(log2(8.0) == 3)
        #expect(abs(log2(3.0) - 1.584_962_500_721_156) < 1e-12)
        #expect(abs(exp2(log2(5.5)) - 5.5) < 1e-12)
    }

    // MARK: Geometry

    @Test func stackedTopsAreTheSumOfTheLayers() {
        let layers: [[Double]] = [[1, 2, .nan], [1, -1, 2], [0.5, 0.5, 0.5]]
        let tops = TimelineGeometry.cumulative(layers)
        #expect(tops == [[1, 2, 0], [2, 2, 2], [2.5, 2.5, 2.5]])

        // x: 100 px per second; y: 100 px per thread, 0 at the bottom (400 px).
        let intervals = (0..<3).map { SampleInterval(start: Double($0), end: Double($0 + 1)) }
        let area = PlotArea(
            left: 0,
            top: 0,
            width: 300,
            height: 400,
            x: ChartAxis(linearFrom: 0, through: 3, widened: false),
            y: ChartAxis(linearThrough: [4])
        )
        let bottom = TimelineGeometry.areaPath(intervals, lower: [0, 0, 0], upper: [1, 1, 2], in: area)
        #expect(bottom.data == "M0 300H200V200H300V400H0Z", "equal neighbours merge into one step")
        let middle = TimelineGeometry.areaPath(intervals, lower: [1, 1, 2], upper: [2, 1, 3], in: area)
        #expect(middle.data == "M0 200H100V300H0ZM200 100H300V200H200Z", "an empty stretch splits the polygon")
        let line = TimelineGeometry.linePath(intervals, values: [1, .nan, 3], in: area)
        #expect(line.data == "M0 300H100M200 100H300", "NaN leaves a gap")
    }

    @Test func longRunsAreBinnedToAboutAPixelEach() throws {
        let count = 10_000
        let intervals = (0..<count).map { SampleInterval(start: Double($0) * 0.01, end: Double($0 + 1) * 0.01) }
        let values = (0..<count).map { Double(($0 * 7919) % 13) / 4 }
        let (bins, series) = TimelineGeometry.binned(intervals, [values], maxBins: 900)
        #expect(bins.count <= 910 && bins.count >= 800)
        #expect(bins.first?.start == 0 && bins.last?.end == intervals.last?.end)
        let area = { (intervals: [SampleInterval], values: [Double]) in
            zip(intervals, values).reduce(0) { $0 + $1.0.duration * $1.1 }
        }
        #expect(abs(area(bins, series[0]) - area(intervals, values)) < 1e-6, "binning keeps thread-seconds")

        let layers = (0..<4).map { layer in values.map { $0 + Double(layer) } }
        let chart = try TimelineChart(
            title: "long",
            intervals: intervals.map { ($0.start, $0.end) },
            panels: [
                TimelinePanel(
                    yLabel: "threads",
                    stacked: layers.enumerated().map { ChartSeries(name: "\($0)", color: .palette($0), values: $1) }
                )
            ]
        )
        #expect(chart.render().utf8.count < 150_000)
    }

    @Test func gapsAreNotBridged() {
        let intervals = [
            SampleInterval(start: 0, end: 1), SampleInterval(start: 1, end: 2), SampleInterval(start: 5, end: 6),
        ]
        let (bins, series) = TimelineGeometry.binned(intervals, [[1, 3, 5]], maxBins: 1)
        #expect(bins == [SampleInterval(start: 0, end: 2), SampleInterval(start: 5, end: 6)])
        #expect(series == [[2, 5]])
    }

    @Test func legendsMoveAwayFromTheData() {
        var legend = ChartLegend()
        legend.add("on CPU", .area(.onCPU))
        legend.add("all threads", .line(.allThreads))
        let area = PlotArea(
            left: 0,
            top: 0,
            width: 400,
            height: 300,
            x: ChartAxis(linearThrough: [1]),
            y: ChartAxis(linearThrough: [1])
        )
        let placement = legend.layout(in: area)
        #expect(placement.bestCorner(avoiding: []) == .topRight, "top right when nothing is in the way")
        let rightHalf = PixelBox(x0: 200, y0: 0, x1: 400, y1: 300)
        #expect(placement.bestCorner(avoiding: [rightHalf]) == .topLeft)
        let tall = PixelBox(x0: 0, y0: 100, x1: 400, y1: 300)
        let line = PixelBox(x0: 0, y0: 20, x1: 200, y1: 20)
        #expect(placement.bestCorner(avoiding: [tall, line]) == .topRight)

        // A short panel with many lines: the entries wrap into columns and the box stays inside the plot.
        for index in 0..<10 { legend.add("line \(index)", .line(.palette(index))) }
        var short = area
        short.height = 100
        let layout = legend.layout(in: short)
        #expect(layout.rows == 4 && layout.height <= short.height)
        let box = layout.box(at: .topRight)
        #expect(box.x0 >= short.left && box.y1 <= short.bottom)
    }

    @Test func oddSizesStillRender() throws {
        var timeline = try Self.mockUpTimeline()
        (timeline.width, timeline.height) = (.nan, 10)
        var line = Self.compareChart()
        (line.width, line.height) = (-5, .infinity)
        for svg in [timeline.render(), line.render()] {
            let root = try SVGDocument(svg).elements.first
            #expect(root?.attributes["width"] == "320" || root?.attributes["width"] == "900")
        }
    }

    // MARK: Validation

    @Test func timelinesRejectMismatchedSeries() throws {
        #expect {
            try TimelineChart(
                title: "t",
                intervals: [(0, 1), (1, 2), (2, 3)],
                panels: [
                    TimelinePanel(yLabel: "MB/s", lines: [ChartSeries(name: "read", color: .diskRead, values: [1])])
                ]
            )
        } throws: { error in
            "\(error)".contains("'read'") && "\(error)".contains("1 values for 3 sample intervals")
        }
        #expect(throws: ChartError.self) {
            try TimelineChart(title: "t", intervals: [(0, 1), (0.5, 2)], panels: [])
        }
        #expect(throws: ChartError.self) { try TimelineChart(title: "t", intervals: [(1, 0)], panels: []) }
        #expect(throws: ChartError.self) { try TimelineChart(title: "t", intervals: [(0, .nan)], panels: []) }
        let noPanels = try TimelineChart(title: "t", intervals: [(0, 1)], panels: [])
        #expect(try SVGDocument(noPanels.render()).texts.contains("no samples"))
        let noPoints = LineChart(title: "t", xLabel: "x", yLabel: "y", log2X: true, series: [])
        #expect(try SVGDocument(noPoints.render()).texts.contains("no data"))
    }

    // MARK: Writing

    @Test func writingIsAtomicAndNamesThePath() throws {
        let folder = try temporaryFolder("spindle-chart")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let missing = folder + "/missing/chart.svg"
        #expect {
            try writeAtomically("<svg/>", to: missing)
        } throws: { error in
            let message = "\(error)"
            return message.contains(missing) && message.contains("No such file or directory")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))

        let path = folder + "/chart.svg"
        try writeAtomically("first", to: path)
        try writeAtomically("second", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second")

        // Renaming over a directory fails late, after the temporary file is written: it must be removed.
        try FileManager.default.createDirectory(atPath: folder + "/taken.svg", withIntermediateDirectories: false)
        #expect(throws: ChartError.self) { try writeAtomically("third", to: folder + "/taken.svg") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["chart.svg", "taken.svg"])
    }

    // MARK: Rendering

    @Test(.enabled(if: canRenderSVG, "needs rsvg-convert (librsvg2-bin)"))
    func chartsRenderToPNG() async throws {
        let preview = ProcessInfo.processInfo.environment["SPINDLE_CHART_PREVIEW"]
        let folder = try preview ?? temporaryFolder("spindle-chart")
        defer { if preview == nil { try? FileManager.default.removeItem(atPath: folder) } }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let charts = [
            ("timeline", try Self.mockUpTimeline().render()),
            ("compare", Self.compareChart().render()),
            ("empty", try TimelineChart(title: "spindle time: true", intervals: [], panels: []).render()),
            ("odd-timeline", try Self.oddTimeline().render()),
            ("odd-lines", Self.oddLineChart().render()),
        ]
        for (name, svg) in charts {
            try writeAtomically(svg, to: "\(folder)/\(name).svg")
            try await expectRenders("\(folder)/\(name).svg", to: "\(folder)/\(name).png")
        }
    }
}

// MARK: - Fixtures

extension ChartTests {
    /// A timeline shaped like the mock-up: 1 thread busy, then 2, then 4 on 2 CPUs, a disk read, a sleep and a
    /// lock phase, sampled every 20 ms, with disk and memory panels below.
    static func mockUpTimeline() throws -> TimelineChart {
        let intervals = (1...195).map { (start: Double($0 - 1) * 0.02, end: Double($0) * 0.02) }
        var noise = 0.5  // a fixed, logistic-map wobble, so the samples look measured but the test is deterministic
        func wobble(_ size: Double) -> Double {
            noise = 3.9 * noise * (1 - noise)
            return (noise - 0.5) * size
        }
        var state = [String: [Double]]()
        for time in intervals.map(\.end) {
            let sample: [String: Double]
            switch time {
            case ..<0.48: sample = ["cpu": 1, "all": 2]
            case ..<0.92: sample = ["cpu": 2 - abs(wobble(0.06)), "all": 4, "rss": 40]
            case ..<1.82:
                let queue = 2 + wobble(0.3)
                sample = ["cpu": 2 - abs(wobble(0.1)), "queue": queue, "all": 6 + wobble(0.3), "rss": 120]
            case ..<2.6:
                sample = ["cpu": 0.04, "disk": 1 + wobble(0.1), "all": 2, "read": 1450 + wobble(120), "rss": 160]
            case ..<3.0: sample = ["sleep": 1, "all": 2, "rss": 160]
            default:
                sample = ["cpu": 1, "lock": 1, "all": 3, "write": 80 + wobble(20), "rss": 200 + wobble(10)]
            }
            for key in ["cpu", "queue", "disk", "lock", "sleep", "all", "read", "write"] {
                state[key, default: []].append(sample[key] ?? 0)
            }
            state["rss", default: []].append(sample["rss"] ?? 12)
        }
        return try TimelineChart(
            title: "spindle time: ./composite.sh  (20 ms samples)",
            intervals: intervals,
            panels: [
                TimelinePanel(
                    yLabel: "threads (average)",
                    stacked: [
                        ChartSeries(name: "on CPU", color: .onCPU, values: state["cpu"]!),
                        ChartSeries(name: "waiting for CPU", color: .runQueue, values: state["queue"]!),
                        ChartSeries(name: "blocked on disk", color: .diskIO, values: state["disk"]!),
                        ChartSeries(name: "lock", color: .waitClass(.lock), values: state["lock"]!),
                        ChartSeries(name: "sleep", color: .waitClass(.sleep), values: state["sleep"]!),
                    ],
                    lines: [ChartSeries(name: "all threads", color: .allThreads, values: state["all"]!, lineWidth: 1)],
                    referenceLines: [ChartReferenceLine(value: 2, label: "2 CPUs")],
                    relativeHeight: 2.6
                ),
                TimelinePanel(
                    yLabel: "MB/s",
                    lines: [
                        ChartSeries(name: "disk read", color: .diskRead, values: state["read"]!),
                        ChartSeries(name: "disk write", color: .diskWrite, values: state["write"]!),
                    ]
                ),
                TimelinePanel(
                    yLabel: "RSS MiB",
                    lines: [ChartSeries(name: "memory (RSS)", color: .memory, values: state["rss"]!)]
                ),
            ]
        )
    }

    /// Wall time against workers for two workloads on two pools, with an ideal line per workload.
    static func compareChart() -> LineChart {
        let workers: [Double] = [1, 2, 4, 8, 16]
        func series(_ name: String, _ color: ChartColor, _ marker: ChartMarker, _ walls: [Double]) -> LineChart.Series {
            LineChart.Series(name: name, color: color, points: Array(zip(workers, walls)), marker: marker)
        }
        let cpu = series("threads · cpu", .palette(0), .circle, [1.6, 0.82, 0.83, 0.83, 0.84])
        let sleep = series("threads · sleep", .palette(1), .circle, [0.64, 0.32, 0.16, 0.081, 0.041])
        return LineChart(
            title: "spindle compare: wall time by worker count (2 CPUs)",
            xLabel: "workers",
            yLabel: "wall time (s)",
            log2X: true,
            series: [
                cpu,
                series("processes · cpu", .palette(0), .square, [1.7, 0.9, 0.91, 0.92, 0.95]),
                sleep,
                series("processes · sleep", .palette(1), .square, [0.66, 0.34, 0.18, 0.1, 0.07]),
                .ideal(for: cpu, name: "ideal (linear) · cpu"),
                .ideal(for: sleep, name: "ideal (linear) · sleep"),
            ]
        )
    }

    /// A timeline that stresses the layout: a long title, busy top-right corner, bytes per second, a gap, zeros.
    static func oddTimeline() throws -> TimelineChart {
        let times = (1...40).map { Double($0) * 0.25 } + [14, 14.5]
        let busy = times.map { $0 < 6 ? 1 : 7.5 }
        return try TimelineChart(
            title: "spindle time: " + String(repeating: "very-long-argument ", count: 12),
            intervals: zip([0] + times.dropLast(), times).map { ($0 == 10 ? 13 : $0, $1) },
            panels: [
                TimelinePanel(
                    yLabel: "threads (average over the sample interval)",
                    stacked: [ChartSeries(name: "on CPU", color: .onCPU, values: busy)],
                    referenceLines: [ChartReferenceLine(value: 8, label: "8 CPUs")],
                    relativeHeight: 2
                ),
                TimelinePanel(
                    yLabel: "bytes/s",
                    lines: [ChartSeries(name: "read", color: .diskRead, values: times.map { $0 * 1.5e8 })]
                ),
                TimelinePanel(
                    yLabel: "zeros",
                    lines: (0..<5).map { index in
                        let name = index == 0 ? "a rather long series name for a small panel" : "line \(index)"
                        return ChartSeries(name: name, color: .palette(index), values: times.map { _ in 0 })
                    }
                ),
            ]
        )
    }

    /// A line chart on a linear x axis with a single point, an empty series and a NaN.
    static func oddLineChart() -> LineChart {
        LineChart(
            title: "speedup",
            xLabel: "workers",
            yLabel: "speedup (×)",
            series: [
                .init(name: "one point", color: .palette(2), points: [(3, 2.9)]),
                .init(name: "empty", color: .palette(3), points: []),
                .init(
                    name: "with NaN",
                    color: .palette(4),
                    points: [(1, 1), (2, .nan), (4, 3.8), (6, 5.1)],
                    marker: .square
                ),
                .init(name: "no markers", color: .palette(5), points: [(1, 0.5), (6, 0.6)], marker: ChartMarker.none),
            ]
        )
    }

}

/// The elements and text of an SVG document, read with Foundation's XML parser (which rejects malformed XML).
final class SVGDocument: NSObject, XMLParserDelegate {
    private(set) var elements: [(name: String, attributes: [String: String])] = []
    private(set) var texts: [String] = []
    private var text = ""

    init(_ svg: String) throws {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw ChartError("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
    }

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append((elementName, attributes))
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if elementName == "text" { texts.append(text) }
        text = ""
    }
}
