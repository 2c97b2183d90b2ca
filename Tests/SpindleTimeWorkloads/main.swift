import CSpindle
import Foundation
import Glibc
import Spindle

// Workloads with a known answer, for the tests of `spindle time` and the measuring API: each one
// spends its time in one way (on a CPU, asleep, in a pipe, on a lock, on disk), so the test knows
// what the breakdown and the verdict must say.
//
//   spin --threads N --cpu-ms M [--pin CPU]   N threads each burn M ms of their own CPU time
//   sleep --ms M                              one sleep
//   pipe-wait                                 blocks reading its stdin (a pipe) until end of file
//   mutex --threads N --ms M                  N threads take turns on one pthread mutex for M ms
//   write-file --path P --mib N               writes an N MiB file and fsyncs it (a fixture)
//   direct-read --path P --passes K           reads P K times past the page cache (O_DIRECT)
//   orphan --cpu-ms M                         starts `spin` in a new process and exits at once
//   measure (spin|sleep) [options]            runs that workload inside `TimeProfile.measure` and
//                                             writes the profile as JSON to --output FILE
//
// `--report FILE` (any mode) writes "user_us sys_us" of this process and its reaped children at
// exit, so a test can check the totals `spindle time` reports against the workload's own rusage.

let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String, _ fallback: Int = 0) -> Int {
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count,
        let value = Int(arguments[index + 1])
    else { return fallback }
    return value
}

func stringOption(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    let line = Array("SpindleTimeWorkloads: \(message)\n".utf8)
    _ = write(2, line, line.count)
    exit(2)
}

/// Nanoseconds of CPU the calling thread has used.
func threadCPUNanoseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return now.tv_sec * 1_000_000_000 + now.tv_nsec
}

/// Burns CPU on the calling thread until it has used `milliseconds` of CPU time.
func burn(milliseconds: Int) {
    let end = threadCPUNanoseconds() + milliseconds * 1_000_000
    var x: UInt64 = 1
    while threadCPUNanoseconds() < end {
        for _ in 0..<10_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
    }
    if x == 42 { print(x) }  // keeps the loop from being optimised away
}

/// Runs `body` on `count` joinable pthreads and joins them all.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box {
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
            self.body = body
            self.index = index
        }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body, index)).toOpaque()
        let err = pthread_create(
            &thread,
            nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body(box.index)
                return nil
            },
            box
        )
        if err != 0 { fail("pthread_create: \(err)") }
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

func pin(to cpu: Int) {
    if spindle_pin_to_cpu(Int32(cpu)) != 0 { fail("sched_setaffinity: \(errno)") }
}

func sleep(milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// One pthread mutex shared by the `mutex` workload's threads.
nonisolated(unsafe) let sharedMutex: UnsafeMutablePointer<pthread_mutex_t> = {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    return mutex
}()

func writeReport() {
    guard let path = stringOption("report") else { return }
    var own = rusage()
    var children = rusage()
    getrusage(RUSAGE_SELF.rawValue, &own)
    getrusage(RUSAGE_CHILDREN.rawValue, &children)
    func micros(_ time: timeval) -> Int { time.tv_sec * 1_000_000 + time.tv_usec }
    let user = micros(own.ru_utime) + micros(children.ru_utime)
    let system = micros(own.ru_stime) + micros(children.ru_stime)
    guard let file = fopen(path, "w") else { fail("cannot write \(path)") }
    fputs("\(user) \(system)\n", file)
    fclose(file)
}

func spin() {
    if arguments.contains("--pin") { pin(to: option("pin")) }
    let milliseconds = option("cpu-ms", 300)
    let threads = option("threads", 1)
    if threads == 1 {
        burn(milliseconds: milliseconds)  // on the calling thread, so that its own figure shows it
    } else {
        onThreads(threads) { _ in burn(milliseconds: milliseconds) }
    }
}

switch arguments.first {
case "spin":
    spin()
case "sleep":
    sleep(milliseconds: option("ms", 300))
case "measure":
    let (_, profile) = TimeProfile.measure {
        if arguments.dropFirst().first == "sleep" { sleep(milliseconds: option("ms", 300)) } else { spin() }
    }
    guard let output = stringOption("output") else { fail("measure needs --output") }
    try JSONEncoder().encode(profile).write(to: URL(fileURLWithPath: output))
case "pipe-wait":
    var buffer = [UInt8](repeating: 0, count: 4096)
    while read(0, &buffer, buffer.count) > 0 {}
case "mutex":
    let milliseconds = option("ms", 400)
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let deadline = start.tv_sec * 1_000_000_000 + start.tv_nsec + milliseconds * 1_000_000
    onThreads(option("threads", 2)) { _ in
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if now.tv_sec * 1_000_000_000 + now.tv_nsec >= deadline { return }
            pthread_mutex_lock(sharedMutex)
            burn(milliseconds: 2)
            pthread_mutex_unlock(sharedMutex)
        }
    }
case "write-file":
    guard let path = stringOption("path") else { fail("write-file needs --path") }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if fd < 0 { fail("open \(path): \(errno)") }
    let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
    for _ in 0..<option("mib", 64) where write(fd, chunk, chunk.count) != chunk.count { fail("write: \(errno)") }
    fsync(fd)
    close(fd)
case "direct-read":
    guard let path = stringOption("path") else { fail("direct-read needs --path") }
    let size = 1 << 20
    var buffer: UnsafeMutableRawPointer?
    guard posix_memalign(&buffer, 4096, size) == 0, let buffer else { fail("posix_memalign") }
    for _ in 0..<option("passes", 1) {
        var fd = spindle_open_direct(path)
        if fd < 0 {
            // A file system without O_DIRECT (tmpfs refuses it): drop the file's cached pages instead.
            fd = open(path, O_RDONLY)
            if fd < 0 { fail("open \(path): \(errno)") }
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        }
        while read(fd, buffer, size) > 0 {}
        close(fd)
    }
case "orphan":
    var pid: pid_t = 0
    let child = [CommandLine.arguments[0], "spin", "--threads", "1", "--cpu-ms", String(option("cpu-ms", 300))]
    let argv = child.map { strdup($0) } + [nil]
    let err = posix_spawn(&pid, CommandLine.arguments[0], nil, nil, argv, environ)
    if err != 0 { fail("posix_spawn: \(err)") }
default:
    fail("unknown workload \(arguments.first ?? "(none)"); see the comment at the top of main.swift")
}
writeReport()
