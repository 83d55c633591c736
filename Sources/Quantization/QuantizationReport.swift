import Runtime
import TensorCore

/// What a ``Quantizer`` did: which tensors were quantized how, the calibration ranges, and the
/// constant sizes before and after.
public struct QuantizationReport: Sendable, Equatable, CustomStringConvertible {
    /// How one tensor of the quantized graph is stored.
    public enum Treatment: Sendable, Equatable {
        /// int8 symmetric weights, one scale per channel along `axis` (`channels` scales).
        case int8PerChannel(axis: Int, channels: Int)
        /// int8 symmetric weights with one scale.
        case int8PerTensor
        /// int32 bias, scale = input scale × weight scale.
        case int32Bias
        /// int8 asymmetric activation (per tensor) with its scale and zero point.
        case int8Activation(scale: Float, zeroPoint: Int64)
        /// float16 constant behind a DEQUANTIZE.
        case float16
        /// Left as float32 (a small weight in dynamic-range mode, a float-fallback operand, ...).
        case float32
    }

    /// One tensor of the quantized graph and what happened to it.
    public struct Entry: Sendable, Equatable {
        /// Index in the quantized graph's tensors.
        public var tensor: Int
        public var name: String
        public var treatment: Treatment
    }

    /// A calibrated activation range (global min and max over every representative sample).
    public struct Range: Sendable, Equatable {
        /// Index in the float graph's tensors.
        public var tensor: Int
        public var name: String
        public var min: Float
        public var max: Float
    }

    public var mode: Quantizer.Mode
    /// Constants and activations whose storage changed or was chosen, in tensor order.
    public var entries: [Entry]
    /// Calibration ranges of every float activation (full-integer mode only).
    public var calibrationRanges: [Range]
    /// Samples the calibration ran (full-integer mode only).
    public var calibrationSamples: Int
    /// Operators left in float32 because ``Quantizer/Options/allowsFloatFallback`` was set.
    public var floatFallbackOperators: [Int]
    /// Bytes of constant data in the float graph.
    public var constantBytesBefore: Int
    /// Bytes of constant data in the quantized graph.
    public var constantBytesAfter: Int
    /// Warnings about the conversion (e.g. a QAT range that collapsed), one line each.
    public var notes: [String] = []

    public var description: String {
        var lines = ["\(mode): constants \(constantBytesBefore) B -> \(constantBytesAfter) B"
                     + (calibrationSamples > 0 ? ", calibrated on \(calibrationSamples) samples" : "")]
        for e in entries {
            let how: String
            switch e.treatment {
            case .int8PerChannel(let axis, let channels): how = "int8 symmetric, \(channels) scales along axis \(axis)"
            case .int8PerTensor: how = "int8 symmetric, per tensor"
            case .int32Bias: how = "int32 bias"
            case .int8Activation(let s, let z): how = "int8 activation (scale \(s), zero point \(z))"
            case .float16: how = "float16"
            case .float32: how = "float32"
            }
            lines.append("  tensor \(e.tensor) '\(e.name)': \(how)")
        }
        for r in calibrationRanges { lines.append("  range '\(r.name)': [\(r.min), \(r.max)]") }
        if !floatFallbackOperators.isEmpty { lines.append("  float fallback operators: \(floatFallbackOperators)") }
        for note in notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }
}

extension Graph {
    /// Bytes of constant data over all tensors.
    var constantByteCount: Int { tensors.reduce(0) { $0 + ($1.data?.byteCount ?? 0) } }
}
