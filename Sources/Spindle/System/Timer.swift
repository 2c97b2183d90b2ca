internal import Dispatch

/// A one-shot timer on Dispatch's shared timer machinery, cancellable so that its action is
/// released as soon as it is no longer needed.
///
/// Timeouts of tasks and waits use it: a pool needs no timer thread of its own. Cancelling matters
/// for memory: a map of millions of items with a one-hour timeout must not keep millions of
/// finished tasks' timers (and what they capture) alive for an hour.
struct OneShotTimer: @unchecked Sendable {
    // @unchecked Sendable because Dispatch sources are thread-safe objects.
    private let source: any DispatchSourceTimer

    /// Runs `action` once, on a background thread, after `delay`, unless cancelled first. The
    /// action must be quick and must not block.
    init(after delay: Duration, _ action: @escaping @Sendable () -> Void) {
        let source = DispatchSource.makeTimerSource(queue: .global())
        let nanoseconds = Int(min(delay.clampedNanoseconds, UInt64(Int.max)))
        source.schedule(deadline: .now() + .nanoseconds(nanoseconds))
        source.setEventHandler {
            action()
            source.cancel()  // releases this handler, and with it `action` and the source
        }
        source.activate()
        self.source = source
    }

    /// Stops the timer if it has not fired; its action is released.
    func cancel() {
        source.cancel()
    }
}
