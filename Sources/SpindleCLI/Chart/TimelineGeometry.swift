/// The arithmetic behind a timeline's step areas and lines: cumulative layers, binning, and step paths.
enum TimelineGeometry {
    /// The upper edge of each stacked layer: `tops[k][i]` is the sum of layers 0…k at interval `i`.
    ///
    /// NaN, infinite and negative values count as zero, so every layer's lower edge is the previous top.
    static func cumulative(_ layers: [[Double]]) -> [[Double]] {
        var tops: [[Double]] = []
        var running = [Double](repeating: 0, count: layers.first?.count ?? 0)
        for layer in layers {
            for index in running.indices where index < layer.count {
                let value = layer[index]
                if value.isFinite && value > 0 { running[index] += value }
            }
            tops.append(running)
        }
        return tops
    }

    /// Whether `next` starts where `previous` ends (within rounding), so a step can join them.
    static func isContiguous(_ previous: SampleInterval, _ next: SampleInterval) -> Bool {
        next.start - previous.end <= 1e-9 * max(1, abs(previous.end))
    }

    /// The intervals merged into at most about `maxBins` groups, each series averaged over every group.
    ///
    /// A group is a run of contiguous intervals (a gap always starts a new one), and its value is the
    /// time-weighted mean of the finite values in it, so areas keep their meaning (average threads over
    /// the group) and a 10 000-sample run draws about one step per pixel column.
    ///
    /// - Complexity: O(*n* · *s*) for *n* intervals and *s* series.
    static func binned(
        _ intervals: [SampleInterval],
        _ series: [[Double]],
        maxBins: Int
    ) -> (intervals: [SampleInterval], series: [[Double]]) {
        let perBin = (intervals.count + max(1, maxBins) - 1) / max(1, maxBins)
        guard perBin > 1 else { return (intervals, series) }
        var groups: [Range<Int>] = []
        var start = 0
        for index in 1...intervals.count {
            let ends =
                index == intervals.count || index - start == perBin
                || !isContiguous(intervals[index - 1], intervals[index])
            if ends {
                groups.append(start..<index)
                start = index
            }
        }
        let merged = groups.map {
            SampleInterval(start: intervals[$0.lowerBound].start, end: intervals[$0.upperBound - 1].end)
        }
        let averaged = series.map { values in
            groups.map { group in average(of: values, over: intervals, in: group) }
        }
        return (merged, averaged)
    }

    /// The time-weighted mean of the finite `values` in `group`; the plain mean if they take no time; NaN if none.
    private static func average(of values: [Double], over intervals: [SampleInterval], in group: Range<Int>) -> Double {
        var (weighted, time, sum, count) = (0.0, 0.0, 0.0, 0.0)
        for index in group where index < values.count && values[index].isFinite {
            let duration = max(0, intervals[index].duration)
            weighted += values[index] * duration
            time += duration
            sum += values[index]
            count += 1
        }
        if time > 0 { return weighted / time }
        return count > 0 ? sum / count : .nan
    }

    /// One filled polygon per run of contiguous intervals where `upper` is above `lower`, as a single path.
    ///
    /// Each polygon steps along `upper` from left to right and back along `lower`; equal neighbouring
    /// values merge (see ``SVGPath``), so flat stretches cost nothing.
    static func areaPath(
        _ intervals: [SampleInterval],
        lower: [Double],
        upper: [Double],
        in area: PlotArea
    ) -> SVGPath {
        var path = SVGPath()
        forEachRun(intervals, where: { upper[$0] > lower[$0] }) { run in
            path.move(to: area.px(intervals[run.lowerBound].start), area.py(upper[run.lowerBound]))
            for index in run {
                path.vertical(to: area.py(upper[index]))
                path.horizontal(to: area.px(intervals[index].end))
            }
            for index in run.reversed() {
                path.vertical(to: area.py(lower[index]))
                path.horizontal(to: area.px(intervals[index].start))
            }
            path.close()
        }
        return path
    }

    /// A step line through `values`, with a gap at NaN values and between intervals that do not touch.
    static func linePath(_ intervals: [SampleInterval], values: [Double], in area: PlotArea) -> SVGPath {
        var path = SVGPath()
        forEachRun(intervals, where: { values[$0].isFinite }) { run in
            path.move(to: area.px(intervals[run.lowerBound].start), area.py(values[run.lowerBound]))
            for index in run {
                path.vertical(to: area.py(values[index]))
                path.horizontal(to: area.px(intervals[index].end))
            }
        }
        return path
    }

    /// Calls `body` with each maximal run of contiguous intervals whose indices satisfy `included`.
    private static func forEachRun(
        _ intervals: [SampleInterval],
        where included: (Int) -> Bool,
        _ body: (ClosedRange<Int>) -> Void
    ) {
        var index = 0
        while index < intervals.count {
            guard included(index) else {
                index += 1
                continue
            }
            var last = index
            while last + 1 < intervals.count, included(last + 1), isContiguous(intervals[last], intervals[last + 1]) {
                last += 1
            }
            body(index...last)
            index = last + 1
        }
    }
}
