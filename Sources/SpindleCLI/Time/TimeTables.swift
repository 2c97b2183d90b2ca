import Spindle

/// The per-process and per-thread tables of `spindle time -v`.
struct TimeTables {
    var profile: TimeProfile

    func render() -> String {
        var processes = TextTable(
            headers: ["pid", "process", "from s", "to s", "on CPU s", "run queue s", "disk s", "top wait", "threads"],
            leftAligned: [1, 7]
        )
        var threads = TextTable(
            headers: ["pid", "tid", "thread", "from s", "to s", "on CPU s", "run queue s", "top wait", "wait s"],
            leftAligned: [2, 7]
        )
        for process in profile.population.processes {
            // A process that ran is not "waiting on children" first, even if its main thread mostly joined.
            let top = process.time.largestWait(structural: process.time.onCPU == 0)
            processes.add([
                String(process.pid), process.name, fixed(process.firstSeen), fixed(process.lastSeen),
                fixed(process.time.onCPU), fixed(process.time.runQueue), fixed(process.time.waits[.disk] ?? 0),
                top?.label ?? "-", String(process.threads.count),
            ])
            for thread in process.threads {
                let wait = thread.time.largestWait()
                threads.add([
                    String(process.pid), String(thread.tid), thread.name, fixed(thread.firstSeen),
                    fixed(thread.lastSeen),
                    fixed(thread.time.onCPU), fixed(thread.time.runQueue), wait?.label ?? "-",
                    fixed(wait.flatMap { thread.time.waits[$0] } ?? 0),
                ])
            }
        }
        var text = "processes\n" + processes.render() + "\n\nthreads\n" + threads.render()
        if !profile.population.stillRunning.isEmpty {
            let names = profile.population.stillRunning.map { "\($0.name) (\($0.pid))" }.joined(separator: ", ")
            text += "\n\nstill running when the command exited: \(names)"
        }
        return text
    }

    private func fixed(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
