/// The shape of a FULLY_CONNECTED: weights `[outputDepth, accumDepth]`, input flattened to
/// `[batches, accumDepth]`, output `[batches, outputDepth]`.
public struct FullyConnectedGeometry: Sendable, Hashable {
    public var batches: Int
    public var accumDepth: Int
    public var outputDepth: Int

    public init(batches: Int, accumDepth: Int, outputDepth: Int) {
        precondition(batches >= 0 && accumDepth >= 0 && outputDepth >= 0, "FullyConnectedGeometry: negative dimension")
        self.batches = batches
        self.accumDepth = accumDepth
        self.outputDepth = outputDepth
    }

    /// The geometry for an input of `inputCount` elements (any rank) and weights `[outputDepth, accumDepth]`.
    public init(inputCount: Int, accumDepth: Int, outputDepth: Int) {
        precondition(accumDepth > 0 && inputCount % accumDepth == 0,
                     "FullyConnectedGeometry: \(inputCount) input elements are not rows of \(accumDepth)")
        self.init(batches: inputCount / accumDepth, accumDepth: accumDepth, outputDepth: outputDepth)
    }
}

extension ReferenceKernels {
    /// Float32 FULLY_CONNECTED.
    ///
    ///     out[b,n] = clamp(Σ_k in[b,k] * w[n,k] + bias[n])    (k ascending, bias added last)
    ///
    /// Matches `reference_ops::FullyConnected` (float).
    public static func fullyConnected(
        input: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
        output: UnsafeMutableBufferPointer<Float>, geometry g: FullyConnectedGeometry, activation: ActivationRange<Float>
    ) {
        checkFullyConnected(g, input: input.count, weights: weights.count, bias: bias?.count, output: output.count)
        for b in 0..<g.batches {
            for n in 0..<g.outputDepth {
                var total: Float = 0
                for k in 0..<g.accumDepth {
                    total += input[b * g.accumDepth + k] * weights[n * g.accumDepth + k]
                }
                let biasValue: Float = bias.map { $0[n] } ?? 0
                output[b * g.outputDepth + n] = activation.clamp(total + biasValue)
            }
        }
    }

    /// Int8 FULLY_CONNECTED, per-channel or per-tensor weights, optional int32 bias.
    ///
    ///     acc = Σ_k (w[n,k] - weightZeroPoint) * (in[b,k] - inputZeroPoint)  (+ bias[n])
    ///     out = clamp(requantize(acc, n) + outputZeroPoint, activationMin, activationMax)
    ///
    /// With `QuantizedConvParameters.fullyConnected(...)` and its default `.refFloatFC`, this matches
    /// `reference_integer_ops::FullyConnected{,PerChannel}` with float scales (`BUILTIN_REF`):
    /// `round_half_away(double(acc) * double(in) * double(w[n]) / double(out))`.
    public static func fullyConnected(
        input: UnsafeBufferPointer<Int8>, weights: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?,
        output: UnsafeMutableBufferPointer<Int8>, geometry g: FullyConnectedGeometry, parameters p: QuantizedConvParameters
    ) {
        checkFullyConnected(g, input: input.count, weights: weights.count, bias: bias?.count, output: output.count)
        precondition(p.requantizers.count == 1 || p.requantizers.count == g.outputDepth,
                     "fullyConnected: \(p.requantizers.count) requantizers for \(g.outputDepth) outputs")
        let inputOffset = -p.inputZeroPoint
        let weightOffset = -p.weightZeroPoint
        for b in 0..<g.batches {
            for n in 0..<g.outputDepth {
                var acc: Int32 = 0
                // Wrapping index arithmetic: the geometry was checked against the buffer sizes, and
                // checked `+` here would keep the loop from vectorizing.
                let wRow = n &* g.accumDepth, xRow = b &* g.accumDepth
                for k in 0..<g.accumDepth {
                    let w = Int32(weights[wRow &+ k]) &+ weightOffset
                    acc &+= w &* (Int32(input[xRow &+ k]) &+ inputOffset)
                }
                if let bias { acc &+= bias[n] }
                output[b * g.outputDepth + n] = p.output(acc, channel: n)
            }
        }
    }

    @usableFromInline
    static func checkFullyConnected(_ g: FullyConnectedGeometry, input: Int, weights: Int, bias: Int?, output: Int) {
        precondition(input == g.batches * g.accumDepth, "fullyConnected: input has \(input) elements, geometry needs \(g.batches * g.accumDepth)")
        precondition(weights == g.outputDepth * g.accumDepth,
                     "fullyConnected: weights have \(weights) elements, geometry needs \(g.outputDepth * g.accumDepth)")
        precondition(output == g.batches * g.outputDepth, "fullyConnected: output has \(output) elements, geometry needs \(g.batches * g.outputDepth)")
        precondition(bias == nil || bias == g.outputDepth, "fullyConnected: bias has \(bias ?? 0) elements for \(g.outputDepth) outputs")
    }
}
