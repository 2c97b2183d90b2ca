#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One axis of a chart: its scale, its domain, and "nice" ticks with their labels.
///
/// Linear ticks step by 1, 2 or 5 times a power of ten; log2 ticks sit on the data's own values (worker
/// counts such as 1, 2, 4, 8, 16) or on powers of two. NaN and infinite values are ignored, so are
/// magnitudes above 10³⁰ or below 10⁻²⁰⁰, and an axis without data spans 0…1.
///
/// ```swift
/// let y = ChartAxis(linearThrough: [0.2, 1.93])    // 0…2, ticks 0, 0.5, 1, 1.5, 2
/// let x = ChartAxis(log2Through: [1, 2, 4, 8, 16])  // ticks 1, 2, 4, 8, 16
/// y.fraction(of: 1)                                  // 0.5: halfway up the plot
/// y.label(for: 1.5)                                  // "1.5"
/// ```
struct ChartAxis: Sendable {
    enum Scale: Sendable {
        case linear, log2
    }

    let scale: Scale
    /// The value at the start (left or bottom) of the plot.
    let lower: Double
    /// The value at the end (right or top) of the plot.
    let upper: Double
    let ticks: [Double]
    /// The power of ten of the linear tick step, which sets the decimals of the labels.
    private let stepExponent: Int

    /// A linear axis from zero (or a smaller value) through the largest value, widened to whole ticks.
    ///
    /// - Parameters:
    ///   - values: The data; the axis always includes zero.
    ///   - maxTicks: The most ticks to draw (at least 2).
    ///   - headroom: A fraction of the largest value to leave free above it, so a line at the maximum does
    ///     not run along the frame.
    init(linearThrough values: some Sequence<Double>, maxTicks: Int = 8, headroom: Double = 0) {
        let finite = values.filter(Self.isUsable)
        let low = min(0, finite.min() ?? 0)
        let high = max(0, finite.max() ?? 0)
        self.init(linearFrom: low, through: high + (high - low) * max(0, headroom), maxTicks: maxTicks)
    }

    /// A linear axis over `lower…upper`, widened to whole ticks, or exactly that range with the ticks inside it.
    init(linearFrom lower: Double, through upper: Double, maxTicks: Int = 8, widened: Bool = true) {
        let (ticks, stepExponent) = Self.niceTicks(from: lower, through: upper, maxTicks: maxTicks)
        self.scale = .linear
        self.stepExponent = stepExponent
        var (low, high) = (Self.isUsable(lower) ? lower : 0, Self.isUsable(upper) ? upper : 0)
        if low > high { swap(&low, &high) }
        if widened || !(high > low) {
            self.lower = ticks.first ?? 0
            self.upper = ticks.last ?? 1
            self.ticks = ticks
        } else {
            let tolerance = (high - low) * 1e-9
            self.lower = low
            self.upper = high
            self.ticks = ticks.filter { $0 >= low - tolerance && $0 <= high + tolerance }
        }
    }

    /// A log2 axis through the positive `values`, with a tick on each distinct value when there are at most ten.
    init(log2Through values: some Sequence<Double>) {
        let positive = Set(values.filter { Self.isUsable($0) && $0 > 0 }).sorted()
        let low = positive.first ?? 1
        let high = positive.last ?? low
        self.scale = .log2
        self.stepExponent = -2
        // Pad by a twentieth of the span (or one octave around a single value) so end markers clear the frame.
        let span = log2(high) - log2(low)
        let pad = span > 0 ? span / 20 : 1
        let (lower, upper) = (low / exp2(pad), high * exp2(pad))
        self.lower = lower
        self.upper = upper
        self.ticks =
            (1...10).contains(positive.count)
            ? positive : Self.log2Ticks(from: low, through: high).filter { $0 >= lower && $0 <= upper }
    }

    /// Where `value` lies along the axis: 0 at `lower`, 1 at `upper` (outside 0…1 when out of range).
    func fraction(of value: Double) -> Double {
        switch scale {
        case .linear:
            return upper > lower ? (value - lower) / (upper - lower) : 0
        case .log2:
            guard value > 0 else { return 0 }
            let span = log2(upper) - log2(lower)
            return span > 0 ? (log2(value) - log2(lower)) / span : 0
        }
    }

