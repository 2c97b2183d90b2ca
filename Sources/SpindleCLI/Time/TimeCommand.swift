import ArgumentParser
import Foundation
import Spindle

/// `spindle time -- CMD ARGS...`: runs a command and says where its wall time went.
struct TimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time",
        abstract: "Run a command and say where its wall time went: a better /usr/bin/time.",
        discussion: """
            The command keeps its stdin, stdout and stderr; the report goes to stderr (or --output) \
            after it ends, and spindle exits with the command's status (128 + N when signal N killed \
            it, 127 when it was not found, 126 when it could not be run).
            """
    )

    @Flag(name: .long, help: "Print the report as one JSON object (schema spindle.time/1).")
    var json = false

    @Flag(name: .customLong("no-timeline"), help: "With --json, leave out the per-interval timeline.")
    var noTimeline = false

    @Option(name: [.short, .long], help: "Write the report to this file instead of stderr.")
    var output: String?

    @Option(name: .long, help: "Draw the timeline as an SVG chart into this file.")
    var plot: String?

    @Option(
        name: .long,
        help: "Time between samples, e.g. 50ms, 10ms, 0.2s (at least 10 ms).",
        transform: parseInterval
    )
    var interval: Duration = .milliseconds(50)

    @Flag(
        name: .customLong("wait-all"),
        help: "Also wait for processes that outlive the command (orphans), and count them."
    )
    var waitAll = false

    @Flag(name: [.short, .long], help: "Add per-process and per-thread tables.")
    var verbose = false

    @Argument(parsing: .captureForPassthrough, help: "The command to run and its arguments (after --).")
    var command: [String] = []

    /// The command without the `--` that separates it from spindle's own options.
    var commandLine: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func validate() throws {
        guard !commandLine.isEmpty else {
            throw ValidationError("no command to time: spindle time [options] -- CMD ARGS...")
        }
        if interval < .milliseconds(10) {
            throw ValidationError("--interval must be at least 10ms")
        }
        for path in [output, plot].compactMap({ $0 }) {
            try checkWritable(path)
        }
    }

    func run() throws {
        let profile: TimeProfile
        do {
            profile = try CommandTimer.run(
                commandLine,
                options: .init(interval: interval, waitsForOrphans: waitAll, ignoresInterrupts: true)
            )
        } catch {
            let status: Int32? =
                switch error.code {
                case .commandNotFound: 127
                case .commandNotRunnable: 126
                default: nil
                }
            guard let status else { throw error }
            printError("spindle time: \(error.message)")
            throw ExitCode(status)
        }
        let report = try render(profile)
        if let output {
            try writeAtomically(report + "\n", to: output)
        } else {
            printError(report)
        }
        if let plot {
            try writeAtomically(
                TimePlot(profile: profile, title: commandLine.joined(separator: " ")).render(),
                to: plot
            )
        }
        throw ExitCode(profile.exit?.shellStatus ?? 0)
    }

    func render(_ profile: TimeProfile) throws -> String {
        if json {
            var profile = profile
            if noTimeline { profile.timeline = [] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf",
                negativeInfinity: "-inf",
                nan: "nan"
            )
            return String(decoding: try encoder.encode(profile), as: UTF8.self)
        }
        var text = profile.report(title: commandLine.joined(separator: " "))
        if verbose { text += "\n\n" + TimeTables(profile: profile).render() }
        return text
    }
}

/// Parses "50ms", "0.2s", "2s" or a bare number of milliseconds.
func parseInterval(_ text: String) throws -> Duration {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let (number, scale): (Substring, Double) =
        if trimmed.hasSuffix("ms") { (trimmed.dropLast(2), 1e-3) } else if trimmed.hasSuffix("s") {
            (trimmed.dropLast(1), 1)
        } else { (Substring(trimmed), 1e-3) }
    guard let value = Double(number), value.isFinite, value > 0 else {
        throw ValidationError("'\(text)' is not an interval such as 50ms or 0.2s")
    }
    return .nanoseconds(Int64((value * scale * 1e9).rounded()))
}

/// Fails early, before a long command runs, when a report or chart could not be written there.
func checkWritable(_ path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    let folder = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ValidationError("cannot write \(path): the folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else {
        throw ValidationError("cannot write \(path): the folder \(folder) is not writable")
    }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw ValidationError("cannot write \(path): it is a folder")
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
