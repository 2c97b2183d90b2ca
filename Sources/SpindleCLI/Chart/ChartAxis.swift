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
        let span = Self.log2(high) - Self.log2(low)
        let pad = span > 0 ? span / 20 : 1
        let (lower, upper) = (low / Self.exp2(pad), high * Self.exp2(pad))
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
            let span = Self.log2(upper) - Self.log2(lower)
            return span > 0 ? (Self.log2(value) - Self.log2(lower)) / span : 0
        }
    }

    /// The label of the tick at `value`: as many decimals as the tick step needs; M, G, T or P above 10⁶.
    func label(for value: Double) -> String {
        if scale == .log2 { return SVGCanvas.number(value) }
        if value == 0 { return "0" + (stepExponent < 0 ? "." + String(repeating: "0", count: -stepExponent) : "") }
        let magnitude = max(abs(lower), abs(upper))
        for (exponent, suffix) in [(15, "P"), (12, "T"), (9, "G"), (6, "M")] where magnitude >= Self.power10(exponent) {
            let digits = max(0, exponent - stepExponent)
            return SVGCanvas.decimal(value / Self.power10(exponent), digits: digits) + suffix
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
        // The decade of the smallest acceptable step, found by multiplying (the standard library has no log10).
        let minimumStep = (high - low) / Double(maxTicks - 1)
        var exponent = 0
        while power10(exponent) > minimumStep { exponent -= 1 }
        while power10(exponent + 1) <= minimumStep { exponent += 1 }
        var candidates = [(1, exponent), (2, exponent), (5, exponent), (1, exponent + 1), (2, exponent + 1)]
        candidates.append((5, exponent + 1))
        for (multiple, exponent) in candidates {
            let step = Double(multiple) * power10(exponent)
            let first = (low / step + 1e-9).rounded(.down)
            let last = (high / step - 1e-9).rounded(.up)
            guard last - first + 1 <= Double(maxTicks) else { continue }
            // Each tick is multiple × index scaled by an exact power of ten, so 0.3 prints as 0.3.
            let ticks = stride(from: first, through: last, by: 1).map { index in
                exponent >= 0
                    ? index * Double(multiple) * power10(exponent) : index * Double(multiple) / power10(-exponent)
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

    /// The base-2 logarithm of a positive, finite `value`, in pure Swift.
    ///
    /// The exponent comes from the floating-point representation; the significand's logarithm from
    /// ln(s) = 2·atanh((s − 1)/(s + 1)), whose series converges fast because the argument is at most 1/3.
    static func log2(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return value == 0 ? -.infinity : .nan }
        let significand = value.significand  // 1 ≤ s < 2
        let z = (significand - 1) / (significand + 1)
        let zz = z * z
        var term = z
        var sum = 0.0
        for k in stride(from: 1.0, through: 39, by: 2) {
            sum += term / k
            term *= zz
        }
        return Double(value.exponent) + 2 * sum / 0.693_147_180_559_945_3
    }

    /// 2 raised to a real `exponent`, the inverse of `log2(_:)` (only needed for small paddings).
    static func exp2(_ exponent: Double) -> Double {
        guard exponent.isFinite else { return exponent > 0 ? .infinity : 0 }
        let whole = min(max(exponent, -1100), 1100).rounded(.down)
        // e^x by its Taylor series on x = fraction · ln 2 < 0.7.
        let x = (min(max(exponent, -1100), 1100) - whole) * 0.693_147_180_559_945_3
        var term = 1.0
        var sum = 1.0
        for k in 1...20 {
            term *= x / Double(k)
            sum += term
        }
        return Double(sign: .plus, exponent: Int(whole), significand: 1) * sum
    }

    static func power10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<abs(exponent) { result *= 10 }
        return exponent >= 0 ? result : 1 / result
    }

    /// Whether a data value can be placed on an axis: finite, not absurdly large, and not lost in underflow.
    static func isUsable(_ value: Double) -> Bool {
        value.isFinite && abs(value) <= 1e30 && (value == 0 || abs(value) >= 1e-200)
    }
}
