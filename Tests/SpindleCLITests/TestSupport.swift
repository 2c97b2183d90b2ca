import Foundation
import Spindle
import Testing

/// An executable built next to the test bundle, such as `spindle`, whose `main` serves as a
/// ProcessPool worker (the test bundle's own `main` cannot).
func siblingExecutable(_ name: String) -> String {
    let me = currentExecutablePath()
    return me[..<(me.lastIndex(of: "/") ?? me.startIndex)] + "/" + name
}

/// What a run of `spindle` printed, and its exit status.
struct SpindleRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the `spindle` built with the tests, with `environment` added to the tests' own, and waits
/// for it without blocking a thread. Its stdout and stderr go to files, so neither can fill up.
func runSpindle(_ arguments: [String], environment: [String: String] = [:]) async throws -> SpindleRun {
    let folder = URL(fileURLWithPath: try temporaryFolder("spindle-run"))
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout")
    let errURL = folder.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    // Close-on-exec, so that processes other tests start meanwhile do not inherit them.
    let out = FileHandle(fileDescriptor: open(outURL.path, O_WRONLY | O_CLOEXEC), closeOnDealloc: true)
    let err = FileHandle(fileDescriptor: open(errURL.path, O_WRONLY | O_CLOEXEC), closeOnDealloc: true)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: siblingExecutable("spindle"))
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let exit = try process.start()
    await exit()
    try out.close()
    try err.close()
    return SpindleRun(
        status: process.terminationStatus,
        stdout: try String(contentsOf: outURL, encoding: .utf8),
        stderr: try String(contentsOf: errURL, encoding: .utf8)
    )
}

/// A new, empty folder under the temporary directory; the caller removes it.
func temporaryFolder(_ prefix: String = "spindle-test") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: path, withIntermediateDirectories: false)
    return path.path
}

/// Whether librsvg's `rsvg-convert` is here (Debian's librsvg2-bin, which scripts/test installs):
/// the tests that render charts to PNG need it and are skipped, visibly, where it is not.
let canRenderSVG = FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert")

/// Renders `svg` to `png` with rsvg-convert, as a browser would draw it, and expects a real picture.
func expectRenders(_ svg: String, to png: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let converter = Process()
    converter.executableURL = URL(fileURLWithPath: "/usr/bin/rsvg-convert")
    converter.arguments = ["-o", png, svg]
    let exit = try converter.start()
    await exit()
    #expect(converter.terminationStatus == 0, "rsvg-convert \(svg)", sourceLocation: sourceLocation)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
    #expect(bytes.count > 1024, "\(png) is \(bytes.count) bytes", sourceLocation: sourceLocation)
    #expect(
        bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
        "\(png) is a PNG",
        sourceLocation: sourceLocation
    )
}

extension Process {
    /// Starts the process and returns a function that waits for it to exit. The wait suspends
    /// rather than blocks: a blocked thread of Swift's small cooperative pool would stall every
    /// other test in the process meanwhile.
    func start() throws -> @Sendable () async -> Void {
        let (exits, exited) = AsyncStream<Void>.makeStream()
        terminationHandler = { _ in
            exited.yield()
            exited.finish()
        }
        try run()
        return { for await _ in exits {} }
    }
}