    /// The label of the tick at `value`: as many decimals as the tick step needs; M, G, T or P above 10⁶.
    func label(for value: Double) -> String {
        if scale == .log2 { return SVGCanvas.number(value) }
        let magnitude = max(abs(lower), abs(upper))
        // Zero takes no suffix: "0", "0.5M", "1.0M", not "0.0M".
        for (exponent, suffix) in [(15, "P"), (12, "T"), (9, "G"), (6, "M")]
        where value != 0 && magnitude >= pow(10, Double(exponent)) {
            let digits = max(0, exponent - stepExponent)
            return SVGCanvas.decimal(value / pow(10, Double(exponent)), digits: digits) + suffix
        }
        return SVGCanvas.decimal(value, digits: max(0, -stepExponent))
    }
}

extension ChartAxis {
    /// Ticks from `lower` through `upper` at a step of 1, 2 or 5 times a power of ten: the smallest such step
    /// that needs at most `maxTicks` ticks, with the first and last tick at or beyond the ends.
    ///
    /// 0…1.93 gives 0, 0.5, 1, 1.5, 2; 0…12.4 gives 0, 2, …, 14; 0…0 gives 0…1 (there is nothing to show,
    /// but the axis must still be drawable).
    ///
    /// - Returns: The ticks, and the power of ten of their step (-1 for 0.5: labels need one decimal).
    static func niceTicks(
        from lower: Double,
        through upper: Double,
        maxTicks: Int = 8
    ) -> (ticks: [Double], exponent: Int) {
        let maxTicks = max(2, maxTicks)
        var low = isUsable(lower) ? lower : 0
        var high = isUsable(upper) ? upper : 0
        if low > high { swap(&low, &high) }
        // A span lost in rounding noise (or none at all) gets a visible one that includes zero.
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            (low, high) = high == 0 ? (0, 1) : (min(0, low), max(0, high))
        }
        // The decade of the smallest acceptable step, corrected where log10 rounds across a power of ten.
        let minimumStep = (high - low) / Double(maxTicks - 1)
        var exponent = Int(log10(minimumStep).rounded(.down))
        if pow(10, Double(exponent)) > minimumStep { exponent -= 1 }
        if pow(10, Double(exponent + 1)) <= minimumStep { exponent += 1 }
        var candidates = [(1, exponent), (2, exponent), (5, exponent), (1, exponent + 1), (2, exponent + 1)]
        candidates.append((5, exponent + 1))
        for (multiple, exponent) in candidates {
            let step = Double(multiple) * pow(10, Double(exponent))
            let first = (low / step + 1e-9).rounded(.down)
            let last = (high / step - 1e-9).rounded(.up)
            guard last - first + 1 <= Double(maxTicks) else { continue }
            // Each tick is multiple × index scaled by an exact power of ten, so 0.3 prints as 0.3.
            let ticks = stride(from: first, through: last, by: 1).map { index in
                exponent >= 0
                    ? index * Double(multiple) * pow(10, Double(exponent))
                    : index * Double(multiple) / pow(10, Double(-exponent))
            }
            return (ticks, exponent)
        }
        return ([low, high], -2)  // unreachable for finite input: the last candidate is ≥ 10 × the minimum step
    }

    /// Powers of two from the largest one at or below `lower` through the smallest one at or above `upper`,
    /// every other one when there would be more than ten: 1…16 gives 1, 2, 4, 8, 16.
    static func log2Ticks(from lower: Double, through upper: Double) -> [Double] {
        guard isUsable(lower), isUsable(upper), lower > 0, upper >= lower else { return [1] }
        var tick = 1.0
        while tick > lower { tick /= 2 }
        while tick * 2 <= lower { tick *= 2 }
        var ticks = [tick]
        while tick < upper * (1 - 1e-12) {
            tick *= 2
            ticks.append(tick)
        }
        return ticks.count > 10 ? ticks.enumerated().filter { $0.offset.isMultiple(of: 2) }.map(\.element) : ticks
    }

    /// Whether a data value can be placed on an axis: finite, not absurdly large, and not lost in underflow.
    static func isUsable(_ value: Double) -> Bool {
        value.isFinite && abs(value) <= 1e30 && (value == 0 || abs(value) >= 1e-200)
    }
}
