import Glibc

/// Precomputed constants of the int8 fixed-point SOFTMAX (output scale 1/256, zero point -128).
public struct QuantizedSoftmaxParameters: Sendable, Hashable {
    /// `beta * inputScale * 2^26` as `(multiplier, leftShift)`, `leftShift >= 0`.
    public var inputMultiplier: Int32
    public var inputLeftShift: Int
    /// Differences below this (after subtracting the row max) contribute nothing and output -128.
    public var diffMin: Int32

    /// The constants TFLite's SOFTMAX prepare computes.
    ///
    ///     real = min(double(beta) * double(inputScale) * 2^26, 2^31 - 1)
    ///     (M, leftShift) = QuantizeMultiplier(real)
    ///     diffMin = -floor(31 * 2^26 / 2^leftShift)          // CalculateInputRadius(5, leftShift)
    ///
    /// Example: scale 0.1 gives (1717986944, 23) and diffMin -248.
    /// Matches `PreprocessSoftmaxScaling` + `CalculateInputRadius` (`activations.cc SoftmaxPrepare`).
    public init(inputScale: Float, beta: Float = 1) {
        let scaledDiffIntegerBits = 5
        let real = Swift.min(Double(beta) * Double(inputScale) * Double(1 << (31 - scaledDiffIntegerBits)),
                             Double((Int64(1) << 31) - 1))
        let q = QuantizedMultiplier(real)
        precondition(q.shift >= 0, "QuantizedSoftmaxParameters: input scale \(inputScale) too small (left shift \(q.shift))")
        inputMultiplier = q.multiplier
        inputLeftShift = q.shift
        let radius = Double((1 << scaledDiffIntegerBits) - 1) * Double(Int64(1) << (31 - scaledDiffIntegerBits))
            / Double(Int64(1) << Int64(q.shift))
        diffMin = -Int32(floor(radius))
    }
}

extension ReferenceKernels {
    /// Int8 -> int8 SOFTMAX along the last axis, gemmlowp fixed point, output (1/256, -128).
    ///
    ///     d = x - max(row);  e = exp_on_negative_values_F5(SRDHM(d << leftShift, M))   (d >= diffMin)
    ///     sum = Σ RoundingDivideByPOT(e, 12)                                          (F12, wrapping)
    ///     (r, bits) = GetReciprocal(sum, 12)
    ///     out = clamp(RoundingDivideByPOT(SRDHM(r, e), bits + 31 - 8) - 128, -128, 127);  -128 if d < diffMin
    ///
    /// Example (scale 0.1): row [10, 0, -10, -128] -> [42, -65, -105, -128].
    /// Matches `reference_ops::Softmax` (int8, `reference/softmax.h`), what `BUILTIN_REF` runs.
    public static func softmax(
        input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
        depth: Int, parameters p: QuantizedSoftmaxParameters
    ) {
        precondition(depth > 0 && input.count % depth == 0 && output.count == input.count,
                     "softmax: \(input.count) inputs, \(output.count) outputs, depth \(depth)")
        let accumulationIntegerBits = 12
        for row in 0..<(input.count / depth) {
            let base = row * depth
            var maxInRow = Int32(Int8.min)
            for c in 0..<depth { maxInRow = Swift.max(maxInRow, Int32(input[base + c])) }
            var sumOfExps: Int32 = 0
            for c in 0..<depth {
                let diff = Int32(input[base + c]) - maxInRow
                if diff >= p.diffMin {
                    let scaled = FixedPoint.multiplyByQuantizedMultiplierGreaterThanOne(
                        diff, multiplier: p.inputMultiplier, leftShift: p.inputLeftShift)
                    let e = FixedPoint.expOnNegativeValues(f5: scaled)
                    sumOfExps = sumOfExps &+ FixedPoint.roundingDivideByPOT(e, exponent: accumulationIntegerBits)
                }
            }
            let (reciprocal, bitsOverUnit) = FixedPoint.reciprocal(sumOfExps, integerBits: accumulationIntegerBits)
            let exponent = bitsOverUnit + 31 - 8
            for c in 0..<depth {
                let diff = Int32(input[base + c]) - maxInRow
                if diff >= p.diffMin {
                    let scaled = FixedPoint.multiplyByQuantizedMultiplierGreaterThanOne(
                        diff, multiplier: p.inputMultiplier, leftShift: p.inputLeftShift)
                    let e = FixedPoint.expOnNegativeValues(f5: scaled)
                    let unsaturated = FixedPoint.roundingDivideByPOT(
                        FixedPoint.saturatingRoundingDoublingHighMul(reciprocal, e), exponent: exponent)
                    output[base + c] = Int8(Swift.min(Swift.max(unsaturated &- 128, -128), 127))
                } else {
                    output[base + c] = -128
                }
            }
        }
    }

    /// Float32 SOFTMAX along the last axis.
    ///
    ///     m = max(row);  e_c = expf((x_c - m) * beta);  sum = Σ e_c (in order);  out_c = e_c / sum
    ///
    /// Matches `reference_ops::Softmax` (float).
    public static func softmax(
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, depth: Int, beta: Float = 1
    ) {
        precondition(depth > 0 && input.count % depth == 0 && output.count == input.count,
                     "softmax: \(input.count) inputs, \(output.count) outputs, depth \(depth)")
        for row in 0..<(input.count / depth) {
            let base = row * depth
            var maxInRow = -Float.greatestFiniteMagnitude
            for c in 0..<depth where maxInRow < input[base + c] { maxInRow = input[base + c] }
            var sum: Float = 0
            for c in 0..<depth {
                let e = expf((input[base + c] - maxInRow) * beta)
                output[base + c] = e
                sum += e
            }
            for c in 0..<depth { output[base + c] = output[base + c] / sum }
        }
    }
}
