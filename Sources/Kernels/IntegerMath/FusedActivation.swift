/// A fused activation function of a TFLite op (`ActivationFunctionType` in the schema).
public enum FusedActivation: String, Sendable, Hashable, CaseIterable {
    case none, relu, reluN1To1, relu6

    /// The float clamp range.
    ///
    ///     NONE: (-inf, +inf)  RELU: [0, +inf)  RELU_N1_TO_1: [-1, 1]  RELU6: [0, 6]
    ///
    /// Matches TFLite's `CalculateActivationRange<float>`.
    public var floatRange: ActivationRange<Float> {
        switch self {
        case .none: ActivationRange(min: -.greatestFiniteMagnitude, max: .greatestFiniteMagnitude)
        case .relu: ActivationRange(min: 0, max: .greatestFiniteMagnitude)
        case .reluN1To1: ActivationRange(min: -1, max: 1)
        case .relu6: ActivationRange(min: 0, max: 6)
        }
    }

    /// The int8 clamp range for an output quantized with `output`.
    ///
    ///     Quantize(f) = zp + (int32)round_half_away(f / scale)      // float division
    ///     NONE:         [-128, 127]
    ///     RELU:         [max(-128, Quantize(0)), 127]
    ///     RELU6:        [max(-128, Quantize(0)), min(127, Quantize(6))]
    ///     RELU_N1_TO_1: [max(-128, Quantize(-1)), min(127, Quantize(1))]
    ///
    /// Matches TFLite's `CalculateActivationRangeQuantized` for int8.
    public func int8Range(output: AffineQuantization) -> ActivationRange<Int32> {
        func quantize(_ f: Float) -> Int32 { output.zeroPoint &+ Quantization.roundedToInt32(f / output.scale) }
        switch self {
        case .none: return ActivationRange(min: -128, max: 127)
        case .relu: return ActivationRange(min: Swift.max(-128, quantize(0)), max: 127)
        case .relu6: return ActivationRange(min: Swift.max(-128, quantize(0)), max: Swift.min(127, quantize(6)))
        case .reluN1To1: return ActivationRange(min: Swift.max(-128, quantize(-1)), max: Swift.min(127, quantize(1)))
        }
    }
}

/// A closed clamp range `[min, max]` applied after an op.
public struct ActivationRange<Value: Comparable & Sendable & Hashable>: Sendable, Hashable {
    public var min: Value
    public var max: Value

    @inlinable
    public init(min: Value, max: Value) {
        self.min = min
        self.max = max
    }

    /// `x` clamped as `ActivationFunctionWithMinMax` does: `std::min(std::max(x, min), max)`.
    ///
    /// Written with C++'s comparison order, so `-0.0` and NaN come out as in TFLite.
    @inlinable
    public func clamp(_ x: Value) -> Value {
        let lowered = x < min ? min : x
        return max < lowered ? max : lowered
    }
}
