/// Precomputed constants of an int8 -> int8 QUANTIZE (requantization).
public struct RequantizeParameters: Sendable, Hashable {
    public var inputZeroPoint: Int32
    public var outputZeroPoint: Int32
    /// `QuantizeMultiplier(double(inputScale) / double(outputScale))`.
    public var multiplier: QuantizedMultiplier

    /// Matches `quantize.cc Prepare` for int8 -> int8.
    public init(input: AffineQuantization, output: AffineQuantization) {
        inputZeroPoint = input.zeroPoint
        outputZeroPoint = output.zeroPoint
        multiplier = QuantizedMultiplier(Double(input.scale) / Double(output.scale))
    }
}

extension ReferenceKernels {
    /// QUANTIZE float32 -> int8.
    ///
    ///     q = clamp(zp + (int32)round_half_away(x / scale), -128, 127)   // float division
    ///
    /// Matches `reference_ops::AffineQuantize` (`BUILTIN_REF`; the optimized path differs on ties).
    public static func quantize(
        _ input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Int8>, parameters: AffineQuantization
    ) {
        precondition(input.count == output.count, "quantize: \(input.count) values into \(output.count)")
        for i in input.indices { output[i] = parameters.quantize(input[i]) }
    }

    /// QUANTIZE int8 -> int8 (rescale between two quantizations).
    ///
    ///     q = clamp(MBQM(x - zpIn, M, shift) + zpOut, -128, 127)
    ///
    /// Matches `reference_ops::Requantize`.
    public static func quantize(
        _ input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>, parameters p: RequantizeParameters
    ) {
        precondition(input.count == output.count, "quantize: \(input.count) values into \(output.count)")
        for i in input.indices {
            let value = p.multiplier.apply(to: Int32(input[i]) &- p.inputZeroPoint) &+ p.outputZeroPoint
            output[i] = Int8(Swift.min(Swift.max(value, -128), 127))
        }
    }

    /// DEQUANTIZE int8 -> float32: `f = (float)((double)scale * (q - zp))`.
    ///
    /// Matches `reference_ops::Dequantize`.
    public static func dequantize(
        _ input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Float>, parameters: AffineQuantization
    ) {
        precondition(input.count == output.count, "dequantize: \(input.count) values into \(output.count)")
        for i in input.indices { output[i] = parameters.dequantize(input[i]) }
    }

    /// DEQUANTIZE float16 -> float32: the exact widening.
    ///
    /// Matches `reference_ops::Dequantize` for `Eigen::half`.
    public static func dequantize(_ input: UnsafeBufferPointer<Float16>, output: UnsafeMutableBufferPointer<Float>) {
        precondition(input.count == output.count, "dequantize: \(input.count) values into \(output.count)")
        for i in input.indices { output[i] = Float(input[i]) }
    }
}
