/// Choosing quantization parameters from real ranges, as the TFLite converter does (spec §1.3).
extension AffineQuantization {
    /// The PTQ range pre-processing: the range must contain 0 and be at least 1e-6 wide.
    ///
    ///     rmin = min(rmin, 0); rmax = max(rmax, 0)
    ///     if rmax - rmin <= 1e-6 { rmin = min(rmin, -5e-7); rmax = max(rmax, 5e-7) }
    ///
    /// Matches `ConvertStatsToQDQs` + `ExpandVerySmallRange` (`kNearZeroTolerance`).
    public static func preprocessedRange(min rmin: Double, max rmax: Double) -> (min: Double, max: Double) {
        var lo = Swift.min(rmin, 0)
        var hi = Swift.max(rmax, 0)
        if hi - lo <= 1e-6 {
            lo = Swift.min(lo, -5e-7)
            hi = Swift.max(hi, 5e-7)
        }
        return (lo, hi)
    }

    /// Activation parameters for full-integer PTQ (the default converter path, `legacy_float_scale`).
    ///
    ///     (rmin, rmax) = preprocessedRange(min, max)
    ///     scale = ((float)rmax - (float)rmin) / 255.0f                       // float
    ///     zp_f  = (float)(-128.0 - rmin / (double)scale)
    ///     zp    = zp_f < -128 ? -128 : zp_f > 127 ? 127 : round_half_away(zp_f)
    ///
    /// Example: (-1, 3) gives scale 4/255 and zero point -64. Matches `GetQuantizedType` +
    /// `DownCastScale` with `legacy_float_scale = true`, int8 [-128, 127].
    public static func legacyFloatPTQ(min rmin: Double, max rmax: Double) -> AffineQuantization {
        let (lo, hi) = preprocessedRange(min: rmin, max: rmax)
        let scale = (Float(hi) - Float(lo)) / 255.0
        let zpFloat = Float(-128.0 - lo / Double(scale))
        let zeroPoint: Int32 = zpFloat < -128 ? -128
            : zpFloat > 127 ? 127
            : Int32(zpFloat.rounded(.toNearestOrAwayFromZero))
        return AffineQuantization(scale: scale, zeroPoint: zeroPoint)
    }

    /// Scale (double) and zero point for `[rmin, rmax]` over `[quantizedMin, quantizedMax]`.
    ///
    ///     |rmax - rmin| < DBL_EPSILON -> (1.0, qmin)
    ///     scale = (rmax - rmin) / (qmax - qmin)
    ///     zp from min: qmin - rmin/scale, error |qmin| + |rmin/scale|
    ///     zp from max: qmax - rmax/scale, error |qmax| + |rmax/scale|
    ///     zp = clamp(round_half_away(zp with the smaller error), qmin, qmax)
    ///
    /// The range must contain 0. Matches MLIR's `fakeQuantAttrsToType` (all double) and
    /// `ChooseQuantizationParams`; the scale is stored as float32 by the caller.
    public static func fakeQuantParameters(
        min rmin: Double, max rmax: Double, quantizedMin qmin: Int32, quantizedMax qmax: Int32
    ) -> (scale: Double, zeroPoint: Int32) {
        precondition(rmin <= 0 && rmax >= 0, "fakeQuantParameters: range [\(rmin), \(rmax)] must straddle zero")
        if abs(rmax - rmin) < Double.ulpOfOne { return (1.0, qmin) }
        let qminD = Double(qmin), qmaxD = Double(qmax)
        let scale = (rmax - rmin) / (qmaxD - qminD)
        let zpFromMin = qminD - rmin / scale
        let zpFromMax = qmaxD - rmax / scale
        let errorMin = abs(qminD) + abs(rmin / scale)
        let errorMax = abs(qmaxD) + abs(rmax / scale)
        let zp = errorMin < errorMax ? zpFromMin : zpFromMax
        let zeroPoint: Int32 = zp < qminD ? qmin : zp > qmaxD ? qmax : Int32(zp.rounded(.toNearestOrAwayFromZero))
        return (scale, zeroPoint)
    }

    /// Int8 activation parameters for a QAT fake-quant range, as the converter derives them.
    ///
    /// `fakeQuantParameters` on uint8 storage ([0, 255], or [1, 255] with `narrowRange`), then the
    /// zero point shifted by -128 and the scale stored as float32.
    public static func quantizationAwareInt8(min rmin: Double, max rmax: Double, narrowRange: Bool = false) -> AffineQuantization {
        let (scale, zp) = fakeQuantParameters(min: rmin, max: rmax, quantizedMin: narrowRange ? 1 : 0, quantizedMax: 255)
        return AffineQuantization(scale: Float(scale), zeroPoint: zp - 128)
    }
}

