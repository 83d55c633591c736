/// Precomputed constants of a dynamic-range (hybrid) FULLY_CONNECTED: float input and output,
/// int8 symmetric weights.
public struct HybridFullyConnectedParameters: Sendable, Hashable {
    /// One scale per output row (per-channel, FC v12) or a single one (per-tensor).
    public var weightScales: [Float]
    /// `asymmetric_quantize_inputs` from the op options (the converter sets it).
    public var asymmetricInputs: Bool
    /// The fused activation, applied in float.
    public var activation: FusedActivation
    /// `Σ_k w[n,k]` per output row, used to remove the input zero point.
    public var rowSums: [Int32]
    /// How the SIMD lanes round when quantizing the input.
    public var laneRounding: HybridInputQuantization.LaneRounding

    /// Precomputes the row sums of `weights` (`[outputDepth, accumDepth]`).
    public init(weights: UnsafeBufferPointer<Int8>, geometry: FullyConnectedGeometry, weightScales: [Float],
                asymmetricInputs: Bool, activation: FusedActivation,
                laneRounding: HybridInputQuantization.LaneRounding = .addHalfAndTruncate) {
        precondition(weightScales.count == 1 || weightScales.count == geometry.outputDepth,
                     "HybridFullyConnectedParameters: \(weightScales.count) scales for \(geometry.outputDepth) rows")
        precondition(weights.count == geometry.outputDepth * geometry.accumDepth,
                     "HybridFullyConnectedParameters: weights have \(weights.count) elements")
        self.weightScales = weightScales
        self.asymmetricInputs = asymmetricInputs
        self.activation = activation
        self.laneRounding = laneRounding
        rowSums = (0..<geometry.outputDepth).map { n in
            var sum: Int32 = 0
            for k in 0..<geometry.accumDepth { sum &+= Int32(weights[n * geometry.accumDepth + k]) }
            return sum
        }
    }
}

/// Precomputed constants of a dynamic-range (hybrid) CONV_2D.
public struct HybridConvParameters: Sendable, Hashable {
    /// One scale per output channel (per-channel, CONV v5: asymmetric input) or one (symmetric input).
    public var weightScales: [Float]
    public var activation: FusedActivation
    public var laneRounding: HybridInputQuantization.LaneRounding

    public init(weightScales: [Float], activation: FusedActivation,
                laneRounding: HybridInputQuantization.LaneRounding = .addHalfAndTruncate) {
        precondition(!weightScales.isEmpty, "HybridConvParameters: no weight scale")
        self.weightScales = weightScales
        self.activation = activation
        self.laneRounding = laneRounding
    }

    /// Per-channel weights: `EvalHybridPerChannel` (asymmetric input); otherwise `EvalHybrid`.
    public var isPerChannel: Bool { weightScales.count > 1 }
}

extension ReferenceKernels {
    /// Hybrid FULLY_CONNECTED: each input row is quantized to int8 at run time.
    ///
    ///     out[b,n] = bias[n]                       (0 without bias)
    ///     if the whole input is zero: out = act(out) and stop
    ///     (q, sf, zp) = quantize(row b)            symmetric, or asymmetric if `asymmetricInputs`
    ///     per-tensor: sf = sf * w_scale
    ///     dot = Σ_k w[n,k] * q[k] - zp * rowSum[n]
    ///     out[b,n] += float(dot) * (per-channel ? w_scale[n] * sf : sf)
    ///     out = act(out)   (RELU: max(0, x); RELU6: max(0, min(x, 6)); RELU_N1_TO_1: max(-1, min(x, 1)))
    ///
    /// `scratch` holds one quantized row (`accumDepth` values). Matches `fully_connected.cc
    /// EvalHybridDense` with the x86 `tensor_utils` (`BUILTIN_REF` and `BUILTIN` alike).
    public static func hybridFullyConnected(
        input: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Float>?,
        output: UnsafeMutableBufferPointer<Float>, geometry g: FullyConnectedGeometry,
        parameters p: HybridFullyConnectedParameters, scratch: UnsafeMutableBufferPointer<Int8>
    ) {
        checkFullyConnected(g, input: input.count, weights: weights.count, bias: bias?.count, output: output.count)
        precondition(scratch.count >= g.accumDepth, "hybridFullyConnected: scratch needs \(g.accumDepth) values")
        precondition(p.rowSums.count == g.outputDepth, "hybridFullyConnected: parameters are for \(p.rowSums.count) rows")
        for b in 0..<g.batches {
            for n in 0..<g.outputDepth { output[b * g.outputDepth + n] = bias.map { $0[n] } ?? 0 }
        }
        if !input.contains(where: { $0 != 0 }) {
            applyHybridActivation(output, p.activation)
            return
        }
        let perChannel = p.weightScales.count > 1
        for b in 0..<g.batches {
            let row = UnsafeBufferPointer(rebasing: input[(b * g.accumDepth)..<((b + 1) * g.accumDepth)])
            var scalingFactor: Float
            var zeroPoint: Int32 = 0
            if p.asymmetricInputs {
                (scalingFactor, zeroPoint) = HybridInputQuantization.asymmetric(row, into: scratch, laneRounding: p.laneRounding)
            } else {
                scalingFactor = HybridInputQuantization.symmetric(row, into: scratch, laneRounding: p.laneRounding)
            }
            if !perChannel { scalingFactor *= p.weightScales[0] }
            for n in 0..<g.outputDepth {
                var dot: Int32 = 0
                for k in 0..<g.accumDepth {
                    dot &+= Int32(weights[n * g.accumDepth + k]) &* Int32(scratch[k])
                }
                dot &-= zeroPoint &* p.rowSums[n]
                let rowScale = perChannel ? p.weightScales[n] * scalingFactor : scalingFactor
                output[b * g.outputDepth + n] += Float(dot) * rowScale
            }
        }
        applyHybridActivation(output, p.activation)
    }

