/// The gemmlowp fixed-point primitives TFLite's integer kernels are built from.
///
/// Every function here is a pure function on `Int32` that reproduces the C++ bit for bit,
/// including its wrap-around where the C++ relies on plain `int32_t` arithmetic.
/// Sources: `google/gemmlowp:fixedpoint/fixedpoint.h`, `tflite/kernels/internal/common.{h,cc}`.
public enum FixedPoint {
    /// The high 32 bits of `2 * a * b`, rounded half up, saturating the one overflowing case.
    ///
    ///     result = floor((a * b + 2^30) / 2^31)   (a*b >= 0; the nudge is 1 - 2^30 when a*b < 0,
    ///                                               and the division truncates toward zero)
    ///     a == b == Int32.min  ->  Int32.max
    ///
    /// Matches gemmlowp's `SaturatingRoundingDoublingHighMul` (ARM `VQRDMULH`).
    @inlinable
    public static func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
        if a == b && a == .min { return .max }
        let ab = Int64(a) * Int64(b)
        let nudge: Int64 = ab >= 0 ? (1 << 30) : (1 - (1 << 30))
        return Int32(truncatingIfNeeded: (ab + nudge) / (1 << 31))
    }

    /// Arithmetic right shift by `exponent` with rounding half away from zero.
    ///
    ///     result = round_half_away(x / 2^exponent),  0 <= exponent <= 31
    ///
    /// Matches gemmlowp's `RoundingDivideByPOT`.
    @inlinable
    public static func roundingDivideByPOT(_ x: Int32, exponent: Int) -> Int32 {
        precondition(exponent >= 0 && exponent <= 31, "roundingDivideByPOT: exponent \(exponent) outside 0...31")
        let mask = Int32(truncatingIfNeeded: (Int64(1) << exponent) - 1)
        let remainder = x & mask
        let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
        return (x >> Int32(exponent)) + (remainder > threshold ? 1 : 0)
    }

    /// Multiplies by `2^exponent` with saturation (left) or rounding half away (right).
    ///
    ///     exponent > 0: clamp(x * 2^exponent, Int32.min, Int32.max)
    ///     exponent < 0: roundingDivideByPOT(x, -exponent)
    ///
    /// Matches gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>` on raw `int32`.
    @inlinable
    public static func saturatingRoundingMultiplyByPOT(_ x: Int32, exponent: Int) -> Int32 {
        if exponent == 0 { return x }
        if exponent < 0 { return roundingDivideByPOT(x, exponent: -exponent) }
        let threshold = Int32((Int64(1) << (31 - exponent)) - 1)
        if x > threshold { return .max }
        if x < -threshold { return .min }
        return x << Int32(exponent)
    }

    /// `(a + b) / 2` rounded half away from zero, computed in 64 bits.
    ///
    /// Matches gemmlowp's `RoundingHalfSum` for `int32`.
    @inlinable
    public static func roundingHalfSum(_ a: Int32, _ b: Int32) -> Int32 {
        let sum = Int64(a) + Int64(b)
        let sign: Int64 = sum >= 0 ? 1 : -1
        return Int32(truncatingIfNeeded: (sum + sign) / 2)
    }

    /// Multiplies `x` by the real number `multiplier * 2^(shift - 31)` (gemmlowp double rounding).
    ///
    ///     left  = max(shift, 0), right = max(-shift, 0)
    ///     result = roundingDivideByPOT(SRDHM(x * 2^left, multiplier), right)
    ///
    /// `x * 2^left` wraps as the C++ `int32_t` multiply does. This is the default TFLite build
    /// (`TFLITE_SINGLE_ROUNDING` undefined): SRDHM rounds half up, the shift rounds half away.
    /// Matches TFLite's `MultiplyByQuantizedMultiplier(int32_t, int32_t, int)` bit for bit.
    @inlinable
    public static func multiplyByQuantizedMultiplier(_ x: Int32, multiplier: Int32, shift: Int) -> Int32 {
        let left = shift > 0 ? shift : 0
        let right = shift > 0 ? 0 : -shift
        return roundingDivideByPOT(
            saturatingRoundingDoublingHighMul(x &* (Int32(1) << Int32(left)), multiplier), exponent: right)
    }

    /// Multiplies `x` by `multiplier * 2^(leftShift - 31)` for real multipliers of at least one.
    ///
    ///     result = SRDHM(x * 2^leftShift, multiplier)
    ///
    /// Matches TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne`.
    @inlinable
    public static func multiplyByQuantizedMultiplierGreaterThanOne(
        _ x: Int32, multiplier: Int32, leftShift: Int
    ) -> Int32 {
        saturatingRoundingDoublingHighMul(x &* (Int32(1) << Int32(leftShift)), multiplier)
    }

    /// The single-rounding variant: one half-up rounding of the exact 64-bit product.
    ///
    ///     result = (x * multiplier + 2^(30 - shift)) >> (31 - shift),  -31 <= shift <= 30
    ///
    /// Matches TFLite built with `TFLITE_SINGLE_ROUNDING=1` and ruy's reference `ApplyMultiplier`.
    @inlinable
    public static func multiplyByQuantizedMultiplierSingleRounding(
        _ x: Int32, multiplier: Int32, shift: Int
    ) -> Int32 {
        let total = Int64(31 - shift)
        let product = Int64(x) * Int64(multiplier) + (Int64(1) << (total - 1))
        return Int32(truncatingIfNeeded: product >> total)
    }

    /// The ruy x86 (AVX2/AVX-512) variant: half-up on the high multiply, half-up on the shift.
    ///
    ///     t = ((x << left) * multiplier + 2^30) >> 31;  if right > 0: t = (t + 2^(right-1)) >> right
    ///
    /// Matches ruy's `kernel_avx2_fma.cc` / `kernel_avx512.cc` requantization.
    @inlinable
    public static func multiplyByQuantizedMultiplierRuyX86(_ x: Int32, multiplier: Int32, shift: Int) -> Int32 {
        let left = max(shift, 0)
        let right = max(-shift, 0)
        let shifted = x &<< Int32(left)
        var t = Int32(truncatingIfNeeded: (Int64(shifted) * Int64(multiplier) + (1 << 30)) >> 31)
        if right > 0 {
            t = Int32(truncatingIfNeeded: (Int64(t) + (Int64(1) << (right - 1))) >> right)
        }
        return t
    }
}
