import Glibc

/// The example's command line: `--files N`, `--dir PATH`, `--rounds N`, `--latency MS`.
struct Settings {
    var files = 64
    var directory = "/tmp/spindle-pipeline-example"
    var rounds = 1
    /// Milliseconds each read and each write waits on top of the disk, as remote storage would.
    var latency = 0

    init(_ arguments: ArraySlice<String>) throws {
        var arguments = arguments
        while let flag = arguments.popFirst() {
            guard let value = arguments.popFirst() else { throw ExampleError("\(flag) needs a value") }
            switch flag {
            case "--files":
                guard let count = Int(value), (1...100_000).contains(count) else {
                    throw ExampleError("--files takes a count from 1 to 100000, not \(value)")
                }
                files = count
            case "--dir":
                directory = value
            case "--rounds":
                guard let count = Int(value), (1...100).contains(count) else {
                    throw ExampleError("--rounds takes a count from 1 to 100, not \(value)")
                }
                rounds = count
            case "--latency":
                guard let milliseconds = Int(value), (0...10_000).contains(milliseconds) else {
                    throw ExampleError("--latency takes milliseconds from 0 to 10000, not \(value)")
                }
                latency = milliseconds
            default:
                throw ExampleError(
                    "unknown option \(flag); the options are --files N, --dir PATH, --rounds N and --latency MS"
                )
            }
        }
    }
}

/// The example's input: files of numbers, one per line, made once and reused.
enum InputFiles {
    /// The paths of `count` input files in `directory`, writing those that are missing.
    static func prepare(in directory: String, count: Int) throws -> [String] {
        try makeDirectory(directory)
        var random = UInt64(0x5EED)
        return try (0..<count).map { index in
            let path = directory + "/numbers-\(index).txt"
            if access(path, R_OK) != 0 {
                var text: [UInt8] = []
                text.reserveCapacity(1 << 18)
                while text.count < (1 << 18) - 16 {
                    // xorshift: the same files on every machine.
                    random ^= random << 13
                    random ^= random >> 7
                    random ^= random << 17
                    text += Array("\(random % 1_000_000).\(random % 1_000)\n".utf8)
                }
                // Synced, so that each read can drop the file's cached pages and really read the disk.
                try writeFile(path, text, sync: true)
            }
            return path
        }
    }

    /// `directory`, created if needed and emptied of earlier summaries.
    static func emptyDirectory(_ directory: String) throws -> String {
        try makeDirectory(directory)
        guard let listing = opendir(directory) else { throw ExampleError("cannot list \(directory)") }
        defer { closedir(listing) }
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".summary") { unlink(directory + "/" + name) }
        }
        return directory
    }

    private static func makeDirectory(_ path: String) throws {
        var partial = ""
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) != 0 && errno != EEXIST {
                throw ExampleError("cannot create \(partial): errno \(errno)")
            }
        }
    }
}

extension String {
    /// The string padded with spaces to `width` characters.
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
