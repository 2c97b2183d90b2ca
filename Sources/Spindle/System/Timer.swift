internal import Dispatch

/// Runs `action` once, on a background thread, after `delay`.
///
/// Timeouts of tasks and waits use it. Dispatch's timer wheel is shared by the whole process, so a
/// pool does not need a timer thread of its own; the action must be quick and must not block.
func runAfter(_ delay: Duration, _ action: @escaping @Sendable () -> Void) {
    let nanoseconds = Int(min(delay.clampedNanoseconds, UInt64(Int.max)))
    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: action)
}
