/// Run-time quantization of a float row for dynamic-range ("hybrid") kernels.
///
/// TFLite's hybrid FULLY_CONNECTED and CONV_2D call `tensor_utils::{Symmetric,Asymmetric}QuantizeFloats`
/// whatever the kernel type, so `BUILTIN_REF` runs the same code as `BUILTIN`. On x86 that is the
/// NEON code compiled through NEON_2_SSE (`tensor_utils.cc` includes `sse_tensor_utils.h`, whose
/// `NEON_OR_PORTABLE` picks `Neon*QuantizeFloats`): the first `count & ~7` values go through
/// `RoundToNearest` lanes, the rest through `TfLiteRound` (half away from zero).
public enum HybridInputQuantization {
    /// How the SIMD lanes round `x * inverseScale`.
    public enum LaneRounding: String, Sendable, Hashable, CaseIterable {
        /// `RoundToNearest` as written for non-ARM64 targets: `trunc(v + (v < 0 ? -0.5 : 0.5))`
        /// in float32, i.e. half away from zero (with float rounding of the addition).
        case addHalfAndTruncate
        /// Ties to even (`vcvtnq` / `_mm_cvtps_epi32`), what the spec records for the x86 wheel.
        case tiesToEven
        /// Half away from zero everywhere (the portable C++ code).
        case halfAwayFromZero
    }

    /// Calls `body(i, laneRound(value(i), rounding))` for `i in 0..<count`, with the rounding mode
    /// switched on once, outside the loop.
    @inline(__always)
    static func forEachLane(_ count: Int, _ rounding: LaneRounding, _ value: (Int) -> Float, _ body: (Int, Int32) -> Void) {
        switch rounding {
        case .addHalfAndTruncate: for i in 0..<count { body(i, laneRound(value(i), .addHalfAndTruncate)) }
        case .tiesToEven: for i in 0..<count { body(i, laneRound(value(i), .tiesToEven)) }
        case .halfAwayFromZero: for i in 0..<count { body(i, laneRound(value(i), .halfAwayFromZero)) }
        }
    }

    @inline(__always)
    static func laneRound(_ v: Float, _ rounding: LaneRounding) -> Int32 {
        switch rounding {
        case .addHalfAndTruncate:
            let half: Float = (v < 0 ? -1.0 : 0.0) + 0.5
            return Quantization.truncatedToInt32(v + half)
        case .tiesToEven:
            let r = v.rounded(.toNearestOrEven)
            return (r >= -2_147_483_648.0 && r < 2_147_483_648.0) ? Int32(r) : .min
        case .halfAwayFromZero:
            return Quantization.roundedToInt32(v)
        }
    }

    /// The symmetric scaling factor and its inverse from the row's minimum and maximum, or nil
    /// when the range is 0 (the row is all zeros: q = 0, factor 1).
    ///
    ///     range = max(|min|, |max|);  factor = range / 127;  inverse = 127 / range   (float)
    static func symmetricParameters(min lo: Float, max hi: Float) -> (factor: Float, inverse: Float)? {
        let range = Swift.max(abs(lo), abs(hi))
        if range == 0 { return nil }
        return (range / 127, 127 / range)
    }

    /// The asymmetric scaling factor, zero point and inverse from `rmin = min(0, min x)` and
    /// `rmax = max(0, max x)`, or nil when `rmin == rmax` (the row is all zeros: q = 0, (1, 0)).
    ///
    ///     scale = double(rmax - rmin /* float subtraction */) / 255
    ///     zp = ChooseQuantizationParams-style: smaller-error side, <= -128 / >= 127 clamp, round half away
    ///          (NaN, from an infinite input: 0, as the C++ cast gives on x86)
    ///     factor = float(scale);  inverse = float(1.0 / double(factor))  (0 when factor is 0)
    static func asymmetricParameters(min rmin: Float, max rmax: Float) -> (factor: Float, zeroPoint: Int32, inverse: Float)? {
        if rmin == rmax { return nil }
        let qmin = -128.0, qmax = 127.0
        let scale = Double(rmax - rmin) / (qmax - qmin)
        let zpFromMin = qmin - Double(rmin) / scale
        let zpFromMax = qmax - Double(rmax) / scale
        let errorMin = abs(qmin) + abs(Double(rmin) / scale)
        let errorMax = abs(qmax) + abs(Double(rmax) / scale)
        let zpDouble = errorMin < errorMax ? zpFromMin : zpFromMax
        // An infinite input makes zpDouble NaN (inf / inf). C++'s `static_cast<int8>(round(NaN))`
        // converts through cvttsd2si (INT_MIN, low byte 0) on x86: zero point 0, not a trap.
        let zeroPoint: Int32 = zpDouble.isNaN ? 0 : zpDouble <= qmin ? -128 : zpDouble >= qmax ? 127
            : Int32(zpDouble.rounded(.toNearestOrAwayFromZero))
        let factor = Float(scale)
        let inverse: Float = factor == 0 ? 0 : Float(1.0 / Double(factor))
        return (factor, zeroPoint, inverse)
    }

