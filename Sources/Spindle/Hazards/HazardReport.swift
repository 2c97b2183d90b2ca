/// A hazard a checked lock or the watchdog found: what it is, in a sentence, and the threads,
/// locks and call sites involved.
public struct HazardReport: Sendable, Hashable, CustomStringConvertible {
    /// What kind of hazard.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// Locks were taken in orders that can deadlock (a cycle in the lock-order graph), whether
        /// or not this run did.
        case potentialDeadlock
        /// Threads are blocked in a cycle, each waiting for a lock another holds, and have been
        /// for longer than the threshold.
        case deadlock
        /// A thread waits for a lock far longer than the other threads that take it.
        case starvation
        /// A ``ProgressMarker`` has not advanced for the stall threshold while the threads working
        /// toward it kept running: busy without progress.
        case livelock
        /// A ``ProgressMarker`` has not advanced for the stall threshold and its threads were
        /// blocked: off a CPU, waiting for something.
        case hang
        /// A ``ProgressMarker`` has not advanced for the stall threshold and its threads were ready
        /// to run but mostly waited for a CPU.
        case cpuStarvation

        public var description: String {
            switch self {
            case .potentialDeadlock: "potential deadlock"
            case .deadlock: "deadlock"
            case .starvation: "starvation"
            case .livelock: "livelock"
            case .hang: "hang"
            case .cpuStarvation: "CPU starvation"
            }
        }
    }

    /// What kind of hazard.
    public var kind: Kind
    /// One sentence: what happened.
    public var summary: String
    /// The evidence, a line each: who holds what, who took which lock where.
    public var details: [String]
    /// The names of the locks involved.
    public var locks: [String]
    /// The names of the threads involved.
    public var threads: [String]

    /// The summary and the details, one per line.
    public var description: String {
        (["\(kind): \(summary)"] + details.map { "  " + $0 }).joined(separator: "\n")
    }
}

/// Where a lock was taken: the `#fileID` and `#line` of the `withLock` call.
public struct CallSite: Sendable, Hashable, CustomStringConvertible {
    /// The file, as `#fileID` gives it ("Module/File.swift").
    public var fileID: String
    /// The line.
    public var line: Int

    /// "Module/File.swift:42".
    public var description: String { "\(fileID):\(line)" }
}
