/// Per-tensor affine quantization parameters: `real = scale * (q - zeroPoint)`.
public struct AffineQuantization: Sendable, Hashable, CustomStringConvertible {
    /// The step between two adjacent quantized values, as stored in the file (float32).
    public var scale: Float
    /// The quantized value that represents real 0.
    public var zeroPoint: Int32

    @inlinable
    public init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    public var description: String { "(scale: \(scale), zeroPoint: \(zeroPoint))" }

    /// `x` quantized to int8 as the reference QUANTIZE does.
    ///
    ///     q = clamp(zeroPoint + (int32)round_half_away(x / scale), -128, 127)   // float division
    ///
    /// Matches `reference_ops::AffineQuantize`. NaN maps to `zeroPoint`'s clamp of `Int32.min`
    /// (the x86 conversion of NaN), i.e. -128.
    @inlinable
    public func quantize(_ x: Float) -> Int8 {
        let q = Quantization.roundedToInt32(x / scale) &+ zeroPoint
        return Int8(Swift.min(Swift.max(q, -128), 127))
    }

    /// `q` dequantized to float32.
    ///
    ///     f = (float)((double)scale * (q - zeroPoint))   // == float(scale * (q - zp)) exactly
    ///
    /// Matches `reference_ops::Dequantize`.
    @inlinable
    public func dequantize(_ q: Int8) -> Float {
        Float(Double(scale) * Double(Int32(q) - zeroPoint))
    }
}

/// Rounding and conversion helpers shared by the quantized kernels.
public enum Quantization {
    /// `x` rounded half away from zero and converted as C's `(int32_t)` cast does on x86
    /// (`Int32.min` for NaN and out-of-range values).
    ///
    /// Matches `static_cast<int32_t>(TfLiteRound(x))`.
    @inlinable
    public static func roundedToInt32(_ x: Float) -> Int32 {
        let r = x.rounded(.toNearestOrAwayFromZero)
        return (r >= -2_147_483_648.0 && r < 2_147_483_648.0) ? Int32(r) : .min
    }

    /// `x` rounded half away from zero to `Int32`, with the x86 out-of-range convention.
    @inlinable
    public static func roundedToInt32(_ x: Double) -> Int32 {
        let r = x.rounded(.toNearestOrAwayFromZero)
        return (r >= -2_147_483_648.0 && r < 2_147_483_648.0) ? Int32(r) : .min
    }

    /// `x` truncated toward zero to `Int32`, with the x86 out-of-range convention (`cvttss2si`).
    @inlinable
    public static func truncatedToInt32(_ x: Float) -> Int32 {
        (x >= -2_147_483_648.0 && x < 2_147_483_648.0) ? Int32(x) : .min
    }
}
