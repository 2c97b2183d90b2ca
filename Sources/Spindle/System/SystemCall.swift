internal import CSpindle
internal import Glibc

extension SpindleError {
    /// A ``Code/systemError`` naming the call that failed and its errno.
    static func system(_ call: String, _ err: Int32 = errno) -> Self {
        .init(.systemError, "\(call) failed: \(String(cString: strerror(err))) (errno \(err))")
    }
}

/// Closes `fd`, ignoring errors: for descriptors being discarded, where a failure changes nothing.
func closeDescriptor(_ fd: Int32) {
    if fd >= 0 { _ = close(fd) }
}

/// Reads up to `count` bytes into `buffer`, retrying on EINTR: the byte count, 0 at end of file,
/// or -1 with errno set (EAGAIN for a non-blocking descriptor with nothing to read).
func readRetrying(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    while true {
        let n = read(fd, buffer, count)
        if n < 0 && errno == EINTR { continue }
        return n
    }
}

/// Reads a small text file (such as one under /proc or /sys) whole, or returns `nil`.
func readSmallFile(_ path: String, limit: Int = 1 << 16) -> String? {
    var reader = ProcReader(capacity: limit)
    return reader.read(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The path of this process's executable, resolved from /proc/self/exe (or that link itself).
package func currentExecutablePath() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return "/proc/self/exe" }
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Makes a pair of connected stream sockets, both close-on-exec.
func makeSocketPair() throws(SpindleError) -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
        throw .system("socketpair")
    }
    return (fds[0], fds[1])
}

/// Makes a pipe, both ends close-on-exec: (read end, write end).
func makePipe() throws(SpindleError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard spindle_pipe_cloexec(&fds) == 0 else { throw .system("pipe2") }
    return (fds[0], fds[1])
}

/// Sets or clears `O_NONBLOCK` on `fd`.
func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
}

/// Calls `body` with a NULL-terminated array of C strings (an `argv` or `envp`).
func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
