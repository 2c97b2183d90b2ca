internal import CSpindle
internal import DequeModule
internal import Glibc

/// The pool's side of one worker process: its pid and descriptors, the messages waiting to be
/// sent, and the tasks it holds, in the order it runs them.
///
/// Only the pool engine touches it, with the engine's lock held, except for ``inbox`` and the
/// output line buffers, which only the engine's supervisor thread uses.
final class WorkerProcess: @unchecked Sendable {
    /// Why the pool killed a worker, which decides what the job it was running is told.
    enum KillReason {
        /// The task with this sequence number ran past its deadline, or its future was cancelled.
        case timeout(UInt32), cancel(UInt32)
        case memory(residentBytes: Int)
        case protocolError(String)
        case handshake(String)

        /// The task this kill was for, when it was for one.
        var victim: UInt32? {
            switch self {
            case .timeout(let sequence), .cancel(let sequence): sequence
            default: nil
            }
        }
    }

    /// The worker's number in its pool, shown in its output prefix.
    let id: Int
    let pid: pid_t
    /// The socket to the worker; the worker has the other end as descriptor 3.
    let socket: Int32
    /// Readable once the process has exited.
    let exitDescriptor: Int32
    /// The read ends of the worker's stdout and stderr, -1 once at end of file.
    var outputDescriptors: [Int32]
    let page: SharedPage
    let spawnedAt = monotonicNanoseconds()
    /// Its figures for the pool's statistics.
    var tally: WorkerTally

    /// Frames received, not yet handled (supervisor thread only).
    let inbox = FrameReader()
    /// Partial lines of stdout and stderr (supervisor thread only).
    var partialLines: [[UInt8]] = [[], []]

    /// Frames waiting to be sent, with the segments they carry, and how much of the first has gone.
    var outbox: Deque<(bytes: [UInt8], segments: [SharedSegment])> = []
    var outboxOffset = 0
    /// Tasks sent and not yet answered, oldest first.
    var inFlight: Deque<PoolTask> = []
    /// The tasks behind the first: the first counts as running as soon as it is first in line (the
    /// pool marks it so, even while the worker still starts up), so only these may still be
    /// cancelled as not started.
    var waitingInLine: Deque<PoolTask>.SubSequence { inFlight.dropFirst() }
    private var lastSequence: UInt32 = 0
    /// Items sent to this worker, for recycling after a number of jobs.
    var itemsAssigned = 0

    /// Set once the handshake is done.
    var isReady = false
    /// No new work: the worker is being recycled or the pool is stopping.
    var isRetiring = false
    /// Its socket's sending side was shut, so that it exits once its work is done.
    var isClosed = false
    /// Set once the pool decided to kill it.
    var killReason: KillReason?
    /// Why setting up failed, as the worker reported it.
    var setupFailure: String?

    init(id: Int, pid: pid_t, socket: Int32, exitDescriptor: Int32, outputs: [Int32], page: SharedPage) {
        self.id = id
        self.pid = pid
        self.socket = socket
        self.exitDescriptor = exitDescriptor
        outputDescriptors = outputs
        self.page = page
        tally = WorkerTally(name: "worker \(id), pid \(pid)", processID: pid, startNanoseconds: spawnedAt)
    }

    deinit {
        closeDescriptor(socket)
        closeDescriptor(exitDescriptor)
        for fd in outputDescriptors { closeDescriptor(fd) }
    }

    /// The next sequence number for a task on this worker: never 0, which means "none".
    func nextSequence() -> UInt32 {
        lastSequence = lastSequence == UInt32.max ? 1 : lastSequence + 1
        return lastSequence
    }

    /// Sends the task to the worker: marks its slot queued, sets its sequence, queues its frame.
    func enqueue(_ task: PoolTask) {
        let sequence = nextSequence()
        page.reset(sequence)
        task.sequence = sequence
        task.worker = self
        TaskMessage.patchSequence(sequence, in: &task.frame)
        queue(task.frame, segments: task.segments)
        inFlight.append(task)
        itemsAssigned += task.items
    }

    /// Queues a frame to send, with the segments it carries. Small frames are gathered into one
    /// buffer, so that a burst of them leaves in one system call; a large one keeps its own array and
    /// is never copied. A frame's segments leave with the first byte of its buffer.
    func queue(_ frame: [UInt8], segments: [SharedSegment] = []) {
        let small = 64 * 1024
        // Segments joining a buffer must leave with its first byte: not once that has gone.
        let lastHasStartedLeaving = outbox.count == 1 && outboxOffset > 0
        if frame.count < small, let last = outbox.last, last.bytes.count < small,
            segments.isEmpty
                || !lastHasStartedLeaving && last.segments.count + segments.count <= Int(SPINDLE_MAX_ATTACHED)
        {
            outbox[outbox.count - 1].bytes.append(contentsOf: frame)
            outbox[outbox.count - 1].segments.append(contentsOf: segments)
        } else {
            outbox.append((frame, segments))
        }
    }

    /// Sends as much of the outbox as the socket takes without blocking. Returns `false` when the
    /// worker is gone (the socket is broken).
    func flush() -> Bool {
        while let first = outbox.first {
            // The segments go with the first bytes sent, and only then.
            let segments = outboxOffset == 0 ? first.segments : []
            let sent = sendCarrying(
                segments,
                on: socket,
                first.bytes,
                from: outboxOffset,
                flags: Int32(MSG_NOSIGNAL | MSG_DONTWAIT)
            )
            if sent < 0 { return errno == EAGAIN || errno == EWOULDBLOCK }
            outboxOffset += sent
            guard outboxOffset == first.bytes.count else { return true }
            outbox.removeFirst()
            outboxOffset = 0
        }
        return true
    }

    /// Whether frames are waiting for the socket to take them.
    var hasUnsentFrames: Bool { !outbox.isEmpty }
}
