extension ReferenceKernels {
    /// Float32 MAX_POOL_2D over the window clipped to the image.
    ///
    ///     out = clamp(max over existing taps, starting from -Float.greatestFiniteMagnitude)
    ///
    /// `geometry.filterInputChannels` is unused; `outputChannels` must equal `inputChannels`.
    /// Matches `reference_ops::MaxPool` (float).
    public static func maxPool2D(
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        geometry g: Conv2DGeometry, activation: ActivationRange<Float>
    ) {
        checkPool(g, input: input.count, output: output.count)
        forEachWindow(g) { outIndex, b, c, yRange, xRange, iy0, ix0 in
            var m = -Float.greatestFiniteMagnitude
            for fy in yRange {
                for fx in xRange {
                    let x = input[((b * g.inputHeight + iy0 + fy) * g.inputWidth + ix0 + fx) * g.inputChannels + c]
                    if m < x { m = x }   // std::max(m, x)
                }
            }
            output[outIndex] = activation.clamp(m)
        }
    }

    /// Int8 MAX_POOL_2D (input and output share scale and zero point; nothing is rescaled).
    ///
    ///     out = clamp(max over existing taps (from -128), activationMin, activationMax)
    ///
    /// Matches `reference_integer_ops::MaxPool`.
    public static func maxPool2D(
        input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
        geometry g: Conv2DGeometry, activation: ActivationRange<Int32>
    ) {
        checkPool(g, input: input.count, output: output.count)
        forEachWindow(g) { outIndex, b, c, yRange, xRange, iy0, ix0 in
            var m = Int8.min
            for fy in yRange {
                for fx in xRange {
                    m = Swift.max(m, input[((b * g.inputHeight + iy0 + fy) * g.inputWidth + ix0 + fx) * g.inputChannels + c])
                }
            }
            output[outIndex] = Int8(activation.clamp(Int32(m)))
        }
    }

    /// Float32 AVERAGE_POOL_2D: the mean over the taps inside the image (padding not counted).
    ///
    ///     out = clamp((Σ taps, in (fy, fx) order) / float(count))
    ///
    /// Matches `reference_ops::AveragePool` (float).
    public static func averagePool2D(
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        geometry g: Conv2DGeometry, activation: ActivationRange<Float>
    ) {
        checkPool(g, input: input.count, output: output.count)
        forEachWindow(g) { outIndex, b, c, yRange, xRange, iy0, ix0 in
            var total: Float = 0
            var count = 0
            for fy in yRange {
                for fx in xRange {
                    total += input[((b * g.inputHeight + iy0 + fy) * g.inputWidth + ix0 + fx) * g.inputChannels + c]
                    count += 1
                }
            }
            output[outIndex] = activation.clamp(total / Float(count))
        }
    }

    /// Int8 AVERAGE_POOL_2D (same scale and zero point in and out).
    ///
    ///     sum = Σ taps (int64);  n = number of taps inside the image
    ///     avg = sum > 0 ? (sum + n/2) / n : (sum - n/2) / n     // C division: round half away
    ///     out = clamp(avg, activationMin, activationMax)
    ///
    /// Matches `reference_integer_ops::AveragePool` (int8).
    public static func averagePool2D(
        input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
        geometry g: Conv2DGeometry, activation: ActivationRange<Int32>
    ) {
        checkPool(g, input: input.count, output: output.count)
        forEachWindow(g) { outIndex, b, c, yRange, xRange, iy0, ix0 in
            var sum: Int64 = 0
            var count: Int64 = 0
            for fy in yRange {
                for fx in xRange {
                    sum += Int64(input[((b * g.inputHeight + iy0 + fy) * g.inputWidth + ix0 + fx) * g.inputChannels + c])
                    count += 1
                }
            }
            let average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count
            output[outIndex] = Int8(Swift.min(Swift.max(average, Int64(activation.min)), Int64(activation.max)))
        }
    }

    /// Calls `body(outputIndex, batch, channel, filterRows, filterColumns, iy0, ix0)` for every
    /// output element, with the filter ranges clipped to the image (`max(0, -i0) ..< min(f, in - i0)`).
    @inline(__always)
    static func forEachWindow(
        _ g: Conv2DGeometry,
        _ body: (_ outIndex: Int, _ b: Int, _ c: Int, _ yRange: Range<Int>, _ xRange: Range<Int>, _ iy0: Int, _ ix0: Int) -> Void
    ) {
        for b in 0..<g.batches {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let ix0 = ox * g.strideWidth - g.padLeft
                    let yRange = Swift.max(0, -iy0)..<Swift.max(Swift.max(0, -iy0), Swift.min(g.filterHeight, g.inputHeight - iy0))
                    let xRange = Swift.max(0, -ix0)..<Swift.max(Swift.max(0, -ix0), Swift.min(g.filterWidth, g.inputWidth - ix0))
                    precondition(!yRange.isEmpty && !xRange.isEmpty, "pool2D: a window lies entirely outside the input")
                    for c in 0..<g.outputChannels {
                        body(((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + c, b, c, yRange, xRange, iy0, ix0)
                    }
                }
            }
        }
    }

    static func checkPool(_ g: Conv2DGeometry, input: Int, output: Int) {
        precondition(g.outputChannels == g.inputChannels, "pool2D: \(g.outputChannels) output channels for \(g.inputChannels) input channels")
        precondition(g.dilationHeight == 1 && g.dilationWidth == 1, "pool2D: pooling has no dilation")
        precondition(input == g.inputCount, "pool2D: input has \(input) elements, geometry needs \(g.inputCount)")
        precondition(output == g.outputCount, "pool2D: output has \(output) elements, geometry needs \(g.outputCount)")
    }
}
