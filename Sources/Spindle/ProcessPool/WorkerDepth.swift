/// How many tasks one worker may hold at once, learnt from how long tasks run: two for long tasks
/// (one running, one waiting, so it never idles between messages), more for short ones (up to 32),
/// so that a message's round trip hides behind work. A ``ProcessPool`` applies it to each worker
/// process, an MPI driver to each worker of each rank.
package struct WorkerDepth: Sendable {
    /// Moving average of a task's run time, in nanoseconds; 0 before the first.
    private var averageTaskNanoseconds = 0.0

    package init() {}

    /// Learns from a task that ran `busyNanoseconds`.
    package mutating func record(busyNanoseconds: UInt64) {
        let sample = Double(busyNanoseconds)
        averageTaskNanoseconds = averageTaskNanoseconds == 0 ? sample : 0.8 * averageTaskNanoseconds + 0.2 * sample
    }

    /// Tasks a worker may hold now.
    package var tasks: Int {
        guard averageTaskNanoseconds > 0 else { return 2 }
        return min(32, max(2, 1 + Int(100_000 / averageTaskNanoseconds)))
    }
}
