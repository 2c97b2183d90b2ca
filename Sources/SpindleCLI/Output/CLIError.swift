/// An error of a `spindle` command itself (a file it cannot write, a baseline that cannot run),
/// printed as its message.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
