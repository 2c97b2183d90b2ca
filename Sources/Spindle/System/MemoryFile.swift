internal import CSpindle
internal import Glibc

/// Makes an anonymous memory file (`memfd_create`, close-on-exec) of `byteCount` zeroed bytes and
/// returns its descriptor: memory that other processes can map once they have the descriptor, and
/// that has no name anywhere to be left behind.
///
/// - Throws: ``SpindleError/Code/systemError`` when the file cannot be made or sized.
private func makeMemoryFile(name: String, byteCount: Int) throws(SpindleError) -> Int32 {
    let fd = spindle_memfd_create(name)
    guard fd >= 0 else { throw .system("memfd_create") }
    guard ftruncate(fd, off_t(byteCount)) == 0 else {
        let err = errno
        close(fd)
        throw .system("ftruncate to \(byteCount) bytes", err)
    }
    return fd
}

/// Makes a memory file of `byteCount` zeroed bytes and maps it: its descriptor and where it is.
///
/// - Throws: ``SpindleError/Code/systemError`` when the file cannot be made, sized or mapped.
func makeMappedMemoryFile(
    name: String,
    byteCount: Int
) throws(SpindleError) -> (descriptor: Int32, bytes: UnsafeMutableRawPointer) {
    let fd = try makeMemoryFile(name: name, byteCount: byteCount)
    do {
        return (fd, try mapShared(fd, byteCount: byteCount))
    } catch {
        close(fd)
        throw error
    }
}

/// Maps the first `byteCount` bytes of `fd` read-write and shared with every other mapping of it.
///
/// - Throws: ``SpindleError/Code/systemError`` when `mmap` fails.
func mapShared(_ fd: Int32, byteCount: Int) throws(SpindleError) -> UnsafeMutableRawPointer {
    guard let pointer = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
        throw .system("mmap of \(byteCount) bytes of shared memory")
    }
    return pointer
}
