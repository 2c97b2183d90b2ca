internal import Glibc

/// A one-way stream of `Codable` values from running jobs back to the code that started them: a
/// job gets the ``Sender`` as a property and sends results or progress while it runs, and the
/// caller reads the ``Receiver`` as an `AsyncSequence` as they come.
///
/// ```swift
/// struct Count: Job {
///     var progress: ProcessChannel<Int>.Sender
///     func run(_ n: Int) async throws -> Int {
///         for i in 1...n { try await progress.send(i) }
///         progress.finish()
///         return n
///     }
/// }
///
/// let (sender, receiver) = try ProcessChannel<Int>.make()
/// let done = pool.submit(Count(progress: sender), 10)
/// for try await step in receiver { print("step \(step) of 10") }
/// ```
///
/// A channel is a ``ProcessQueue`` with two ends; the sender crosses to a ``ProcessPool``'s
/// worker as a handle to the same shared memory, and on a ``ThreadPool`` the job shares the object.
///
/// ## When the stream ends
///
/// - ``Sender/finish()``, called in any process, ends the stream once the receiver has read what
///   was sent before it. It is the one way on a ``ThreadPool``, and the clearest everywhere.
/// - A sender that a job received in another process counts as held by that process. When the
///   last sender held by any such process is dropped (the job returned), the stream ends as if
///   finished. So give a channel to one job: a `map` that runs the job in several tasks may see
///   the stream end when the first task's sender is dropped. The sender that ``make(capacity:byteCapacity:)``
///   returned is not counted: the stream does not end because the caller dropped it.
/// - When a process that holds a sender dies without dropping it (a crash, `SIGKILL`), the
///   receiver, once it has read everything sent, throws ``SpindleError/Code/workerDied`` naming
///   that process's pid. It notices within about 0.1 s, once the pool has reaped the process.
///   (At most 64 processes at once are counted; senders in further ones end nothing.)
///
/// Dropping the ``Receiver`` closes the channel: the senders' next `send` throws
/// ``SpindleError/Code/closed``, rather than waiting for room that nobody will ever make.
public enum ProcessChannel<Element: Codable & Sendable> {
    /// Makes a channel: its sending end, to give to a job, and its receiving end, to read.
    ///
    /// - Parameters:
    ///   - capacity: how many values may wait unread; a sender waits for room beyond that.
    ///   - byteCapacity: the bytes of encoded values that may wait unread.
    /// - Throws: what ``ProcessQueue/init(capacity:byteCapacity:)`` throws.
    public static func make(capacity: Int = 256, byteCapacity: Int = 1 << 20) throws -> (
        sender: Sender, receiver: Receiver
    ) {
        let queue = try ProcessQueue<Element>(capacity: capacity, byteCapacity: byteCapacity)
        return (Sender(queue: queue, holder: nil), Receiver(queue: queue))
    }

    /// The sending end of a channel: give it to a job as a property.
    public final class Sender: Sendable {
        let queue: ProcessQueue<Element>
        /// The process this sender is counted for: the one that decoded it, if it could be counted.
        private let holder: Int32?

        init(queue: ProcessQueue<Element>, holder: Int32?) {
            self.queue = queue
            self.holder = holder
        }

        deinit {
            if let holder, queue.ring.releaseSender(pid: holder) { queue.close() }
        }

        /// Sends `element`, waiting while the channel is full (the receiver is behind).
        ///
        /// - Throws: ``SpindleError/Code/closed`` when the channel was finished or its receiver
        ///   dropped, ``SpindleError/Code/cancelled`` when the task was cancelled while waiting,
        ///   and what ``ProcessQueue/tryPut(_:)`` throws for a value that cannot be sent.
        public func send(_ element: Element) async throws {
            try await queue.put(element)
        }

        /// Sends `element`, blocking while the channel is full, at most for `timeout`.
        ///
        /// - Throws: ``SpindleError/Code/timedOut`` when there was no room for `timeout`, and what
        ///   the `async` ``send(_:)`` throws.
        @available(*, noasync, message: "use the async send, which does not block a thread of the cooperative pool")
        public func send(_ element: Element, timeout: Duration? = nil) throws {
            try queue.put(element, timeout: timeout)
        }

        /// Ends the stream: the receiver reads what was sent, then its sequence ends; further sends
        /// throw ``SpindleError/Code/closed``. Finishing twice does nothing.
        public func finish() { queue.close() }
    }

    /// The receiving end of a channel: an `AsyncSequence` of what the senders send, in order per
    /// sender, that ends when the stream does.
    ///
    /// Read it from one task at a time; each value is read once, by whichever iterator gets it.
    public final class Receiver: AsyncSequence, Sendable {
        let queue: ProcessQueue<Element>

        init(queue: ProcessQueue<Element>) { self.queue = queue }

        deinit { queue.close() }

        /// Makes an iterator over what is sent.
        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(receiver: self) }

        /// Reads the values sent, waiting for each off Swift's cooperative pool.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let receiver: Receiver
            private var isDone = false

            init(receiver: Receiver) { self.receiver = receiver }

            /// The next value sent; `nil` once the stream has ended and every value was read.
            ///
            /// - Throws: ``SpindleError/Code/workerDied`` when a process holding a sender died,
            ///   ``SpindleError/Code/cancelled`` when the task was cancelled while waiting, and
            ///   ``SpindleError/Code/encodingFailed`` for a value that cannot be decoded. After an
            ///   error the sequence ends.
            public mutating func next() async throws -> Element? {
                guard !isDone else { return nil }
                do {
                    let queue = receiver.queue
                    let element = try await queue.receive(deadline: nil) {
                        try Receiver.checkSenders(of: queue)
                    }
                    if element == nil { isDone = true }
                    return element
                } catch {
                    isDone = true
                    throw error
                }
            }
        }

        /// Throws, and closes the channel, when a process that holds a sender died.
        @Sendable
        static func checkSenders(of queue: ProcessQueue<Element>) throws {
            guard let dead = queue.ring.deadSenders().first else { return }
            queue.close()
            throw SpindleError(
                .workerDied,
                "process \(dead), which held a sender of this channel, died before finishing or dropping it"
            )
        }
    }
}

extension ProcessChannel.Sender: Codable {
    /// Writes a handle to the channel's shared memory: only a Spindle pool's messages can carry it.
    public func encode(to encoder: any Encoder) throws {
        try queue.encode(to: encoder)
    }

    /// Opens the channel that a handle in a pool's message names, counting this sender as held by
    /// this process until it is dropped.
    public convenience init(from decoder: any Decoder) throws {
        let queue = try ProcessQueue<Element>(from: decoder)
        let pid = getpid()
        self.init(queue: queue, holder: queue.ring.registerSender(pid: pid) ? pid : nil)
    }
}
