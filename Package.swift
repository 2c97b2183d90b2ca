// swift-tools-version: 6.1
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
