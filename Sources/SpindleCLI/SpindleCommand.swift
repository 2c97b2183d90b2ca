import ArgumentParser
import Spindle

@main
struct SpindleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spindle",
        abstract: "Parallel work for Swift on Linux: pools, and the instruments that show where time goes.",
        subcommands: [CompareCommand.self, TimeCommand.self, BenchCommand.self, DemoCommand.self]
    )

    static func main() async {
        do {
            try await Spindle.bootstrap()
        } catch {
            exit(withError: error)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
