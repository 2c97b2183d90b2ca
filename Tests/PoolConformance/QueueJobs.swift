public import Spindle
import Glibc

// Jobs the tests of ProcessQueue and ProcessChannel run in worker processes: they put, get, stream
// progress, and die in the middle of it all.

/// A message whose every field can be checked: its text and checksum follow from its producer and
/// sequence number, and its length varies so that messages wrap around the ring at odd offsets.
public struct QueueMessage: Codable, Sendable, Hashable {
    public var producer: Int
    public var sequence: Int
    public var text: String
    public var checksum: UInt64

    public init(producer: Int, sequence: Int) {
        self.producer = producer
        self.sequence = sequence
        text = Self.text(producer: producer, sequence: sequence)
        checksum = Self.checksum(producer: producer, sequence: sequence, text: text)
    }

    /// Whether the text and checksum are the ones its producer and sequence number call for.
    public var isWellFormed: Bool {
        text == Self.text(producer: producer, sequence: sequence)
            && checksum == Self.checksum(producer: producer, sequence: sequence, text: text)
    }

    private static func text(producer: Int, sequence: Int) -> String {
        let length = (sequence &* 7_919 &+ producer) % 97
        let letter = Character(Unicode.Scalar(UInt8(97 + (sequence &+ producer) % 26)))
        return String(repeating: letter, count: length)
    }

