import Glibc
@testable import Spindle
import Synchronization

// Helpers shared by the unit tests: plain (non-Swift-concurrency) threads, thread names read from
// /proc, a blocking barrier for jobs, and an error type of our own.

/// An error type of the tests' own, to check that errors reach the caller unchanged.
struct TestError: Error, Equatable, Codable, Sendable {
    var id: Int
}

/// A job that always throws ``TestError`` with its input as the id.
struct ThrowTestError: Job {
    func run(_ input: Int) async throws -> Int { throw TestError(id: input) }
}

/// Starts `body` on a fresh detached pthread: not one of Swift concurrency's threads, not a pool's.
func startPlainThread(_ body: @escaping @Sendable () -> Void) {
    do {
        try startDetachedThread(name: "test-plain", body)
    } catch {
        preconditionFailure("\(error)")
    }
}

/// Runs `body` on a fresh plain thread and awaits what it returns; `body` may block.
func onPlainThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startPlainThread { continuation.resume(returning: body()) }
    }
}

/// Calls the blocking, `noasync` ``Future/wait(timeout:)`` from a synchronous context.
func blockingWait<T>(_ future: Future<T>, timeout: Duration?) -> Result<T, any Error> {
    Result { try future.wait(timeout: timeout) }
}

/// The calling thread's name, as Linux shows it (`/proc/thread-self/comm`, at most 15 bytes).
func currentThreadName() -> String {
    trimmedComm(readSmallFile("/proc/thread-self/comm") ?? "")
}

/// The names of every thread of this process, read from `/proc/self/task/*/comm`.
func processThreadNames() -> [String] {
    guard let directory = opendir("/proc/self/task") else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        guard let first = tid.first, first.isNumber else { continue }
        // A thread may exit between readdir and the read; it then simply does not count.
        if let comm = readSmallFile("/proc/self/task/\(tid)/comm") { names.append(trimmedComm(comm)) }
    }
    return names
}

/// How many threads of this process are named `prefix-…`.
func threadCount(prefix: String) -> Int {
    processThreadNames().filter { $0.hasPrefix("\(prefix)-") }.count
}

private func trimmedComm(_ text: String) -> String {
    String(text.filter { $0 != "\n" })
}

/// A barrier for blocking jobs: each party arrives, then blocks (sleeping in the kernel, the way a
/// blocking job would) until every party has arrived. Only jobs running at the same time can pass it.
final class BlockingBarrier: @unchecked Sendable {
    // @unchecked Sendable: `arrived` is only touched with `lock` held.
    let parties: Int
    private let lock = ConditionLock()
    private var arrived = 0

    init(parties: Int) { self.parties = parties }

    /// Arrives and blocks until all parties have; `false` if they had not after `timeout`, so a
    /// broken pool makes a test fail rather than hang.
    func arriveAndWait(timeout: Duration = .seconds(120)) -> Bool {
        let deadline = monotonicNanoseconds() + timeout.clampedNanoseconds
        return lock.withLock {
            arrived += 1
            lock.broadcast()
            while arrived < parties {
                if !lock.wait(untilMonotonicNanoseconds: deadline) && arrived < parties { return false }
            }
            return true
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes; only for facts that have no signal of
/// their own (such as a thread having exited). Returns whether it held.
func eventually(timeout: Duration = .seconds(120), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}

/// Whether `futures` are exactly `expected`, by identity and in order.
func sameFutures<T>(_ futures: [Future<T>], _ expected: [Future<T>]) -> Bool {
    futures.count == expected.count && zip(futures, expected).allSatisfy { $0 === $1 }
}

extension Result {
    /// The error, if this is a failure.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// The code of `error` when it is a ``SpindleError``.
func spindleCode(_ error: (any Error)?) -> SpindleError.Code? {
    (error as? SpindleError)?.code
}

/// `Result(catching:)` for async bodies.
func asyncResult<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

extension AsyncThrowingStream where Failure == any Error {
    /// Every element, gathered into an array (`MapResults` has its own `collect()`).
    func collect() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}

/// An executable built next to the test bundle, such as a test worker or the workloads.
func siblingExecutable(_ name: String) -> String {
    let me = currentExecutablePath()
    return me[..<(me.lastIndex(of: "/") ?? me.startIndex)] + "/" + name
}

/// This process's open descriptors, by number, with what each is (the readlink of /proc/self/fd/N).
///
/// Timer descriptors are left out: libdispatch opens one lazily, at a moment of its choosing, and
/// Spindle never opens any, so they can only be the runtime's.
func openDescriptors() -> [Int32: String] {
    let me = getpid()
    var descriptors: [Int32: String] = [:]
    for fd in ProcReader.numericEntries("/proc/self/fd") {
        // The listing's own descriptor is gone by now, so its link no longer reads.
        guard let what = ProcReader.descriptorTarget(pid: me, fd: Int(fd)) else { continue }
        if what != "anon_inode:[timerfd]" { descriptors[fd] = what }
    }
    return descriptors
}

/// The descriptors open now that were not in `before`, as "number → what it is". Compared by
/// number: what an inherited descriptor points to may change meanwhile (its file deleted).
func descriptorsOpened(since before: [Int32: String]) -> [String] {
    openDescriptors().filter { before[$0.key] == nil }.map { "\($0.key) → \($0.value)" }.sorted()
}

/// The pids of this process's children, zombies included.
func childProcesses() -> [Int32] {
    let me = getpid()
    var reader = ProcReader()
    return ProcReader.numericEntries("/proc").filter { pid in
        reader.read("/proc/\(pid)/stat").flatMap(TaskStat.init)?.parent == me
    }
}

/// Whether `pid` is a running process (not gone, not a zombie).
func isAlive(_ pid: Int32) -> Bool {
    var reader = ProcReader()
    guard let stat = reader.read("/proc/\(pid)/stat").flatMap(TaskStat.init) else { return false }
    return stat.state != UInt8(ascii: "Z")
}

/// Whether this test process runs under ThreadSanitizer (its runtime's entry point is linked in).
let underThreadSanitizer = dlsym(dlopen(nil, RTLD_NOW), "__tsan_init") != nil

/// What a message's receiver holds: a copy of each segment's descriptor, close-on-exec as a
/// received one is. A plain `dup` is inherited by any process spawned meanwhile, such as another
/// test's exit-test child, which then counts it as its own leaked segment.
func receivedCopies(of segments: [SharedSegment]) -> ReceivedSegments {
    ReceivedSegments(segments.map { fcntl($0.descriptor, F_DUPFD_CLOEXEC, 0) })
}
