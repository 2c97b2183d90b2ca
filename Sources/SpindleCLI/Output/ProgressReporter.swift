import Foundation

/// Shows progress on stderr: a live bar redrawn in place on a terminal, one plain line per step otherwise.
///
/// stdout stays clean for the table or the JSON, so `spindle compare --json > out.json` works.
struct ProgressReporter {
    let total: Int
    let isTerminal: Bool
    private(set) var done = 0

    init(total: Int, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.total = total
        self.isTerminal = isTerminal
    }

    /// Announces that `label` starts.
    mutating func starting(_ label: String) {
        guard isTerminal else { return }
        write("\r\u{1B}[2K" + bar() + " " + label)
    }

    /// Records that `label` finished, with a short result.
    mutating func finished(_ label: String, result: String) {
        done += 1
        if isTerminal {
            write("\r\u{1B}[2K" + bar() + " " + label + ": " + result)
            if done == total { write("\r\u{1B}[2K") }
        } else {
            write("[\(done)/\(total)] \(label): \(result)\n")
        }
    }

    func bar(width: Int = 24) -> String {
        let filled = total == 0 ? width : width * done / total
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            + "] \(done)/\(total)"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
