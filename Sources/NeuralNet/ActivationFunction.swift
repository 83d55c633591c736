import TensorCore

/// An activation function, as a layer's `activation:` or as an `Activation` layer.
public enum ActivationFunction: String, Codable, Sendable, CaseIterable {
    case linear
    case relu
    case relu6
    case softmax

    /// Applies the activation in place to a batch laid out as rows of `width` values
    /// (softmax normalizes each row).
    @inlinable
    public func apply(_ values: UnsafeMutableBufferPointer<Float>, width: Int) {
        switch self {
        case .linear:
            break
        case .relu, .relu6:
            let (lower, upper) = clampRange!
            Vectorized.addBiasAndClamp(values.baseAddress!, rows: 1, width: values.count, bias: nil, lower: lower, upper: upper)
        case .softmax:
            ActivationFunction.softmaxRows(values, width: width)
        }
    }

    /// The clamp that this activation is, or `nil` for softmax. Linear is `(-inf, inf)`.
    @inlinable
    public var clampRange: (lower: Float, upper: Float)? {
        switch self {
        case .linear: (-.infinity, .infinity)
        case .relu: (0, .infinity)
        case .relu6: (0, 6)
        case .softmax: nil
        }
    }

    /// Adds `bias` (if any) to each row of `width` values, then applies the activation:
    /// the epilogue of a convolution or dense layer, in one pass where possible.
    @inlinable
    public func applyWithBias(_ values: UnsafeMutableBufferPointer<Float>, width: Int, bias: [Float]?) {
        let rows = values.count / width
        if let (lower, upper) = clampRange {
            if bias == nil && self == .linear { return }
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    Vectorized.addBiasAndClamp(values.baseAddress!, rows: rows, width: width, bias: b.baseAddress!, lower: lower, upper: upper)
                }
            } else {
                Vectorized.addBiasAndClamp(values.baseAddress!, rows: rows, width: width, bias: nil, lower: lower, upper: upper)
            }
        } else {
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    Vectorized.addBiasAndClamp(values.baseAddress!, rows: rows, width: width, bias: b.baseAddress!,
                                               lower: -.infinity, upper: .infinity)
                }
            }
            apply(values, width: width)
        }
    }

    /// Turns dLoss/dOutput into dLoss/dInput in place, given the activation's `output`.
    @inlinable
    public func backward(_ gradient: UnsafeMutableBufferPointer<Float>, output: UnsafeBufferPointer<Float>, width: Int) {
        switch self {
        case .linear:
            break
        case .relu, .relu6:
            let (lower, upper) = clampRange!
            Vectorized.maskOutside(gradient.baseAddress!, output: output.baseAddress!, count: gradient.count, lower: lower, upper: upper)
        case .softmax:
            // dz_i = y_i * (g_i - sum_j g_j y_j), per row.
            let rows = gradient.count / width
            for r in 0..<rows {
                let base = r * width
                var dot: Float = 0
                for j in 0..<width { dot += gradient[base + j] * output[base + j] }
                for j in 0..<width { gradient[base + j] = output[base + j] * (gradient[base + j] - dot) }
            }
        }
    }

    /// Numerically stable softmax of each row of `width` values, in place.
    @inlinable
    public static func softmaxRows(_ values: UnsafeMutableBufferPointer<Float>, width: Int) {
        let rows = values.count / width
        for r in 0..<rows {
            let base = r * width
            var maxValue = -Float.infinity
            for j in 0..<width { maxValue = Swift.max(maxValue, values[base + j]) }
            var sum: Float = 0
            for j in 0..<width {
                let e = expf(values[base + j] - maxValue)
                values[base + j] = e
                sum += e
            }
            let inverse = 1 / sum
            for j in 0..<width { values[base + j] *= inverse }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