    /// `tensor_utils::ApplyActivationToVector` with C++'s `std::max`/`std::min` argument order.
    static func applyHybridActivation(_ values: UnsafeMutableBufferPointer<Float>, _ activation: FusedActivation) {
        @inline(__always) func cMax(_ a: Float, _ b: Float) -> Float { a < b ? b : a }
        @inline(__always) func cMin(_ a: Float, _ b: Float) -> Float { b < a ? b : a }
        switch activation {
        case .none: return
        case .relu: for i in values.indices { values[i] = cMax(0, values[i]) }
        case .relu6: for i in values.indices { values[i] = cMax(0, cMin(values[i], 6)) }
        case .reluN1To1: for i in values.indices { values[i] = cMax(-1, cMin(values[i], 1)) }
        }
    }

    /// Hybrid CONV_2D: the input is quantized per batch image at run time.
    ///
    /// Per-channel weights (`EvalHybridPerChannel` -> `reference_ops::HybridConvPerChannel`):
    ///
    ///     (q, sf, zp) = asymmetric(image b)
    ///     acc = Σ filter[o,ky,kx,i] * (q[...] - zp)     over existing taps
    ///     out = clamp(float(acc) * w_scale[o] * sf + bias[o])          // (acc * ws) * sf, then + bias
    ///
    /// Per-tensor weights (`EvalHybrid` -> `optimized_ops::HybridConv`, used for every kernel type):
    ///
    ///     (q, sf) = symmetric(image b);  sf = sf * w_scale
    ///     out = clamp((0 + float(acc) * sf) + bias[o])
    ///
    /// `scratch` holds one quantized image (`inputHeight * inputWidth * inputChannels` values).
    public static func hybridConv2D(
        input: UnsafeBufferPointer<Float>, filter: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Float>?,
        output: UnsafeMutableBufferPointer<Float>, geometry g: Conv2DGeometry,
        parameters p: HybridConvParameters, scratch: UnsafeMutableBufferPointer<Int8>
    ) {
        checkConv(g, input: input.count, filter: filter.count, bias: bias?.count, output: output.count)
        precondition(p.weightScales.count == 1 || p.weightScales.count == g.outputChannels,
                     "hybridConv2D: \(p.weightScales.count) scales for \(g.outputChannels) channels")
        let imageSize = g.inputHeight * g.inputWidth * g.inputChannels
        precondition(scratch.count >= imageSize, "hybridConv2D: scratch needs \(imageSize) values")
        let activation = p.activation.floatRange
        let groups = g.inputChannels / g.filterInputChannels
        let filtersPerGroup = g.outputChannels / groups
        for b in 0..<g.batches {
            let image = UnsafeBufferPointer(rebasing: input[(b * imageSize)..<((b + 1) * imageSize)])
            var scalingFactor: Float
            var zeroPoint: Int32 = 0
            if p.isPerChannel {
                (scalingFactor, zeroPoint) = HybridInputQuantization.asymmetric(image, into: scratch, laneRounding: p.laneRounding)
            } else {
                scalingFactor = HybridInputQuantization.symmetric(image, into: scratch, laneRounding: p.laneRounding)
                scalingFactor *= p.weightScales[0]
            }
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let ix0 = ox * g.strideWidth - g.padLeft
                    for oc in 0..<g.outputChannels {
                        let group = oc / filtersPerGroup
                        var acc: Int32 = 0
                        for ky in 0..<g.filterHeight {
                            let iy = iy0 + g.dilationHeight * ky
                            if iy < 0 || iy >= g.inputHeight { continue }
                            for kx in 0..<g.filterWidth {
                                let ix = ix0 + g.dilationWidth * kx
                                if ix < 0 || ix >= g.inputWidth { continue }
                                let inBase = (iy * g.inputWidth + ix) * g.inputChannels + group * g.filterInputChannels
                                let fBase = ((oc * g.filterHeight + ky) * g.filterWidth + kx) * g.filterInputChannels
                                for ic in 0..<g.filterInputChannels {
                                    acc &+= Int32(filter[fBase + ic]) &* (Int32(scratch[inBase + ic]) &- zeroPoint)
                                }
                            }
                        }
                        let biasValue: Float? = bias.map { $0[oc] }
                        var value: Float
                        if p.isPerChannel {
                            value = Float(acc) * p.weightScales[oc] * scalingFactor
                            if let biasValue { value += biasValue }
                        } else {
                            value = 0
                            value += Float(acc) * scalingFactor
                            value = value + (biasValue ?? 0)
                        }
                        output[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] =
                            activation.clamp(value)
                    }
                }
            }
        }
    }
}
