import Glibc

/// A real multiplier encoded as a Q0.31 fixed-point `multiplier` and a power-of-two `shift`.
///
///     real ≈ multiplier * 2^(shift - 31),  multiplier in [2^30, 2^31 - 1] (or 0)
///
/// A negative `shift` is a right shift. Built by `init(_:)`, which is TFLite's `QuantizeMultiplier`.
public struct QuantizedMultiplier: Sendable, Hashable, CustomStringConvertible {
    /// The Q0.31 mantissa, in [2^30, 2^31 - 1], or 0 for a zero (or flushed) multiplier.
    public var multiplier: Int32
    /// The power-of-two exponent; negative means shift right.
    public var shift: Int

    /// A multiplier from its parts, unchanged.
    @inlinable
    public init(multiplier: Int32, shift: Int) {
        self.multiplier = multiplier
        self.shift = shift
    }

    /// Encodes `realMultiplier` (non-negative, finite) exactly as TFLite does.
    ///
    ///     q, shift = frexp(real)               q in [0.5, 1)
    ///     qf = round_half_away(q * 2^31)
    ///     qf == 2^31  ->  qf /= 2, shift += 1  (renormalize)
    ///     shift < -31 ->  qf = 0, shift = 0    (flush tiny multipliers)
    ///
    /// With `singleRounding` the shift is also capped at 30 (`TFLITE_SINGLE_ROUNDING` builds).
    /// Matches TFLite's `QuantizeMultiplier` (`tflite/kernels/internal/quantization_util.cc`).
    public init(_ realMultiplier: Double, singleRounding: Bool = false) {
        precondition(realMultiplier >= 0 && realMultiplier.isFinite,
                     "QuantizedMultiplier: real multiplier \(realMultiplier) must be finite and >= 0")
        if realMultiplier == 0 {
            self.init(multiplier: 0, shift: 0)
            return
        }
        var exponent: Int32 = 0
        let q = frexp(realMultiplier, &exponent)
        var qFixed = Int64((q * 2_147_483_648.0).rounded())   // .rounded() is half away from zero
        var shift = Int(exponent)
        if qFixed == (Int64(1) << 31) {
            qFixed /= 2
            shift += 1
        }
        if shift < -31 {
            shift = 0
            qFixed = 0
        }
        if singleRounding && shift > 30 {
            shift = 30
            qFixed = (Int64(1) << 31) - 1
        }
        self.init(multiplier: Int32(qFixed), shift: shift)
    }

    /// The real number this encodes, `multiplier * 2^(shift - 31)`.
    public var realValue: Double { Double(multiplier) * pow(2.0, Double(shift - 31)) }

    public var description: String { "(\(multiplier), \(shift))" }

    /// `x` times this multiplier, gemmlowp double rounding (the default TFLite build).
    ///
    /// Matches TFLite's `MultiplyByQuantizedMultiplier`.
    @inlinable
    public func apply(to x: Int32) -> Int32 {
        FixedPoint.multiplyByQuantizedMultiplier(x, multiplier: multiplier, shift: shift)
    }
}
