import ArgumentParser

@main
struct SpindleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spindle",
        abstract: "Parallel work for Swift on Linux: pools, and the instruments to see where time goes.",
        subcommands: []
    )
}
