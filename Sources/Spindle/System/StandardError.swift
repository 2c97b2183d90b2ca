internal import Glibc

/// Writes `text` to standard error in one call where it can, without Foundation: for reports and
/// progress lines that must not interleave with other output mid-line.
func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}
