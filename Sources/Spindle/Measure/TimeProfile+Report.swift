extension TimeProfile: CustomStringConvertible {
    /// The report `spindle time` prints: totals, where the thread time went, and the verdict.
    public var description: String { report(title: command.map { $0.joined(separator: " ") } ?? "measured block") }

    /// The report with a title line, e.g. the command.
    public func report(title: String) -> String {
        var lines: [String] = []
        var head = "spindle time: \(title)"
        if let exit {
            let outcome =
                if let signal = exit.signal { "killed by \(signalName(signal))" } else { "exit \(exit.code ?? 0)" }
            head += "   \(outcome)"
        }
        lines.append(head)
        func row(_ label: String, _ text: String) { lines.append("  " + label.padding(to: 13) + "  " + text) }

        row("wall", "\(seconds(wall)) s")
        row(
            "cpu",
            "\(seconds(cpu.total)) s   user \(seconds(cpu.user))  sys \(seconds(cpu.system))   "
                + "\(formatFixed(cpu.perWall, digits: 2)) CPU-s per wall-s (\(cpusUsable) CPU\(cpusUsable == 1 ? "" : "s") usable)"
        )
        if let callingThread {
            row(
                "this thread",
                "\(seconds(callingThread.total)) s   user \(seconds(callingThread.user))  sys \(seconds(callingThread.system))   "
                    + "\(formatFixed(callingThread.perWall, digits: 2)) CPU-s per wall-s"
            )
        }
        if verdict.code != .tooShort {
            lines += breakdownRows()
        }
        let processCount = population.processesSeen
        row(
            "processes",
            "\(processCount) (peak \(population.peakProcesses) at once), threads \(population.threadsSeen) (peak \(population.peakThreads))"
                + " · peak memory \(bytes(resources.maxResidentBytesOfOneProcess)) (largest process)"
        )
        row(
            "i/o",
            "read \(bytes(Int(resources.readBytes))) · wrote \(bytes(Int(resources.writeBytes))) from/to storage"
                + " · \(resources.voluntarySwitches) waits, \(resources.involuntarySwitches) preemptions"
        )
        row(
            "machine",
            "other processes used \(seconds(machine.otherCPU)) CPU-s · steal \(seconds(machine.steal)) s"
                + " · sampled every \(Int((sampling.interval * 1000).rounded())) ms (\(sampling.samples) samples,"
                + " \(formatFixed(sampling.samplerShareOfOneCPU * 100, digits: 1)) % of one CPU)"
        )
        lines.append("verdict: \(verdict.text)")
        for caveat in verdict.caveats { lines.append("  note: \(caveat)") }
        return lines.joined(separator: "\n")
    }

    private func breakdownRows() -> [String] {
        var lines: [String] = []
        func row(_ label: String, _ text: String) { lines.append("  " + label.padding(to: 13) + "  " + text) }
        let waits = breakdown.waits.filter { $0.value >= 0.005 }
        let structural = waits.filter { $0.key.isStructural }.values.reduce(0, +)
        let disk = waits[.disk] ?? 0
        let other = waits.filter { !$0.key.isStructural && $0.key != .disk }.values.reduce(0, +)
        if population.peakThreads <= 1 && wall > 0 {
            // One thread: every second of wall is in exactly one state, so shares of wall read best.
            func part(_ name: String, _ value: Double) -> String {
                "\(name) \(seconds(value)) (\(percent(value / wall)))"
            }
            var parts = [part("on CPU", breakdown.onCPU), part("waiting for CPU", breakdown.runQueue)]
            if disk > 0 { parts.append(part("disk", disk)) }
            parts += waits.filter { $0.key != .disk }.sorted { $0.value > $1.value }.map {
                part($0.key.label, $0.value)
            }
            row("wall split", parts.joined(separator: " + "))
        } else {
            var text =
                "on CPU \(seconds(breakdown.onCPU)) · waiting for CPU \(seconds(breakdown.runQueue)) · disk \(seconds(disk)) · other waits \(seconds(other))"
            if structural > 0 { text += "   (+ \(seconds(structural)) waiting on children or joins)" }
            row("thread time", text)
            if wall > 0 {
                row(
                    "avg threads",
                    "on CPU \(formatFixed(breakdown.onCPU / wall, digits: 2)) · waiting for CPU \(formatFixed(breakdown.runQueue / wall, digits: 2))"
                        + " · disk \(formatFixed(disk / wall, digits: 2))"
                )
            }
            let named = waits.filter { !$0.key.isStructural && $0.key != .disk }.sorted { $0.value > $1.value }
            if !named.isEmpty {
                row("other waits", named.map { "\($0.key.label) \(seconds($0.value))" }.joined(separator: " · "))
            }
        }
        if breakdown.unsampledCPU >= 0.01 {
            row("unsampled", "\(seconds(breakdown.unsampledCPU)) s of CPU in threads no sample saw")
        }
        return lines
    }

    private func seconds(_ value: Double) -> String { formatFixed(value, digits: value >= 100 ? 1 : 2) }
}

/// "0 B", "12 KiB", "3.1 MiB", "1.2 GiB".
func bytes(_ count: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : "\(format(value)) \(units[unit])"
}

extension String {
    /// The string padded with spaces to `width` characters (never cut), on the right or the left.
    func padding(to width: Int, left: Bool = false) -> String {
        guard count < width else { return self }
        let padding = String(repeating: " ", count: width - count)
        return left ? padding + self : self + padding
    }
}
