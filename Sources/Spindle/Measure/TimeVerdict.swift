/// The plain-words reading of a ``TimeProfile``: what limited the run, with the caveats that apply
/// and the metrics that decided it.
///
/// The rules, first match wins (W wall, U = CPU/W, N usable CPUs, q = run-queue wait / (on-CPU +
/// run-queue wait), the share of its ready time a thread spent waiting for a CPU):
/// 1. W < 0.1 s or fewer than 3 samples: too short to break down. (On-CPU and run-queue time
///    are exact at any sample count; only the state-sampled waits need samples.)
/// 2. q ≥ 0.2, the run-queue wait ≥ 10 % of W, and at least half a thread ready on average:
///    starved of CPU — by its own threads when more were runnable than it had CPUs, else by other
///    processes or the hypervisor. (Short of the last condition, a caveat says threads queued.)
/// 3. disk wait ≥ 30 % of W: waiting on disk.
/// 4. U ≥ 1.5 (or U ≥ 0.8·N with N ≥ 2): parallel.
/// 5. 0.8 ≤ U < 1.5: one core busy — serialized on a lock when lock waits are ≥ 30 % of the
///    off-CPU time and ≥ 20 % of W.
/// 6. U < 0.5: mostly waiting, on the largest kind of wait (a parent waiting for its children or a
///    join never counts).
/// 7. Otherwise mixed.
public struct TimeVerdict: Sendable, Codable, Hashable {
    /// What limited the run.
    public enum Code: String, Sendable, Codable, Hashable {
        case tooShort, starvedByOwnThreads, starvedByOthers, starved, diskBound, parallel
        case serializedOnLock, oneCore, waiting, mixed
    }

    public var code: Code
    /// The verdict in words, e.g. "parallel: 1.9 of 2 CPUs busy".
    public var text: String
    /// For ``Code/waiting``: what the threads mostly waited for.
    public var waitingOn: WaitKind?
    /// Limits of the figures that apply to this run.
    public var caveats: [String]
    /// The figures the rules read (U, q, disk share, other CPU, ...).
    public var metrics: [String: Double]

