/// The `spindle compare --plot` chart: wall time against worker count, one line per pool and
/// workload (a colour per workload, a marker per pool), with each workload's ideal — its one-worker
/// time divided by the worker count — as a dashed line.
struct ComparePlot {
    var rows: [ComparisonRow]
    var cpus: Int

    func chart() -> LineChart {
        var series: [LineChart.Series] = []
        let workloads = rows.reduce(into: [Workload]()) { if !$0.contains($1.workload) { $0.append($1.workload) } }
        for (index, workload) in workloads.enumerated() {
            let color = ChartColor.palette(index)
            var ideal: LineChart.Series?
            let backends = rows.filter { $0.workload == workload }
                .reduce(into: [Backend]()) { if !$0.contains($1.backend) { $0.append($1.backend) } }
            for backend in backends {
                let points = rows.filter { $0.workload == workload && $0.backend == backend }
                    .sorted { $0.workers < $1.workers }
                    .map { (x: Double($0.workers), y: $0.usage.wall.seconds) }
                let line = LineChart.Series(
                    name: "\(backend.rawValue) · \(workload.rawValue)",
                    color: color,
                    points: points,
                    marker: backend == .processes ? .square : .circle
                )
                series.append(line)
                if ideal == nil {
                    ideal = .ideal(for: line, name: "ideal · \(workload.rawValue)")
                }
            }
            if let ideal { series.append(ideal) }
        }
        return LineChart(
            title: "spindle compare: wall time against workers (\(cpus) CPU\(cpus == 1 ? "" : "s") usable)",
            xLabel: "workers",
            yLabel: "wall time (s)",
            log2X: true,
            series: series
        )
    }
}
