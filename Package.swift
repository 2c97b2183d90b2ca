// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Why each dependency is here:
// - swift-argument-parser: the `spindle` command line (subcommands, typed options, help).
// - swift-collections: `Deque`, the O(1) FIFO behind the pools' work queues, and `Heap`, the
//   process pool's queue of task deadlines.
// - hdrhistogram-swift: percentiles of waits in constant memory (lock waits and holds per thread,
//   the pools' queue waits), that add up across threads; the histogram package-benchmark uses.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Spindle",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Spindle", targets: ["Spindle"]),
        .executable(name: "spindle", targets: ["SpindleCLI"]),
        .executable(name: "file-pipeline", targets: ["FilePipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .target(name: "CSpindle"),
        .target(
            name: "Spindle",
            dependencies: [
                "CSpindle",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "SpindleCLI",
            dependencies: [
                "CSpindle",
                "Spindle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // The pipeline example: read files on threads, analyse them in processes, store on threads.
        .executableTarget(
            name: "FilePipeline",
            dependencies: ["Spindle"],
            path: "Examples/FilePipeline",
            swiftSettings: strictSettings
        ),
        // The conformance suite every Pool backend runs; generic over `Pool`, so later
        // backends (ProcessPool, MPIPool) reuse it from their own test targets.
        .target(
            name: "PoolConformance",
            dependencies: ["Spindle"],
            path: "Tests/PoolConformance",
            swiftSettings: strictSettings
        ),
        // The worker executable of the tests' process pools (`swift test` owns the test process's
        // main, so the tests cannot re-launch themselves as workers).
        .executableTarget(
            name: "SpindleTestWorker",
            dependencies: ["Spindle", "PoolConformance"],
            path: "Tests/SpindleTestWorker",
            swiftSettings: strictSettings
        ),
        // Workloads with a known answer (busy threads, sleeps, pipes, locks, disk reads) that the
        // tests of `spindle time` measure.
        .executableTarget(
            name: "SpindleTimeWorkloads",
            dependencies: ["CSpindle", "Spindle"],
            path: "Tests/SpindleTimeWorkloads",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SpindleTests",
            dependencies: ["Spindle", "PoolConformance", "SpindleTestWorker", "SpindleTimeWorkloads"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SpindleCLITests",
            dependencies: ["SpindleCLI"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// SpindleMPI, the cluster backend, is the only code that needs Open MPI's headers and library, so
// it is part of the package only where they are: the core builds and tests without MPI. Open MPI
// is found by its pkg-config file (Debian's libopenmpi-dev); SPINDLE_MPI=1 or 0 overrides that.
// `scripts/test` installs Open MPI first, so the test run always has it.
let pkgConfigFolders =
    (ProcessInfo.processInfo.environment["PKG_CONFIG_PATH"] ?? "").split(separator: ":").map(String.init) + [
        "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig", "/usr/lib/pkgconfig",
        "/usr/local/lib/pkgconfig", "/usr/share/pkgconfig",
    ]
let hasOpenMPI =
    switch ProcessInfo.processInfo.environment["SPINDLE_MPI"] {
    case "1": true
    case "0": false
    default: pkgConfigFolders.contains { FileManager.default.fileExists(atPath: $0 + "/ompi.pc") }
    }
if hasOpenMPI {
    package.products.append(.library(name: "SpindleMPI", targets: ["SpindleMPI"]))
    package.targets += [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "SpindleMPI",
            dependencies: ["CMPI", "CSpindle", "Spindle", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strictSettings
        ),
        // The MPI benchmarks, run under mpirun by scripts/mpi-bench.
        .executableTarget(
            name: "SpindleMPIBench",
            dependencies: ["SpindleMPI", "Spindle"],
            path: "Tests/SpindleMPIBench",
            swiftSettings: strictSettings
        ),
        // Tests that start `mpirun` over this same test binary: on rank 0 the MPI tests run as the
        // driver, on the other ranks the same tests turn the process into a server.
        .testTarget(
            name: "SpindleMPITests",
            dependencies: ["SpindleMPI", "Spindle", "PoolConformance", "SpindleTestWorker"],
            swiftSettings: strictSettings
        ),
    ]
}