/// Symmetric int8 weight quantization and int32 bias quantization.
public enum WeightQuantization {
    /// Which converter arithmetic to reproduce.
    public enum Arithmetic: Sendable, Hashable {
        /// PTQ full integer (`legacy_float_scale`): float scale and float multiply by the inverse.
        case legacyFloat
        /// Dynamic range and QAT weights: double scale, double division.
        case double
    }

    /// Quantizes `weights` symmetrically per channel along `axis` into [-127, 127].
    ///
    /// Legacy float (PTQ):
    ///
    ///     absmax = max |w| over the channel, widened to 5e-7 when 2*absmax <= 1e-6
    ///     scale  = ((float)absmax + (float)absmax) / 254.0f
    ///     q      = clamp((int)round_half_away(w * (float)(1.0 / scale)), -127, 127)
    ///
    /// Double (dynamic range, `UniformQuantizedValueConverter`):
    ///
    ///     scale = 2 * absmax / 254 (double);  q = clamp(round_half_away(w / scale), -127, 127)
    ///
    /// Returns the int8 values (same layout as `weights`) and one float32 scale per channel
    /// (`shape[axis]` of them; one if `perChannel` is false, taking absmax over everything).
    public static func symmetric(
        _ weights: UnsafeBufferPointer<Float>, shape: [Int], axis: Int, perChannel: Bool = true,
        arithmetic: Arithmetic
    ) -> (values: [Int8], scales: [Float]) {
        precondition(axis >= 0 && axis < shape.count, "WeightQuantization: axis \(axis) outside rank \(shape.count)")
        precondition(shape.reduce(1, *) == weights.count, "WeightQuantization: shape \(shape) does not match \(weights.count) values")
        let channels = perChannel ? shape[axis] : 1
        let inner = perChannel ? shape[(axis + 1)...].reduce(1, *) : weights.count
        func channel(of index: Int) -> Int { perChannel ? (index / inner) % channels : 0 }
        var absmax = [Double](repeating: 0, count: channels)
        for i in weights.indices {
            absmax[channel(of: i)] = Swift.max(absmax[channel(of: i)], Double(abs(weights[i])))
        }
        var doubleScales = [Double](repeating: 0, count: channels)
        var floatScales = [Float](repeating: 0, count: channels)
        var inverses = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            var m = absmax[c]
            if 2 * m <= 1e-6 { m = 5e-7 }
            switch arithmetic {
            case .legacyFloat:
                floatScales[c] = (Float(m) + Float(m)) / 254.0
                inverses[c] = Float(1.0 / Double(floatScales[c]))
            case .double:
                doubleScales[c] = (m + m) / 254.0
                floatScales[c] = Float(doubleScales[c])
            }
        }
        var values = [Int8](repeating: 0, count: weights.count)
        for i in weights.indices {
            let c = channel(of: i)
            let q: Int32
            switch arithmetic {
            case .legacyFloat: q = Quantization.roundedToInt32(weights[i] * inverses[c])
            case .double: q = Quantization.roundedToInt32(Double(weights[i]) / doubleScales[c])
            }
            values[i] = Int8(Swift.min(Swift.max(q, -127), 127))
        }
        return (values, floatScales)
    }

    /// The int32 bias scale for one channel: `(float)((double)inputScale * (double)weightScale)`.
    ///
    /// Matches `GetUniformQuantizedTypeForBias` with `legacy_float_scale`.
    @inlinable
    public static func biasScale(inputScale: Float, weightScale: Float) -> Float {
        Float(Double(inputScale) * Double(weightScale))
    }

    /// Quantizes one bias value to int32 with scale `biasScale`.
    ///
    ///     q = clamp((int32)round_half_away(b * (float)(1.0 / biasScale)), -(2^31 - 1), 2^31 - 1)
    ///
    /// Matches `SymmetricBiasQuantize`.
    @inlinable
    public static func quantizeBias(_ b: Float, biasScale: Float) -> Int32 {
        let inverse = Float(1.0 / Double(biasScale))
        let r = (b * inverse).rounded(.toNearestOrAwayFromZero)
        if r.isNaN { return 0 }
        if r >= 2_147_483_647.0 { return .max }
        if r <= -2_147_483_647.0 { return -Int32.max }
        return Int32(r)
    }
}
