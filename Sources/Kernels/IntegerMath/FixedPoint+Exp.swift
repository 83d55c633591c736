/// gemmlowp's fixed-point `exp` and reciprocal, on raw `Int32` values.
///
/// `Fn` below names a Q(n).(31-n) format: n integer bits, `One(Fn) = 1 << (31 - n)` for n > 0 and
/// `Int32.max` for n = 0. Products of two fixed-point values are `SRDHM` of their raw values;
/// sums are plain wrapping `int32` additions, as in gemmlowp. Used by the int8 SOFTMAX reference.
extension FixedPoint {
    /// `exp(a)` for `a` in [-1/4, 0), input and output in F0.
    ///
    ///     x = a + 1/8;  exp(a) = exp(-1/8) * (1 + x + x²/2 + x³/6 + x⁴/24)
    ///
    /// Matches gemmlowp's `exp_on_interval_between_negative_one_quarter_and_0_excl`.
    @inlinable
    public static func expOnIntervalBetweenNegativeOneQuarterAnd0Excl(_ a: Int32) -> Int32 {
        let constantTerm: Int32 = 1_895_147_668          // exp(-1/8) in F0
        let constantOneOver3: Int32 = 715_827_883        // 1/3 in F0
        let x = a &+ (1 << 28)                            // a + 1/8
        let x2 = saturatingRoundingDoublingHighMul(x, x)
        let x3 = saturatingRoundingDoublingHighMul(x2, x)
        let x4 = saturatingRoundingDoublingHighMul(x2, x2)
        let x4Over4 = saturatingRoundingMultiplyByPOT(x4, exponent: -2)
        let inner = saturatingRoundingDoublingHighMul(x4Over4 &+ x3, constantOneOver3) &+ x2
        let polynomial = saturatingRoundingMultiplyByPOT(inner, exponent: -1)
        return constantTerm &+ saturatingRoundingDoublingHighMul(constantTerm, x &+ polynomial)
    }

    /// `exp(a)` for `a <= 0` given in F5 (26 fractional bits); the result is in F0.
    ///
    ///     a = -k/4 + r, r in [-1/4, 0):  exp(a) = exp(r) * Π exp(-2^j) over the set bits of k/4
    ///
    /// Matches gemmlowp's `exp_on_negative_values` with `tIntegerBits = 5` (no clamp below -32,
    /// which gemmlowp applies only for more than 5 integer bits).
    @inlinable
    public static func expOnNegativeValues(f5 a: Int32) -> Int32 {
        let fractionalBits = 26
        let oneQuarter: Int32 = 1 << 24
        let aModQuarterMinusOneQuarter = (a & (oneQuarter - 1)) &- oneQuarter
        var result = expOnIntervalBetweenNegativeOneQuarterAnd0Excl(
            saturatingRoundingMultiplyByPOT(aModQuarterMinusOneQuarter, exponent: 5))
        let remainder = aModQuarterMinusOneQuarter &- a
        // Barrel shifter: multiply by exp(-2^k) for every set bit 2^k (k = -2...4) of -a rounded to 1/4.
        @inline(__always) func apply(_ exponent: Int, _ multiplier: Int32) {
            if remainder & (Int32(1) << Int32(fractionalBits + exponent)) != 0 {
                result = saturatingRoundingDoublingHighMul(result, multiplier)
            }
        }
        apply(-2, 1_672_461_947)
        apply(-1, 1_302_514_674)
        apply(0, 790_015_084)
        apply(1, 290_630_308)
        apply(2, 39_332_535)
        apply(3, 720_401)
        apply(4, 242)
        return a == 0 ? .max : result
    }

    /// `1 / (1 + a)` for `a` in [0, 1), input in F0, output in F0 (Newton-Raphson, 3 steps).
    ///
    ///     h = (a + 1) / 2;  x0 = 48/17 - 32/17 * h;  x <- x + x * (1 - h * x)   (in F2)
    ///
    /// Matches gemmlowp's `one_over_one_plus_x_for_x_in_0_1`.
    @inlinable
    public static func oneOverOnePlusXForXIn01(_ a: Int32) -> Int32 {
        let halfDenominator = roundingHalfSum(a, .max)
        let constant48Over17: Int32 = 1_515_870_810
        let constantNeg32Over17: Int32 = -1_010_580_540
        var x = constant48Over17 &+ saturatingRoundingDoublingHighMul(halfDenominator, constantNeg32Over17)
        for _ in 0..<3 {
            let halfDenominatorTimesX = saturatingRoundingDoublingHighMul(halfDenominator, x)
            let oneMinus = (Int32(1) << 29) &- halfDenominatorTimesX
            x = x &+ saturatingRoundingMultiplyByPOT(saturatingRoundingDoublingHighMul(x, oneMinus), exponent: 2)
        }
        return saturatingRoundingMultiplyByPOT(x, exponent: 1)
    }

    /// The reciprocal of a positive value `x` with `integerBits` integer bits.
    ///
    ///     x = 2^bitsOverUnit * (1 + f), f in [0, 1):  returns (1 / (1 + f) in F0, bitsOverUnit)
    ///
    /// Matches TFLite's `GetReciprocal` (`tflite/kernels/internal/common.h`).
    @inlinable
    public static func reciprocal(_ x: Int32, integerBits: Int) -> (reciprocal: Int32, bitsOverUnit: Int) {
        let headroomPlusOne = UInt32(bitPattern: x).leadingZeroBitCount
        let bitsOverUnit = integerBits - headroomPlusOne
        let shiftedMinusOne = Int32(bitPattern: (UInt32(bitPattern: x) << UInt32(headroomPlusOne)) &- (1 << 31))
        return (oneOverOnePlusXForXIn01(shiftedMinusOne), bitsOverUnit)
    }
}