    /// Symmetric int8 quantization of `values` into [-127, 127]; returns the scaling factor.
    ///
    ///     range = max(|min x|, |max x|)  (float);  range == 0 -> all 0, factor 1
    ///     factor = range / 127;  inverse = 127 / range              (float)
    ///     q = clamp(round(x * inverse), -127, 127)                   (lanes / tail as documented above)
    ///
    /// Matches `NeonSymmetricQuantizeFloats`.
    public static func symmetric(
        _ values: UnsafeBufferPointer<Float>, into quantized: UnsafeMutableBufferPointer<Int8>,
        laneRounding: LaneRounding = .addHalfAndTruncate
    ) -> Float {
        precondition(values.count <= quantized.count, "symmetric: \(values.count) values into \(quantized.count)")
        guard !values.isEmpty else { return 1 }
        var lo = values[0], hi = values[0]
        for x in values {
            if x < lo { lo = x }
            if hi < x { hi = x }
        }
        guard let (factor, inverse) = symmetricParameters(min: lo, max: hi) else {
            for i in values.indices { quantized[i] = 0 }
            return 1
        }
        let laneEnd = values.count & ~7
        // The lanes and the scalar tail, as separate loops with the rounding chosen outside them
        // (same arithmetic as one loop with the branches inside; this shape vectorizes).
        forEachLane(laneEnd, laneRounding, { inverse * values[$0] }) { i, q in
            quantized[i] = Int8(Swift.min(Swift.max(q, -127), 127))
        }
        for i in laneEnd..<values.count {
            let q = Quantization.roundedToInt32(inverse * values[i])
            quantized[i] = Int8(Swift.min(Swift.max(q, -127), 127))
        }
        return factor
    }

    /// Asymmetric int8 quantization of `values` into [-128, 127]; returns scale and zero point.
    ///
    ///     rmin = min(0, min x); rmax = max(0, max x)               (float)
    ///     rmin == rmax -> all 0, (1, 0)
    ///     scale = double(rmax - rmin /* float subtraction */) / 255
    ///     zp = ChooseQuantizationParams-style: smaller-error side, <= -128 / >= 127 clamp, round half away
    ///     factor = float(scale);  inverse = float(1.0 / double(factor))
    ///     lanes: q = clamp(round(x * inverse) + zp);  tail: q = clamp((int)(zp + round_half_away(inverse * x)))
    ///
    /// Matches `NeonAsymmetricQuantizeFloats` (with `NeonMinMax`).
    public static func asymmetric(
        _ values: UnsafeBufferPointer<Float>, into quantized: UnsafeMutableBufferPointer<Int8>,
        laneRounding: LaneRounding = .addHalfAndTruncate
    ) -> (scalingFactor: Float, zeroPoint: Int32) {
        precondition(values.count <= quantized.count, "asymmetric: \(values.count) values into \(quantized.count)")
        var rmin: Float = 0, rmax: Float = 0
        for x in values {
            if x < rmin { rmin = x }
            if rmax < x { rmax = x }
        }
        guard let (factor, zeroPoint, inverse) = asymmetricParameters(min: rmin, max: rmax) else {
            for i in values.indices { quantized[i] = 0 }
            return (1, 0)
        }
        let laneEnd = values.count & ~7
        forEachLane(laneEnd, laneRounding, { inverse * values[$0] }) { i, q in
            quantized[i] = Int8(Swift.min(Swift.max(q &+ zeroPoint, -128), 127))
        }
        for i in laneEnd..<values.count {
            let v = inverse * values[i]
            let q = Quantization.truncatedToInt32(Float(zeroPoint) + v.rounded(.toNearestOrAwayFromZero))
            quantized[i] = Int8(Swift.min(Swift.max(q, -128), 127))
        }
        return (factor, zeroPoint)
    }
}
