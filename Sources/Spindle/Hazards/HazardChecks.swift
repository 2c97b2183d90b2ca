internal import Glibc
import Synchronization

/// The switch for the hazard checks of ``CheckedLock``, and where their reports go.
///
/// Off (the default), a checked lock costs what a plain mutex does. On, every checked lock joins
/// one lock-order graph and reports a ``HazardReport/Kind/potentialDeadlock`` the first time an
/// acquisition closes a cycle in it, and a watchdog thread reports threads blocked in a cycle of
/// waits (a real ``HazardReport/Kind/deadlock``) once they have waited longer than the threshold.
///
/// ```swift
/// HazardChecks.enable(reportingTo: .stop)      // in a test run or a debug build
/// ```
public enum HazardChecks {
    /// Whether checks are on; read on every lock and unlock, so it is one relaxed atomic load.
    static let enabled = Atomic<Bool>(environmentHandler != nil)

    /// The handler that `SPINDLE_HAZARD_CHECKS` names, which turns the checks on from the start of
    /// the program (before any lock is made, so that Spindle's own locks are checked too): `log`
    /// (or `1`) or `stop`. `nil` when it is unset, empty or `0`.
    static let environmentHandler: HazardHandler? = {
        guard let value = getenv("SPINDLE_HAZARD_CHECKS").map({ String(cString: $0) }) else { return nil }
        switch value {
        case "", "0": return nil
        case "stop": return .stop
        default: return .log
        }
    }()

    private static let watchdogStarted = Atomic(false)

    /// Starts the watchdog once, for checks that the environment turned on.
    static func startWatchdogOnce() {
        guard !watchdogStarted.load(ordering: .relaxed), !watchdogStarted.exchange(true, ordering: .relaxed) else {
            return
        }
        DeadlockWatchdog.shared.start()
    }

    private struct Settings {
        var handler = HazardChecks.environmentHandler ?? .log
        var deadlockThreshold: Duration = .seconds(1)
        var stallThreshold: Duration = .seconds(2)
    }
    private static let settings = Locked(Settings(), checked: false)

    /// Whether checks are on.
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Turns the checks on.
    ///
    /// Locks already held when checks go on are not known to the graph; turn checks on before the
    /// code under test starts.
    ///
    /// - Parameters:
    ///   - handler: where reports go: ``HazardHandler/log`` (standard error),
    ///     ``HazardHandler/collect(into:)`` (for tests), ``HazardHandler/stop`` (report, then end
    ///     the program), or your own.
    ///   - deadlockThreshold: how long threads must have waited in a cycle before the watchdog
    ///     reports a deadlock; it looks four times per threshold and reports a cycle that two looks
    ///     in a row find, so a deadlock is reported within 1.5 thresholds of forming.
    ///   - stallThreshold: how long a ``ProgressMarker`` may stand still while threads work
    ///     toward it before the watchdog reports a livelock, a hang or CPU starvation.
    public static func enable(
        reportingTo handler: HazardHandler = .log,
        deadlockThreshold: Duration = .seconds(1),
        stallThreshold: Duration = .seconds(2)
    ) {
        settings.withLock {
            $0.handler = handler
            $0.deadlockThreshold = max(deadlockThreshold, .milliseconds(1))
            $0.stallThreshold = max(stallThreshold, .milliseconds(10))
        }
        enabled.store(true, ordering: .releasing)
        startWatchdogOnce()
    }

    /// Turns the checks off. The lock-order graph is kept: turning them on again goes on from it.
    public static func disable() {
        enabled.store(false, ordering: .releasing)
    }

    /// Forgets every lock order seen so far, and every report already made (each cycle is
    /// reported once): for tests that must start afresh.
    public static func reset() {
        LockOrderGraph.shared.reset()
        DeadlockWatchdog.shared.reset()
    }

    static var deadlockThreshold: Duration { settings.withLock { $0.deadlockThreshold } }
    static var stallThreshold: Duration { settings.withLock { $0.stallThreshold } }

    /// Hands `report` to the handler.
    static func report(_ report: HazardReport) {
        let handler = settings.withLock { $0.handler }
        handler.handle(report)
    }
}

/// Where hazard reports go.
public struct HazardHandler: Sendable {
    let handle: @Sendable (HazardReport) -> Void

    /// Calls `body` with each report, on the thread that found it (a locking thread, or the
    /// watchdog's). `body` must not take checked locks.
    public static func custom(_ body: @escaping @Sendable (HazardReport) -> Void) -> HazardHandler {
        HazardHandler(handle: body)
    }

    /// Prints each report on standard error.
    public static var log: HazardHandler {
        HazardHandler { report in writeToStandardError("spindle: \(report)\n") }
    }

    /// Keeps each report in `collector`, for tests to examine.
    public static func collect(into collector: HazardCollector) -> HazardHandler {
        HazardHandler { collector.add($0) }
    }

    /// Prints each report on standard error, then ends the program (`abort`): a deadlocked
    /// program stops with the reason instead of hanging.
    public static var stop: HazardHandler {
        HazardHandler { report in
            writeToStandardError("spindle: \(report)\nspindle: stopping the program.\n")
            abort()
        }
    }
}

/// Reports kept by ``HazardHandler/collect(into:)``.
public final class HazardCollector: Sendable {
    private let state = ConditionLock(checked: false)
    private let reportsStorage = Locked<[HazardReport]>([], checked: false)

    /// Creates an empty collector.
    public init() {}

    /// The reports so far, oldest first.
    public var reports: [HazardReport] { reportsStorage.withLock { $0 } }

    func add(_ report: HazardReport) {
        reportsStorage.withLock { $0.append(report) }
        state.lock()
        state.broadcast()
        state.unlock()
    }

    /// Waits until a report of `kind` has come, for at most `timeout`; returns it, or `nil`.
    /// Blocks the calling thread.
    public func waitForReport(of kind: HazardReport.Kind, timeout: Duration) -> HazardReport? {
        let deadline = monotonicNanoseconds() + timeout.clampedNanoseconds
        state.lock()
        defer { state.unlock() }
        while true {
            if let report = reports.first(where: { $0.kind == kind }) { return report }
            if !state.wait(untilMonotonicNanoseconds: deadline) {
                return reports.first { $0.kind == kind }
            }
        }
    }
}
