import Spindle

/// One measured run of `spindle compare`: a workload on a number of workers.
struct ComparisonRow: Codable, Sendable, Hashable {
    var workload: Workload
    var backend: Backend
    var workers: Int
    var tasks: Int
    var usage: ResourceUsage
    /// Wall time of the same workload on the smallest worker count tried (normally 1) divided by this run's.
    var speedup: Double
}

/// Turns the runs of one workload into one sentence of plain words, drawn only from the numbers.
enum Verdict {
    /// The conclusion for one workload's rows (any order), on a machine with `cpus` usable CPUs.
    static func conclude(_ rows: [ComparisonRow], cpus: Int) -> String {
        let rows = rows.sorted { $0.workers < $1.workers }
        guard let first = rows.first, let fastest = rows.max(by: { $0.speedup < $1.speedup }) else {
            return "no runs"
        }
        // The fewest workers that get within 5 % of the best speedup: the point where adding more stops paying.
        let best = rows.first { $0.speedup >= 0.95 * fastest.speedup } ?? fastest
        let name = first.workload.rawValue
        let peakCPU = rows.map(\.usage.cpuPerWall).max() ?? 0
        let most = rows.last!
        let bestText = "×\(format(best.speedup)) with \(best.workers) worker\(best.workers == 1 ? "" : "s")"

        if rows.count == 1 {
            return "\(name): one run only (\(first.workers) workers, \(format(first.usage.cpuPerWall)) CPU-s per s); "
                + "give several worker counts to see how it scales."
        }
        // Most of the CPUs busy: the work computes, and the cores are the limit.
        if peakCPU >= 0.6 * Double(cpus) {
            var sentence =
                "\(name): computes. Best \(bestText); CPU-s per s peaks at \(format(peakCPU)) of \(cpus) CPUs"
            if most.workers > cpus && most.speedup < best.speedup * 1.1 {
                sentence += ", so past \(cpus) workers they only take turns on the same cores"
            }
            if most.speedup < best.speedup * 0.9 {
                sentence += "; \(most.workers) workers are slower than \(best.workers) (switching costs)"
            }
            return sentence + "."
        }
        // Little CPU used, yet more workers help: the threads wait, and waiting overlaps.
        if best.speedup >= 1.5 {
            let perWorker = best.speedup / Double(best.workers)
            var sentence =
                "\(name): waits. Best \(bestText) while using only \(format(peakCPU)) CPU-s per s: "
                + "workers spend their time waiting, so more workers than cores pay off"
            if perWorker < 0.5 {
                sentence += " until something else (the device, the queue) saturates"
            }
            return sentence + "."
        }
        return "\(name): more workers barely help (best \(bestText), \(format(peakCPU)) CPU-s per s): the limit is "
            + "neither the CPUs nor waiting threads but something they share, such as the disk's bandwidth or one lock."
    }

    /// What one workload's runs on both pools show, or `nil` unless both ran on the same worker counts.
    ///
    /// The lesson Swift teaches here: threads scale for CPU-bound work too (there is no global
    /// interpreter lock), so processes are not needed for speed; they cost start-up and copying, and
    /// buy isolation (a crash, a leak or a runaway job stays in its worker, which can be killed).
    static func threadsAgainstProcesses(_ rows: [ComparisonRow]) -> String? {
        let threads = rows.filter { $0.backend == .threads }
        let processes = rows.filter { $0.backend == .processes }
        let pairs = threads.compactMap { thread in
            processes.first { $0.workers == thread.workers }.map { (thread, $0) }
        }
        guard let first = rows.first, !pairs.isEmpty else { return nil }
        let name = first.workload.rawValue
        let extra = pairs.map { $0.1.usage.wall.seconds - $0.0.usage.wall.seconds }
        let meanExtra = extra.reduce(0, +) / Double(extra.count)
        let bestThreads = threads.max { $0.speedup < $1.speedup }!
        let bestProcesses = processes.max { $0.speedup < $1.speedup }!
        var sentence =
            "\(name): threads ×\(format(bestThreads.speedup)), processes ×\(format(bestProcesses.speedup)) at best; "
        if meanExtra > 0 {
            sentence +=
                "processes took \(format(meanExtra * 1000)) ms more per run on average (starting workers, "
                + "copying jobs and results)"
        } else {
            sentence += "processes were no slower here"
        }
        return sentence + ". In Swift threads scale without a GIL; choose processes for isolation, not speed."
    }

    static func format(_ value: Double) -> String {
        value >= 10 ? String(format1: value, digits: 1) : String(format1: value, digits: 2)
    }
}

extension String {
    /// `value` with `digits` digits after the point, without Foundation's locale-dependent formatting.
    init(format1 value: Double, digits: Int) {
        guard value.isFinite else {
            self = value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf")
            return
        }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (abs(value) * scale).rounded()
        let whole = Int(rounded / scale)
        let fraction = Int(rounded.truncatingRemainder(dividingBy: scale))
        var text = (value < 0 && rounded != 0 ? "-" : "") + String(whole)
        if digits > 0 {
            let digitsText = String(fraction)
            text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
        }
        self = text
    }
}
