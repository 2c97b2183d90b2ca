#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A chart that cannot be built or written, printed as its message.
struct ChartError: Error, CustomStringConvertible, Equatable {
    var description: String
    /// The errno value of a failed system call, if one failed.
    var errno: CInt?

    init(_ description: String, errno: CInt? = nil) {
        self.description = description
        self.errno = errno
    }
}

/// Writes the document `svg` to `path`, atomically: readers see the old file or the whole new one.
///
/// The text goes to a new temporary file beside `path` (same directory, so the same file system),
/// which is flushed to disk and then renamed over `path`. On any failure the temporary file is
/// removed and `path` is left as it was. The new file gets mode 0644 less the umask; a symbolic link
/// at `path` is replaced, not followed.
///
/// ```swift
/// try writeAtomically(chart.render(), to: "run.svg")
/// ```
///
/// - Throws: A ``ChartError`` naming `path` and the system's reason, such as
///   "cannot write /missing/run.svg: No such file or directory (creating a file in /missing)".
///   The corresponding C functions are `open`, `write`, `fsync` and `rename`.
func writeAtomically(_ svg: String, to path: String) throws(ChartError) {
    guard !path.isEmpty else { throw ChartError("cannot write chart: the path is empty") }
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !name.isEmpty else { throw ChartError("cannot write \(path): the path names a directory") }

    func failure(_ code: CInt, _ step: String) -> ChartError {
        let reason = strerror(code).map { String(cString: $0) } ?? "error \(code)"
        return ChartError("cannot write \(path): \(reason) (\(step))", errno: code)
    }

    // O_EXCL with a random name: never reuses or follows a file someone else made.
    var descriptor: CInt = -1
    var temporary = ""
    for _ in 0..<16 {
        temporary = "\(directory)/.\(name).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor >= 0 { break }
        let code = errno
        if code != EEXIST && code != EINTR { throw failure(code, "creating a file in \(directory)") }
    }
    guard descriptor >= 0 else { throw failure(EEXIST, "creating a file in \(directory)") }

    let bytes = Array(svg.utf8)
    var written = 0
    var error: ChartError?
    bytes.withUnsafeBytes { buffer in
        while written < buffer.count {
            let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if count > 0 {
                written += count
            } else if count == 0 {
                error = ChartError("cannot write \(path): no bytes were written (writing \(temporary))")
                return
            } else if errno != EINTR {
                error = failure(errno, "writing \(temporary)")
                return
            }
        }
    }
    if error == nil, fsync(descriptor) != 0 { error = failure(errno, "flushing \(temporary)") }
    // On Linux a failed close has still closed the descriptor; retrying could close someone else's.
    if close(descriptor) != 0, error == nil { error = failure(errno, "closing \(temporary)") }
    if error == nil, rename(temporary, path) != 0 { error = failure(errno, "replacing \(path)") }
    if let error {
        unlink(temporary)
        throw error
    }
}
