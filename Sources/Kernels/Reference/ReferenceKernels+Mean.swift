/// Precomputed constants of an int8 MEAN over H and W.
public struct QuantizedMeanParameters: Sendable, Hashable {
    public var inputZeroPoint: Int32
    public var outputZeroPoint: Int32
    /// `QuantizeMultiplier(double(inputScale) / double(outputScale))`, before folding in 1/count.
    public var multiplier: QuantizedMultiplier
    /// The number of reduced elements (H * W).
    public var count: Int
    /// `multiplier` with 1/count folded in, as the reference kernel does at run time.
    public var meanMultiplier: QuantizedMultiplier

    /// The constants for a mean over `count` elements.
    ///
    ///     (M, s) = QuantizeMultiplier(in_s / out_s)                 (double)
    ///     k = min(floor(log2(count)), 32, 31 + s)
    ///     M' = (int32)(((int64)M << k) / count);  s' = s - k
    ///
    /// Matches `reduce.cc PrepareMeanOrSum` + `reference_ops::QuantizedMeanOrSum` (compute_sum = false).
    public init(input: AffineQuantization, output: AffineQuantization, count: Int) {
        precondition(count > 0, "QuantizedMeanParameters: nothing to average")
        inputZeroPoint = input.zeroPoint
        outputZeroPoint = output.zeroPoint
        multiplier = QuantizedMultiplier(Double(input.scale) / Double(output.scale))
        self.count = count
        var shift = 63 - UInt64(count).leadingZeroBitCount
        shift = Swift.min(shift, 32)
        shift = Swift.min(shift, 31 + multiplier.shift)
        let folded = (Int64(multiplier.multiplier) << Int64(shift)) / Int64(count)
        meanMultiplier = QuantizedMultiplier(multiplier: Int32(truncatingIfNeeded: folded), shift: multiplier.shift - shift)
    }
}

extension ReferenceKernels {
    /// Float32 MEAN over axes 1 and 2 of an NHWC tensor (keep_dims or not: same values).
    ///
    ///     out[b,c] = (Σ_{h,w} in[b,h,w,c], in row-major order) / float(H * W)
    ///
    /// Matches `reference_ops::Mean` (generic reducer, float accumulation).
    public static func meanOverHeightWidth(
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        batches: Int, height: Int, width: Int, channels: Int
    ) {
        precondition(input.count == batches * height * width * channels && output.count == batches * channels,
                     "meanOverHeightWidth: buffer sizes do not match [\(batches), \(height), \(width), \(channels)]")
        let count = Float(height * width)
        for b in 0..<batches {
            for c in 0..<channels {
                var sum: Float = 0
                for i in 0..<(height * width) { sum += input[(b * height * width + i) * channels + c] }
                output[b * channels + c] = sum / count
            }
        }
    }

    /// Int8 MEAN over axes 1 and 2 of an NHWC tensor, with any input/output scales.
    ///
    ///     sum = Σ_{h,w} in[b,h,w,c]                (int32, wrapping)
    ///     out = clamp(MBQM(sum - zpIn * count, M', s') + zpOut, -128, 127)
    ///
    /// where `(M', s')` is `parameters.meanMultiplier`. No fused activation.
    /// Matches `reference_ops::QuantizedMeanOrSum` as called by `reduce.cc EvalMean` for `BUILTIN_REF`.
    public static func meanOverHeightWidth(
        input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
        batches: Int, height: Int, width: Int, channels: Int, parameters p: QuantizedMeanParameters
    ) {
        precondition(input.count == batches * height * width * channels && output.count == batches * channels,
                     "meanOverHeightWidth: buffer sizes do not match [\(batches), \(height), \(width), \(channels)]")
        precondition(p.count == height * width, "meanOverHeightWidth: parameters are for \(p.count) elements, not \(height * width)")
        let offset = p.inputZeroPoint &* Int32(truncatingIfNeeded: p.count)
        for b in 0..<batches {
            for c in 0..<channels {
                var sum: Int32 = 0
                for i in 0..<(height * width) { sum &+= Int32(input[(b * height * width + i) * channels + c]) }
                let value = p.meanMultiplier.apply(to: sum &- offset) &+ p.outputZeroPoint
                output[b * channels + c] = Int8(Swift.min(Swift.max(value, -128), 127))
            }
        }
    }
}