    /// Applies the rules to the figures of a profile.
    static func decide(
        wall: Double,
        cpu: Double,
        cpus: Int,
        breakdown: TimeProfile.Breakdown,
        threadsThatRan: Int,
        threadsThatWantedCPU: Int? = nil,
        allowedCPUs: Int,
        otherCPU: Double,
        steal: Double,
        samples: Int
    ) -> TimeVerdict {
        let usage = wall > 0 ? cpu / wall : 0
        let ready = breakdown.onCPU + breakdown.runQueue
        let queued = ready > 0 ? breakdown.runQueue / ready : 0
        let disk = breakdown.waits[.disk] ?? 0
        let diskShare = wall > 0 ? disk / wall : 0
        let others = wall > 0 ? otherCPU / wall : 0
        let offCPU = breakdown.nonStructuralWaits
        let lockShare = offCPU > 0 ? (breakdown.waits[.lock] ?? 0) / offCPU : 0
        let runnable = wall > 0 ? ready / wall : 0
        let cpusForTree = max(1, min(cpus, allowedCPUs))
        var verdict = TimeVerdict(
            code: .mixed,
            text: "",
            caveats: [],
            metrics: [
                "cpu_per_wall": usage, "run_queue_share": queued, "disk_share_of_wall": diskShare,
                "other_cpu_per_wall": others, "lock_share_of_waits": lockShare, "runnable_threads": runnable,
                "peak_runnable_threads": breakdown.peakRunnableThreads, "cpus": Double(cpusForTree),
            ]
        )
        let busy = "\(format(usage)) of \(cpusForTree) CPU\(cpusForTree == 1 ? "" : "s") busy"
        if wall < 0.1 || samples < 3 {
            verdict.code = .tooShort
            verdict.text = "too short to break down (\(busy))"
        } else if starved(queued: queued, runQueue: breakdown.runQueue, runnable: runnable, wall: wall) {
            let waited = "threads waited \(percent(queued)) of the time they were ready to run"
            let crowd = max(runnable, breakdown.peakRunnableThreads)
            // Its own threads crowd it out only when more of them wanted a CPU than it has; a
            // single thread's sampled run-queue figure can overshoot 1 by a tick or two.
            let threads = threadsThatWantedCPU ?? Int(crowd.rounded())
            if crowd >= Double(cpusForTree) + 0.5 && threads > cpusForTree {
                verdict.code = .starvedByOwnThreads
                verdict.text =
                    "starved of CPU: your \(threads) threads share \(cpusForTree) CPU\(cpusForTree == 1 ? "" : "s") (\(busy); \(waited))"
            } else if others >= 0.2 || steal / max(wall, 1e-9) >= 0.2 {
                verdict.code = .starvedByOthers
                let taker = others >= steal / max(wall, 1e-9) ? "another process" : "the hypervisor (steal)"
                verdict.text = "starved of CPU: \(taker) took \(share(queued)) the CPU (\(waited))"
            } else {
                verdict.code = .starved
                verdict.text = "starved of CPU: \(waited)"
            }
        } else if diskShare >= 0.3 {
            verdict.code = .diskBound
            verdict.text = "mostly waiting on disk: blocked on disk \(percent(diskShare)) of the time"
        } else if usage >= 1.5 || (cpusForTree >= 2 && usage >= 0.8 * Double(cpusForTree)) {
            verdict.code = .parallel
            verdict.text = "parallel: \(busy)"
        } else if usage >= 0.8 {
            let lockWait = breakdown.waits[.lock] ?? 0
            if lockShare >= 0.3 && lockWait >= 0.2 * wall {
                verdict.code = .serializedOnLock
                let who = threadsThatRan >= 2 ? "\(threadsThatRan) threads took turns on one" : "threads waited for one"
                verdict.text = "mostly waiting on a lock: \(who), \(format(lockWait)) s of waiting (\(busy))"
            } else {
                verdict.code = .oneCore
                verdict.text = "CPU-bound on one core"
            }
        } else if usage < 0.5 {
            verdict.code = .waiting
            let top = breakdown.time.largestWait(structural: false, minimum: 0)
            verdict.waitingOn = top
            verdict.text = waitingText(top) + " (\(busy))"
        } else {
            let waits = breakdown.waits.filter { !$0.key.isStructural && $0.value > 0 }
                .sorted { $0.value > $1.value }.prefix(2).map { "\($0.key.label) \(format($0.value)) s" }
            verdict.text = "mixed: \(busy)" + (waits.isEmpty ? "" : "; waits: " + waits.joined(separator: ", "))
        }
        return verdict
    }

    /// Threads waited for a CPU for a fifth of their ready time, at least a tenth of the wall,
    /// while on average at least half a thread was ready: a program that mostly waited on
    /// something else (a pipe, a sleep) is not called starved because a helper thread queued.
    static func starved(queued: Double, runQueue: Double, runnable: Double, wall: Double) -> Bool {
        queued >= 0.2 && runQueue >= 0.1 * wall && runnable >= 0.5
    }

    private static func waitingText(_ kind: WaitKind?) -> String {
        switch kind {
        case .sleep: "mostly sleeping"
        case .lock: "mostly waiting on a lock"
        case .disk: "mostly waiting on disk"
        case .pipe: "mostly waiting on a pipe"
        case .network: "mostly waiting on the network"
        case .terminal: "mostly waiting for terminal input"
        case .poll: "mostly waiting in poll/epoll: an idle event loop"
        case .condition: "mostly idle: threads waiting for a signal (condition variable, semaphore)"
        case .other, .children, .join, nil: "mostly waiting"
        }
    }
}

/// "0.95", "1.9", "12": two significant digits or so, for prose.
func format(_ value: Double) -> String {
    guard value.isFinite else { return "–" }
    let magnitude = abs(value)
    let digits = magnitude >= 10 ? 0 : magnitude >= 1 ? 1 : 2
    return formatFixed(value, digits: digits)
}

/// A number with a fixed count of decimals, without Foundation.
func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "–" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled > 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    let fractionText = String(fraction)
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
}

/// "48 %".
func percent(_ share: Double) -> String { "\(Int((share * 100).rounded())) %" }

/// "half", "a third", "a quarter", or a percentage, as in "took half the CPU".
private func share(_ value: Double) -> String {
    switch value {
    case 0.4..<0.6: "half"
    case 0.3..<0.4: "a third of"
    case 0.2..<0.3: "a quarter of"
    default: "\(percent(value)) of"
    }
}
