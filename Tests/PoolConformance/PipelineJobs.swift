public import Spindle
import Glibc

// Jobs the pipeline tests run on process pools as well as thread pools.

/// Passes on only the even inputs: a filtering stage.
public struct KeepEven: Job {
    public init() {}
    public func run(_ x: Int) async throws -> Int? { x.isMultiple(of: 2) ? x : nil }
}

/// Turns `n` into `n % 4` copies of `n`: a fan-out stage that also emits nothing for some items.
public struct Copies: Job {
    public init() {}
    public func run(_ x: Int) async throws -> [Int] { Array(repeating: x, count: x % 4) }
}

/// Makes a payload of `size` bytes for each input, tagged with it: items that are costly to hold.
public struct Payload: Job {
    public var size: Int
    public init(size: Int) { self.size = size }
    public func run(_ x: Int) async throws -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: x), count: size)
        bytes[0] = UInt8(truncatingIfNeeded: x >> 8)
        return bytes
    }
}

/// Reads a whole file and returns its size: a reading stage.
public struct ReadSize: Job {
    public init() {}
    public func run(_ path: String) async throws -> Int {
        guard let file = fopen(path, "r") else { throw ConformanceFailure(input: -1) }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var size = 0
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            size += count
        }
        return size
    }
}