    private static func checksum(producer: Int, sequence: Int, text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(producer)/\(sequence)/\(text)".utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

/// Arms a timer that sends this process `SIGKILL` after `microseconds`: the kernel delivers it
/// wherever the process happens to be, such as in the middle of a queue operation.
public func killSelf(afterMicroseconds microseconds: Int) {
    var event = sigevent()
    event.sigev_notify = Int32(SIGEV_SIGNAL)
    event.sigev_signo = SIGKILL
    var timer: timer_t?
    precondition(timer_create(CLOCK_MONOTONIC, &event, &timer) == 0, "timer_create failed")
    let nanoseconds = max(1, microseconds) * 1_000
    var spec = itimerspec()
    spec.it_value.tv_sec = nanoseconds / 1_000_000_000
    spec.it_value.tv_nsec = nanoseconds % 1_000_000_000
    precondition(timer_settime(timer, 0, &spec, nil) == 0, "timer_settime failed")
}

/// Puts its input's number of messages from producer `producer`; returns how many it put.
public struct PutMessages: Job {
    public var queue: ProcessQueue<QueueMessage>
    public var producer: Int
    public init(queue: ProcessQueue<QueueMessage>, producer: Int) {
        self.queue = queue
        self.producer = producer
    }
    public func run(_ count: Int) async throws -> Int {
        for sequence in 0..<count { try await queue.put(QueueMessage(producer: producer, sequence: sequence)) }
        return count
    }
}

/// Gets messages until the queue is closed and empty; returns them.
public struct GetMessages: Job {
    public var queue: ProcessQueue<QueueMessage>
    public init(queue: ProcessQueue<QueueMessage>) { self.queue = queue }
    public func run(_: Int) async throws -> [QueueMessage] {
        var messages: [QueueMessage] = []
        while true {
            do {
                messages.append(try await queue.get())
            } catch let error as SpindleError where error.code == .closed {
                return messages
            }
        }
    }
}

/// Puts messages from producer `producer` as fast as it can until its process is killed, its
/// input in microseconds after it starts; returns how many it put if the queue is closed first.
public struct PutUntilKilled: Job {
    public var queue: ProcessQueue<QueueMessage>
    public var producer: Int
    public init(queue: ProcessQueue<QueueMessage>, producer: Int) {
        self.queue = queue
        self.producer = producer
    }
    public func run(_ killAfterMicroseconds: Int) async throws -> Int {
        killSelf(afterMicroseconds: killAfterMicroseconds)
        var sequence = 0
        while true {
            do {
                try await queue.put(QueueMessage(producer: producer, sequence: sequence))
            } catch let error as SpindleError where error.code == .closed {
                return sequence
            }
            sequence += 1
        }
    }
}

/// Gets messages and puts each into `echo` as fast as it can until its process is killed, its input
/// in microseconds after it starts; returns how many it moved if the queue is closed first.
public struct GetUntilKilled: Job {
    public var queue: ProcessQueue<QueueMessage>
    public var echo: ProcessQueue<QueueMessage>
    public init(queue: ProcessQueue<QueueMessage>, echo: ProcessQueue<QueueMessage>) {
        self.queue = queue
        self.echo = echo
    }
    public func run(_ killAfterMicroseconds: Int) async throws -> Int {
        killSelf(afterMicroseconds: killAfterMicroseconds)
        var moved = 0
        while true {
            do {
                try await echo.put(try await queue.get())
            } catch let error as SpindleError where error.code == .closed {
                return moved
            }
            moved += 1
        }
    }
}

/// Where a ``DieInQueueOperation`` job dies: in a put or a get, before or after its final store.
public enum QueueCrash: String, Codable, Sendable, CaseIterable {
    case putBeforeCommit, putAfterCommit, getBeforeCommit, getAfterCommit
}

/// Kills its own process with `SIGKILL` in the middle of a put (of message 999 from producer 99) or
/// a get, with the queue's mutex held.
public struct DieInQueueOperation: Job {
    public var queue: ProcessQueue<QueueMessage>
    public init(queue: ProcessQueue<QueueMessage>) { self.queue = queue }
    public func run(_ crash: QueueCrash) async throws -> Int {
        let message = QueueMessage(producer: 99, sequence: 999)
        switch crash {
        case .putBeforeCommit: try queue._putAndDie(message, at: .beforeCommit)
        case .putAfterCommit: try queue._putAndDie(message, at: .afterCommit)
        case .getBeforeCommit: try queue._getAndDie(at: .beforeCommit)
        case .getAfterCommit: try queue._getAndDie(at: .afterCommit)
        }
    }
}

/// Gets one value, waiting at most its input in milliseconds; says what happened: "value N",
/// "closed" or "timedOut".
public struct WaitToGet: Job {
    public var queue: ProcessQueue<Int>
    public init(queue: ProcessQueue<Int>) { self.queue = queue }
    public func run(_ milliseconds: Int) async throws -> String {
        do {
            return "value \(try await queue.get(timeout: .milliseconds(milliseconds)))"
        } catch let error as SpindleError where error.code == .closed || error.code == .timedOut {
            return "\(error.code)"
        }
    }
}

/// Sends progress 1...n through a channel, waiting after each for the reader to acknowledge it on
/// `acks`, so that each value is provably read while the job runs; then finishes the channel, or
/// just returns if `finishes` is false (dropping its sender ends the stream then).
public struct StreamProgress: Job {
    public var progress: ProcessChannel<Int>.Sender
    public var acks: ProcessQueue<Int>
    public var finishes: Bool
    public init(progress: ProcessChannel<Int>.Sender, acks: ProcessQueue<Int>, finishes: Bool) {
        self.progress = progress
        self.acks = acks
        self.finishes = finishes
    }
    public func run(_ n: Int) async throws -> Int {
        for step in 1...n {
            try await progress.send(step)
            let ack = try await acks.get(timeout: .seconds(120))
            guard ack == step else { throw ConformanceFailure(input: ack) }
        }
        if finishes { progress.finish() }
        return n
    }
}

/// Sends 1...n through a channel, then kills its own process without finishing it.
public struct SendThenDie: Job {
    public var progress: ProcessChannel<Int>.Sender
    public init(progress: ProcessChannel<Int>.Sender) { self.progress = progress }
    public func run(_ n: Int) async throws -> Int {
        for step in 1...n { try await progress.send(step) }
        Death.sigkill.happen()
    }
}
