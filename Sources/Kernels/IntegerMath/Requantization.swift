/// Which requantization arithmetic turns an int32 accumulator into an int8 output.
///
/// LiteRT has no single answer: the same `.tflite` gives different outputs per kernel path
/// (spec §2.3). QuantKit's reference interpreter uses `.gemmlowpDouble` for CONV_2D and
/// DEPTHWISE_CONV_2D and `.refFloatFC` for FULLY_CONNECTED, which is what `BUILTIN_REF` runs.
public enum RequantMode: String, Sendable, Hashable, CaseIterable {
    /// `MultiplyByQuantizedMultiplier`, default build: SRDHM half up, then shift half away.
    /// `BUILTIN_REF` CONV_2D / DEPTHWISE_CONV_2D; optimized DEPTHWISE on x86.
    case gemmlowpDouble
    /// `TFLITE_SINGLE_ROUNDING=1`: one half-up rounding of the 64-bit product.
    case tfliteSingle
    /// ruy's AVX2 kernels: half up on the high multiply, half up on the shift.
    /// `BUILTIN_WITHOUT_DEFAULT_DELEGATES` CONV_2D / FULLY_CONNECTED on x86.
    case ruyX86
    /// XNNPACK QS8: `lrintf(acc * float32 scale)` (ties to even), clamped in float first.
    /// The default `AUTO` Python interpreter.
    case xnnpackFP32
    /// The reference FULLY_CONNECTED since April 2025: `round_half_away(double(acc) * double scale)`.
    case refFloatFC
}

/// Requantizes one output channel's int32 accumulators to int8, in a chosen `RequantMode`.
///
/// Holds every form of the effective scale `s = inputScale * weightScale / outputScale` that
/// the modes need (fixed point, double, float32), computed once at prepare time.
public struct ChannelRequantizer: Sendable, Hashable {
    /// The arithmetic used by `requantize`.
    public var mode: RequantMode
    /// `QuantizeMultiplier(doubleScale)` for the integer modes.
    public var quantizedMultiplier: QuantizedMultiplier
    /// The effective scale in double, for `.refFloatFC`.
    public var doubleScale: Double
    /// The effective scale in float32 (`in * w / out`, left to right), for `.xnnpackFP32`.
    public var floatScale: Float

    /// A requantizer for an effective scale given both ways.
    ///
    /// `doubleScale` feeds `QuantizeMultiplier` and `.refFloatFC`; `floatScale` feeds `.xnnpackFP32`.
    public init(mode: RequantMode, doubleScale: Double, floatScale: Float) {
        self.mode = mode
        self.doubleScale = doubleScale
        self.floatScale = floatScale
        self.quantizedMultiplier = QuantizedMultiplier(doubleScale, singleRounding: mode == .tfliteSingle)
    }

    /// The per-channel convention: `double(in) * double(w) / double(out)` (and the float32 product
    /// for XNNPACK).
    ///
    /// Matches `PopulateConvolutionQuantizationParams` and the reference per-channel FC.
    public init(mode: RequantMode, inputScale: Float, weightScale: Float, outputScale: Float) {
        self.init(mode: mode,
                  doubleScale: Double(inputScale) * Double(weightScale) / Double(outputScale),
                  floatScale: inputScale * weightScale / outputScale)
    }

    /// `clamp(scale(acc) + outputZeroPoint, activationMin, activationMax)` in this mode.
    ///
    /// The integer modes multiply, add the zero point, then clamp. `.xnnpackFP32` clamps in float
    /// before rounding (`xnn_qs8_requantize_fp32`), which gives the same integers.
    /// `.refFloatFC` converts with C's `(int32_t)` cast, which on x86 yields `Int32.min` for
    /// out-of-range values; that is reproduced.
    @inlinable
    public func requantize(_ acc: Int32, outputZeroPoint: Int32, activationMin: Int32, activationMax: Int32) -> Int32 {
        let scaled: Int32
        switch mode {
        case .gemmlowpDouble:
            scaled = FixedPoint.multiplyByQuantizedMultiplier(
                acc, multiplier: quantizedMultiplier.multiplier, shift: quantizedMultiplier.shift)
        case .tfliteSingle:
            scaled = FixedPoint.multiplyByQuantizedMultiplierSingleRounding(
                acc, multiplier: quantizedMultiplier.multiplier, shift: quantizedMultiplier.shift)
        case .ruyX86:
            scaled = FixedPoint.multiplyByQuantizedMultiplierRuyX86(
                acc, multiplier: quantizedMultiplier.multiplier, shift: quantizedMultiplier.shift)
        case .xnnpackFP32:
            let lower = Float(activationMin - outputZeroPoint)
            let upper = Float(activationMax - outputZeroPoint)
            let v = Swift.min(Swift.max(Float(acc) * floatScale, lower), upper)
            return Int32(v.rounded(.toNearestOrEven)) + outputZeroPoint
        case .refFloatFC:
            let v = (Double(acc) * doubleScale).rounded()
            scaled = (v >= -2_147_483_648.0 && v < 2_147_483_648.0) ? Int32(v) : .min
        }
        return Swift.min(Swift.max(scaled &+ outputZeroPoint, activationMin), activationMax)
    }
}
