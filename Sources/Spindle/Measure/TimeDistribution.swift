internal import Histogram

/// How a set of durations spread out: count, total and percentiles, as the lock statistics and
/// the pools' own statistics give them for waits, holds and busy time.
public struct TimeDistribution: Sendable, Hashable, CustomStringConvertible {
    /// How many durations.
    public var count: Int
    /// Their sum.
    public var total: Duration
    /// The median. Percentiles are accurate to two significant digits (an HdrHistogram's).
    public var p50: Duration
    /// The 90th percentile.
    public var p90: Duration
    /// The 99th percentile.
    public var p99: Duration
    /// The longest, exactly.
    public var max: Duration

    /// No durations at all.
    public static let empty = TimeDistribution(count: 0, total: .zero, p50: .zero, p90: .zero, p99: .zero, max: .zero)

    /// "p50 12 µs, p90 80 µs, p99 1.4 ms, max 3.1 ms (1000)".
    public var description: String {
        "p50 \(Self.show(p50)), p90 \(Self.show(p90)), p99 \(Self.show(p99)), max \(Self.show(max)) (\(count))"
    }

    /// "80 ns", "229 µs", "163 ms", "2.5 s".
    static func show(_ duration: Duration) -> String {
        let ns = Double(duration.clampedNanoseconds)
        if ns == 0 { return "0 ns" }
        if ns >= 1e9 { return format(ns / 1e9) + " s" }
        if ns >= 1e6 { return format(ns / 1e6) + " ms" }
        if ns >= 1e3 { return format(ns / 1e3) + " µs" }
        return format(ns) + " ns"
    }
}

/// Durations in nanoseconds, counted in an HdrHistogram: constant memory however many, percentiles
/// to two significant digits, and histograms that add up (one per thread, summed for the lock).
package struct DurationHistogram: Sendable {
    private var histogram: Histogram<UInt32>
    private var totalNanoseconds: UInt64 = 0
    /// Exact, where the histogram's own maximum is the top of a bucket (up to 1 % above).
    private var maxNanoseconds: UInt64 = 0

    package init() {
        // Up to a second to begin with (about 11 KB); it grows when a longer duration comes.
        histogram = Histogram(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .two)
        histogram.autoResize = true
    }

    var count: Int { Int(histogram.totalCount) }

    package mutating func record(_ nanoseconds: UInt64) {
        _ = histogram.record(nanoseconds)
        totalNanoseconds &+= nanoseconds
        maxNanoseconds = Swift.max(maxNanoseconds, nanoseconds)
    }

    mutating func add(_ other: DurationHistogram) {
        histogram.add(other.histogram)
        totalNanoseconds &+= other.totalNanoseconds
        maxNanoseconds = Swift.max(maxNanoseconds, other.maxNanoseconds)
    }

    /// The sum of `histograms`, in storage of its own.
    package static func sum(_ histograms: some Sequence<DurationHistogram>) -> DurationHistogram {
        var total = DurationHistogram()
        for histogram in histograms { total.add(histogram) }
        return total
    }

    /// The duration below which `fraction` (0...1) of those recorded fall.
    func percentile(_ fraction: Double) -> UInt64 {
        count == 0 ? 0 : Swift.min(histogram.valueAtPercentile(fraction * 100), maxNanoseconds)
    }

    var distribution: TimeDistribution {
        guard count > 0 else { return .empty }
        return TimeDistribution(
            count: count,
            total: .nanoseconds(totalNanoseconds),
            p50: .nanoseconds(percentile(0.5)),
            p90: .nanoseconds(percentile(0.9)),
            p99: .nanoseconds(percentile(0.99)),
            max: .nanoseconds(maxNanoseconds)
        )
    }
}
