/// The reference kernels: plain loops that define QuantKit's results, bit-exact with LiteRT's
/// `BUILTIN_REF` op resolver. Every kernel is a pure function over caller-owned buffers; none
/// allocates. Shapes are described by small parameter structs (`Conv2DGeometry`, ...), and all
/// quantization constants are precomputed in parameter structs built at prepare time.
public enum ReferenceKernels {}

extension ReferenceKernels {
    /// Float32 CONV_2D, NHWC input, OHWI filter, optional bias, fused activation clamp.
    ///
    ///     out[b,y,x,o] = clamp(Σ_{ky,kx,i} in[b, y*sh - pt + ky*dh, x*sw - pl + kx*dw, g*I + i]
    ///                                      * filter[o,ky,kx,i]  + bias[o])
    ///
    /// Taps outside the image are skipped; products are summed in (ky, kx, i) order in float32 and
    /// the bias is added last. `g = o / (outputChannels / groups)` for grouped convolution.
    /// Matches `reference_ops::Conv` (float).
    public static func conv2D(
        input: UnsafeBufferPointer<Float>, filter: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
        output: UnsafeMutableBufferPointer<Float>, geometry g: Conv2DGeometry, activation: ActivationRange<Float>
    ) {
        checkConv(g, input: input.count, filter: filter.count, bias: bias?.count, output: output.count)
        let groups = g.inputChannels / g.filterInputChannels
        let filtersPerGroup = g.outputChannels / groups
        for b in 0..<g.batches {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let ix0 = ox * g.strideWidth - g.padLeft
                    for oc in 0..<g.outputChannels {
                        let group = oc / filtersPerGroup
                        var total: Float = 0
                        for ky in 0..<g.filterHeight {
                            let iy = iy0 + g.dilationHeight * ky
                            if iy < 0 || iy >= g.inputHeight { continue }
                            for kx in 0..<g.filterWidth {
                                let ix = ix0 + g.dilationWidth * kx
                                if ix < 0 || ix >= g.inputWidth { continue }
                                let inBase = ((b * g.inputHeight + iy) * g.inputWidth + ix) * g.inputChannels
                                    + group * g.filterInputChannels
                                let fBase = ((oc * g.filterHeight + ky) * g.filterWidth + kx) * g.filterInputChannels
                                for ic in 0..<g.filterInputChannels {
                                    total += input[inBase + ic] * filter[fBase + ic]
                                }
                            }
                        }
                        let biasValue: Float = bias.map { $0[oc] } ?? 0
                        output[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] =
                            activation.clamp(total + biasValue)
                    }
                }
            }
        }
    }

    /// Int8 CONV_2D with per-channel (or per-tensor) symmetric weights and int32 bias.
    ///
    ///     acc = Σ filter[o,ky,kx,i] * (in[...] - inputZeroPoint)   over existing taps only
    ///     acc += bias[o]
    ///     out = clamp(requantize(acc, o) + outputZeroPoint, activationMin, activationMax)
    ///
    /// With the default `.gemmlowpDouble` requantizers this matches
    /// `reference_integer_ops::ConvPerChannel` (what `BUILTIN_REF` runs).
    public static func conv2D(
        input: UnsafeBufferPointer<Int8>, filter: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?,
        output: UnsafeMutableBufferPointer<Int8>, geometry g: Conv2DGeometry, parameters p: QuantizedConvParameters
    ) {
        checkConv(g, input: input.count, filter: filter.count, bias: bias?.count, output: output.count)
        precondition(p.requantizers.count == 1 || p.requantizers.count == g.outputChannels,
                     "conv2D: \(p.requantizers.count) requantizers for \(g.outputChannels) channels")
        let groups = g.inputChannels / g.filterInputChannels
        let filtersPerGroup = g.outputChannels / groups
        let inputOffset = -p.inputZeroPoint
        for b in 0..<g.batches {
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
                                let inBase = ((b * g.inputHeight + iy) * g.inputWidth + ix) * g.inputChannels
                                    + group * g.filterInputChannels
                                let fBase = ((oc * g.filterHeight + ky) * g.filterWidth + kx) * g.filterInputChannels
                                for ic in 0..<g.filterInputChannels {
                                    // Wrapping index arithmetic (bounds checked by checkConv) lets this vectorize.
                                    acc &+= Int32(filter[fBase &+ ic]) &* (Int32(input[inBase &+ ic]) &+ inputOffset)
                                }
                            }
                        }
                        if let bias { acc &+= bias[oc] }
                        output[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] =
                            p.output(acc, channel: oc)
                    }
                }
            }
        }
    }

    /// Float32 DEPTHWISE_CONV_2D, filter `[1, KH, KW, I*M]`, output channel `o = i*M + m`.
    ///
    ///     out[b,y,x,o] = clamp(Σ_{ky,kx} in[b, iy, ix, o / M] * filter[0,ky,kx,o] + bias[o])
    ///
    /// Matches `reference_ops::DepthwiseConv` (float): taps summed in (ky, kx) order, bias last.
    public static func depthwiseConv2D(
        input: UnsafeBufferPointer<Float>, filter: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
        output: UnsafeMutableBufferPointer<Float>, geometry g: Conv2DGeometry, activation: ActivationRange<Float>
    ) {
        checkDepthwise(g, input: input.count, filter: filter.count, bias: bias?.count, output: output.count)
        let m = g.depthMultiplier
        for b in 0..<g.batches {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let ix0 = ox * g.strideWidth - g.padLeft
                    for ic in 0..<g.inputChannels {
                        for mi in 0..<m {
                            let oc = ic * m + mi
                            var total: Float = 0
                            for ky in 0..<g.filterHeight {
                                let iy = iy0 + g.dilationHeight * ky
                                if iy < 0 || iy >= g.inputHeight { continue }
                                for kx in 0..<g.filterWidth {
                                    let ix = ix0 + g.dilationWidth * kx
                                    if ix < 0 || ix >= g.inputWidth { continue }
                                    total += input[((b * g.inputHeight + iy) * g.inputWidth + ix) * g.inputChannels + ic]
                                        * filter[(ky * g.filterWidth + kx) * g.outputChannels + oc]
                                }
                            }
                            let biasValue: Float = bias.map { $0[oc] } ?? 0
                            output[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] =
                                activation.clamp(total + biasValue)
                        }
                    }
                }
            }
        }
    }

    /// Int8 DEPTHWISE_CONV_2D with per-channel (axis 3) or per-tensor weights and int32 bias.
    ///
    ///     acc = Σ_{ky,kx} filter[0,ky,kx,o] * (in[b,iy,ix,o/M] - inputZeroPoint) + bias[o]
    ///     out = clamp(requantize(acc, o) + outputZeroPoint, activationMin, activationMax)
    ///
    /// Matches `reference_integer_ops::DepthwiseConvPerChannel` with `.gemmlowpDouble`.
    public static func depthwiseConv2D(
        input: UnsafeBufferPointer<Int8>, filter: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?,
        output: UnsafeMutableBufferPointer<Int8>, geometry g: Conv2DGeometry, parameters p: QuantizedConvParameters
    ) {
        checkDepthwise(g, input: input.count, filter: filter.count, bias: bias?.count, output: output.count)
        precondition(p.requantizers.count == 1 || p.requantizers.count == g.outputChannels,
                     "depthwiseConv2D: \(p.requantizers.count) requantizers for \(g.outputChannels) channels")
        let m = g.depthMultiplier
        let inputOffset = -p.inputZeroPoint
        for b in 0..<g.batches {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let ix0 = ox * g.strideWidth - g.padLeft
                    for ic in 0..<g.inputChannels {
                        for mi in 0..<m {
                            let oc = ic * m + mi
                            var acc: Int32 = 0
                            for ky in 0..<g.filterHeight {
                                let iy = iy0 + g.dilationHeight * ky
                                if iy < 0 || iy >= g.inputHeight { continue }
                                for kx in 0..<g.filterWidth {
                                    let ix = ix0 + g.dilationWidth * kx
                                    if ix < 0 || ix >= g.inputWidth { continue }
                                    let x = Int32(input[((b * g.inputHeight + iy) * g.inputWidth + ix) * g.inputChannels + ic])
                                    acc &+= Int32(filter[(ky * g.filterWidth + kx) * g.outputChannels + oc]) &* (x &+ inputOffset)
                                }
                            }
                            if let bias { acc &+= bias[oc] }
                            output[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] =
                                p.output(acc, channel: oc)
                        }
                    }
                }
            }
        }
    }

    @usableFromInline
    static func checkConv(_ g: Conv2DGeometry, input: Int, filter: Int, bias: Int?, output: Int) {
        precondition(g.filterInputChannels > 0 && g.inputChannels % g.filterInputChannels == 0,
                     "conv2D: input channels \(g.inputChannels) not a multiple of filter channels \(g.filterInputChannels)")
        let groups = g.inputChannels / g.filterInputChannels
        precondition(g.outputChannels % groups == 0, "conv2D: \(g.outputChannels) output channels for \(groups) groups")
        precondition(input == g.inputCount, "conv2D: input has \(input) elements, geometry needs \(g.inputCount)")
        precondition(filter == g.convFilterCount, "conv2D: filter has \(filter) elements, geometry needs \(g.convFilterCount)")
        precondition(output == g.outputCount, "conv2D: output has \(output) elements, geometry needs \(g.outputCount)")
        precondition(bias == nil || bias == g.outputChannels, "conv2D: bias has \(bias ?? 0) elements for \(g.outputChannels) channels")
    }

    @usableFromInline
    static func checkDepthwise(_ g: Conv2DGeometry, input: Int, filter: Int, bias: Int?, output: Int) {
        precondition(g.inputChannels > 0 && g.outputChannels % g.inputChannels == 0,
                     "depthwiseConv2D: output channels \(g.outputChannels) not a multiple of input channels \(g.inputChannels)")
        precondition(input == g.inputCount, "depthwiseConv2D: input has \(input) elements, geometry needs \(g.inputCount)")
        precondition(filter == g.depthwiseFilterCount,
                     "depthwiseConv2D: filter has \(filter) elements, geometry needs \(g.depthwiseFilterCount)")
        precondition(output == g.outputCount, "depthwiseConv2D: output has \(output) elements, geometry needs \(g.outputCount)")
        precondition(bias == nil || bias == g.outputChannels,
                     "depthwiseConv2D: bias has \(bias ?? 0) elements for \(g.outputChannels) channels")
    }
}
