internal import CSpindle
internal import Glibc

/// The worker side of a ``ProcessPool``: what `Spindle.bootstrap()` runs in a worker process.
///
/// The worker reads frames from descriptor 3 (a socket to the pool), runs each task's job over
/// its inputs in order, and writes a result frame per task. It records in its ``SharedPage``
/// (descriptor 4) which task and item it is running, so that the pool can tell, if the worker
/// dies, which item killed it. A result is sent before the next task starts and before the worker
/// blocks for input, never held back behind other work.
///
/// It exits when the pool closes the socket, and by SIGKILL when the pool's supervisor thread
/// (its parent) dies, even without a chance to close anything.
package enum WorkerMain {
    /// Set once this process has become a worker, so that it can never start a pool of its own.
    nonisolated(unsafe) static var isWorker = false

    /// Whether this process was started as a pool's worker: by the mark in the environment
    /// (present until `bootstrap()` takes it) or because it already serves.
    package static var isWorkerProcess: Bool {
        isWorker || getenv(ProcessPoolCore.workerEnvironmentKey) != nil
    }

    private static let socket: Int32 = 3
    private static let pageDescriptor: Int32 = 4

    /// Serves jobs if this process is a worker, and then exits; returns at once otherwise.
    package static func serveIfWorker() async {
        guard let mark = getenv(ProcessPoolCore.workerEnvironmentKey).map({ String(cString: $0) }) else { return }
        isWorker = true
        // This process only serves jobs, so its allocator may be tuned for that: keep freed
        // blocks up to 32 MiB (the most glibc allows) in the heap for reuse instead of returning
        // them to the system, so that a large input or output does not fault its pages in anew.
        // Not under a memory limit, where memory kept for reuse would count against the next job.
        if getenv(ProcessPoolCore.returnsMemoryEnvironmentKey) == nil { spindle_keep_large_allocations() }
        WorkerSegmentCache.enable()
        // stdout is a pipe to the pool: flush each line, so that a job's output arrives as it is
        // printed and is not lost in a buffer when the job crashes.
        spindle_line_buffer_stdout()
        // Children that a job starts are not workers, and get neither the socket nor the page.
        unsetenv(ProcessPoolCore.workerEnvironmentKey)
        unsetenv(ProcessPoolCore.returnsMemoryEnvironmentKey)
        _ = fcntl(socket, F_SETFD, FD_CLOEXEC)
        _ = fcntl(pageDescriptor, F_SETFD, FD_CLOEXEC)
        let parts = mark.split(separator: ":")
        guard parts.count == 2, let parent = pid_t(parts[1]) else { fail("malformed worker mark \(mark)") }
        _ = spindle_die_with_parent()
        // The parent may have died before the line above took effect.
        if getppid() != parent { exit(0) }
        let page: SharedPage
        do {
            page = try SharedPage(mapping: pageDescriptor)
        } catch {
            fail("\(error)")
        }
        await Connection(page: page).serve()
        exit(0)
    }

    private static func fail(_ message: String) -> Never {
        let line = Array("spindle worker: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(70)
    }

    /// The worker's socket and what it has buffered each way.
    private final class Connection {
        let page: SharedPage
        let inbox = FrameReader()
        var outbox: [UInt8] = []
        /// The shared segments the results in the outbox carry, sent with its first byte.
        var outboxSegments: [SharedSegment] = []
        /// Where results put their large arrays, when the pool takes them so.
        var spill: SpillArea?

        init(page: SharedPage) {
            self.page = page
        }

        func serve() async {
            do {
                guard let setup = try nextFrame() else { return }
                guard setup.kind == .setup else {
                    throw WireError("the pool's first message was \(setup.kind), not setup")
                }
                let message = try SetupMessage(decoding: setup.payload)
                if message.takesSpilledResults { spill = SpillArea(reuse: .whenReleasedAndRead) }
                if let failure = await initialize(message) {
                    try SetupFailedMessage(reason: failure).encode(into: &outbox)
                    flush()
                    return
                }
                try ReadyMessage(pid: getpid()).encode(into: &outbox)
                // At once, not with the first result: if the first task crashes this worker, the pool
                // must know that the handshake succeeded and the task is to blame.
                flush()
                while let frame = try nextFrame() {
                    guard frame.kind == .task else {
                        throw WireError("the pool sent a \(frame.kind) message mid-stream")
                    }
                    let task = try TaskMessage(decoding: frame.payload)
                    // Results already made go out before the next task starts: it may run for long,
                    // and a result held behind it would keep its future waiting, or be lost (and
                    // its job run again) if this worker is killed.
                    if !outbox.isEmpty { flush() }
                    // Before the task, so that memory its owners freed while this worker was busy
                    // goes now, not at the next idle moment; after, as soon as the job lets go.
                    WorkerSegmentCache.sweep()
                    await run(task, segments: frame.segments)
                    WorkerSegmentCache.sweep()
                    spill?.trim()
                }
            } catch {
                fail("protocol error: \(error)")
            }
        }

        /// The next frame, flushing results before blocking for input; `nil` once the pool closed the socket.
        func nextFrame() throws(WireError) -> (
            kind: MessageKind, payload: UnsafeRawBufferPointer, segments: ReceivedSegments?
        )? {
            while true {
                if let frame = try inbox.nextFrame() { return frame }
                flush()
                let received = receiveSoon()
                if received == 0 {
                    if inbox.bufferedBytes > 0 { throw WireError("the pool's stream ended inside a frame") }
                    return nil
                }
                if received < 0 { throw WireError("reading from the pool failed: errno \(errno)") }
            }
        }

        /// Reads what the pool sends, polling for 50 µs before blocking when the pool asks for it: a
        /// pool that feeds tasks one at a time sends the next within microseconds of the last
        /// result, and waking a sleeping process costs more than that on a busy machine.
        ///
        /// While it holds shared segments it wakes every 100 ms to let go of those nobody owns any
        /// more, so that an idle worker does not keep a freed array's memory; likewise for its own
        /// spill segments over the kept size, once the pool has read them.
        private func receiveSoon() -> Int {
            if page.pollsForNextTask {
                let deadline = monotonicNanoseconds() + 50_000
                repeat {
                    let n = inbox.receive(from: socket, flags: Int32(MSG_DONTWAIT))
                    if n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { return n }
                    // A thread woken on this CPU (the pool's, resuming the caller who will send the
                    // next task) must not wait behind the poll: on 2 CPUs it did, for up to its 50 µs.
                    sched_yield()
                } while monotonicNanoseconds() < deadline
            }
            var cached = WorkerSegmentCache.count
            while cached > 0 || spill?.holdsLargeSegments == true {
                var ready = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                if spindle_poll(&ready, 1, 100_000_000) > 0 { break }
                cached = WorkerSegmentCache.sweep()
                spill?.trim()
            }
            return inbox.receive(from: socket)
        }

        func flush() {
            SpillArea.willSend(outboxSegments)
            var offset = 0
            while offset < outbox.count {
                let n = sendCarrying(
                    offset == 0 ? outboxSegments : [],
                    on: socket,
                    outbox,
                    from: offset,
                    flags: Int32(MSG_NOSIGNAL)
                )
                // The pool is gone: nobody wants the results.
                if n <= 0 { exit(0) }
                offset += n
            }
            // Kept for the next result up to 64 MiB: fresh memory costs a page fault per 4 KiB.
            outbox.removeAll(keepingCapacity: outbox.capacity <= 64 << 20)
            outboxSegments.removeAll()
        }

        func initialize(_ setup: SetupMessage) async -> String? {
            guard !setup.initializerType.isEmpty else { return nil }
            guard let type = TypeNames.lookUp(setup.initializerType) as? any WorkerInitializer.Type else {
                return "the initializer type \(setup.initializerType) is not a WorkerInitializer in this binary"
            }
            do {
                let initializer = try setup.initializer.withUnsafeBytes { try WireDecoder.decode(type, from: $0) }
                try await initializer.initialize()
                return nil
            } catch {
                return "the initializer \(type) threw \(Swift.type(of: error)): \(error)"
            }
        }

        func run(_ task: TaskMessage, segments: ReceivedSegments?) async {
            guard page.claim(task.sequence, as: .started) else {
                try? SkippedMessage(sequence: task.sequence).encode(into: &outbox)
                return
            }
            page.setRunning(sequence: UInt64(task.sequence), item: 0)
            defer { page.setRunning(sequence: 0, item: 0) }
            let prepared = TaskRunner.prepare(task, segments: segments, spill: spill)
            let page = self.page
            // The worker runs one task at a time, so the process's CPU clock times this one; it also
            // counts threads the job starts of its own.
            let cpuBefore = processCPUNanoseconds()
            let answer = await prepared.run { page.setItem(UInt64($0)) }
            let cpu = processCPUNanoseconds() &- cpuBefore
            // A result that carries segments leaves on its own, as one send can carry only so many.
            if !outboxSegments.isEmpty { flush() }
            TaskRunner.encode(
                answer,
                sequence: task.sequence,
                jobType: task.jobType,
                cpuNanoseconds: answer.ran ? cpu : nil,
                into: &outbox,
                segments: &outboxSegments
            )
        }
    }
}
