import Glibc
import Testing
@testable import Kernels

// MARK: - Helpers

private func randomFloats(_ count: Int, _ rng: inout SplitMix, in range: ClosedRange<Float> = -1...1) -> [Float] {
    (0..<count).map { _ in rng.float(in: range) }
}

private func randomInt8(_ count: Int, _ rng: inout SplitMix, in range: ClosedRange<Int> = -128...127) -> [Int8] {
    (0..<count).map { _ in rng.int8(in: range) }
}

/// Runs `body` with read-only views of `a` and `b` and a fresh output of `count` elements.
private func withBuffers<A, B, O: Numeric>(
    _ a: [A], _ b: [B], outputCount count: Int,
    _ body: (UnsafeBufferPointer<A>, UnsafeBufferPointer<B>, UnsafeMutableBufferPointer<O>) -> Void
) -> [O] {
    var out = [O](repeating: 0, count: count)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { body(pa, pb, $0) }
        }
    }
    return out
}

/// A naive convolution on an explicitly zero-padded copy of the input, in double.
private func naiveConv(_ input: [Float], _ filter: [Float], _ bias: [Float], _ g: Conv2DGeometry, depthwise: Bool) -> [Double] {
    let ph = g.inputHeight + 2 * g.padTop + g.filterHeight * g.dilationHeight + g.strideHeight * g.outputHeight
    let pw = g.inputWidth + 2 * g.padLeft + g.filterWidth * g.dilationWidth + g.strideWidth * g.outputWidth
    var padded = [Double](repeating: 0, count: g.batches * ph * pw * g.inputChannels)
    for b in 0..<g.batches { for y in 0..<g.inputHeight { for x in 0..<g.inputWidth { for c in 0..<g.inputChannels {
        padded[((b * ph + y + g.padTop) * pw + x + g.padLeft) * g.inputChannels + c] =
            Double(input[((b * g.inputHeight + y) * g.inputWidth + x) * g.inputChannels + c])
    } } } }
    var out = [Double](repeating: 0, count: g.outputCount)
    for b in 0..<g.batches { for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth { for oc in 0..<g.outputChannels {
        var sum = Double(bias[oc])
        for ky in 0..<g.filterHeight { for kx in 0..<g.filterWidth {
            let y = oy * g.strideHeight + ky * g.dilationHeight, x = ox * g.strideWidth + kx * g.dilationWidth
            if depthwise {
                let ic = oc / g.depthMultiplier
                sum += padded[((b * ph + y) * pw + x) * g.inputChannels + ic] * Double(filter[(ky * g.filterWidth + kx) * g.outputChannels + oc])
            } else {
                for ic in 0..<g.inputChannels {
                    sum += padded[((b * ph + y) * pw + x) * g.inputChannels + ic]
                        * Double(filter[((oc * g.filterHeight + ky) * g.filterWidth + kx) * g.inputChannels + ic])
                }
            }
        } }
        out[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outputChannels + oc] = sum
    } } } }
    return out
}

private let noActivation = FusedActivation.none.floatRange

// MARK: - Geometry

@Suite("Padding")
struct PaddingTests {
    @Test("SAME and VALID windows", arguments: [
        // in, k, stride, dilation, padding, out, before, after
        (28, 2, 1, 1, PaddingType.same, 28, 0, 1), (5, 3, 2, 1, .same, 3, 1, 1), (5, 3, 2, 1, .valid, 2, 0, 0),
        (6, 3, 2, 1, .same, 3, 0, 1), (7, 3, 1, 2, .same, 7, 2, 2), (7, 3, 1, 2, .valid, 3, 0, 0), (2, 3, 1, 1, .valid, 0, 0, 0),
    ])
    func windows(input: Int, filter: Int, stride: Int, dilation: Int, padding: PaddingType, out: Int, before: Int, after: Int) {
        let w = PaddedWindow(inputSize: input, filterSize: filter, stride: stride, dilation: dilation, padding: padding)
        #expect(w.outputSize == out)
        #expect(w.padBefore == before)
        #expect(w.padAfter == after)
    }
}

// MARK: - Convolutions

@Suite("CONV_2D and DEPTHWISE_CONV_2D")
struct ConvolutionTests {
    static let geometries: [Conv2DGeometry] = [
        Conv2DGeometry(batches: 1, inputHeight: 5, inputWidth: 5, inputChannels: 3, filterHeight: 3, filterWidth: 3,
                       outputChannels: 4, padding: .same),
        Conv2DGeometry(batches: 2, inputHeight: 6, inputWidth: 7, inputChannels: 2, filterHeight: 2, filterWidth: 3,
                       outputChannels: 3, strideHeight: 2, strideWidth: 2, padding: .same),
        Conv2DGeometry(batches: 1, inputHeight: 7, inputWidth: 6, inputChannels: 2, filterHeight: 3, filterWidth: 2,
                       outputChannels: 2, dilationHeight: 2, dilationWidth: 1, padding: .valid),
        Conv2DGeometry(batches: 1, inputHeight: 4, inputWidth: 4, inputChannels: 1, filterHeight: 2, filterWidth: 2,
                       outputChannels: 5, strideHeight: 1, strideWidth: 2, dilationHeight: 2, dilationWidth: 2, padding: .same),
    ]

    @Test("Float conv matches a naive padded convolution", arguments: geometries)
    func floatConv(g: Conv2DGeometry) {
        var rng = SplitMix(seed: 11)
        let input = randomFloats(g.inputCount, &rng), filter = randomFloats(g.convFilterCount, &rng)
        let bias = randomFloats(g.outputChannels, &rng)
        let out: [Float] = withBuffers(input, filter, outputCount: g.outputCount) { i, f, o in
            bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: i, filter: f, bias: $0, output: o, geometry: g, activation: noActivation) }
        }
        let expected = naiveConv(input, filter, bias, g, depthwise: false)
        for i in out.indices { #expect(abs(Double(out[i]) - expected[i]) < 1e-5) }
        // RELU6 clamps the same values.
        let relu6: [Float] = withBuffers(input, filter, outputCount: g.outputCount) { i, f, o in
            bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: i, filter: f, bias: $0, output: o, geometry: g, activation: FusedActivation.relu6.floatRange) }
        }
        #expect(relu6 == out.map { Swift.min(Swift.max($0, 0), 6) })
    }

    @Test("Float depthwise conv matches a naive computation", arguments: [1, 2])
    func floatDepthwise(multiplier: Int) {
        var rng = SplitMix(seed: 12)
        let g = Conv2DGeometry(batches: 2, inputHeight: 5, inputWidth: 4, inputChannels: 3, filterHeight: 3, filterWidth: 2,
                               outputChannels: 3 * multiplier, strideHeight: 2, strideWidth: 1, padding: .same)
        let input = randomFloats(g.inputCount, &rng), filter = randomFloats(g.depthwiseFilterCount, &rng)
        let bias = randomFloats(g.outputChannels, &rng)
        let out: [Float] = withBuffers(input, filter, outputCount: g.outputCount) { i, f, o in
            bias.withUnsafeBufferPointer { ReferenceKernels.depthwiseConv2D(input: i, filter: f, bias: $0, output: o, geometry: g, activation: noActivation) }
        }
        let expected = naiveConv(input, filter, bias, g, depthwise: true)
        for i in out.indices { #expect(abs(Double(out[i]) - expected[i]) < 1e-5) }
    }

    @Test("Int8 conv computed by hand")
    func int8ConvByHand() {
        // 1x3x3x1 input, one 2x2 filter, VALID, input zp -1, output scale = in * w (multiplier 1).
        let g = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 1, filterHeight: 2, filterWidth: 2,
                               outputChannels: 1, padding: .valid)
        let input: [Int8] = [0, 1, 2, 3, 4, 5, 6, 7, 8]       // real values q + 1
        let filter: [Int8] = [1, -1, 2, 0]
        let bias: [Int32] = [10]
        let params = QuantizedConvParameters.convolution(
            input: AffineQuantization(scale: 0.5, zeroPoint: -1), weightScales: [0.25],
            output: AffineQuantization(scale: 0.125, zeroPoint: 5), activation: .none)
        let out: [Int8] = withBuffers(input, filter, outputCount: 4) { i, f, o in
            bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: i, filter: f, bias: $0, output: o, geometry: g, parameters: params) }
        }
        // Window (0,0): 1*1 - 1*2 + 2*4 + 0 = 7, + 10 = 17 -> +5 = 22. Each step right adds 2, each row down 6.
        #expect(out == [22, 24, 28, 30])
        // SAME padding skips the padded taps instead of multiplying the zero point.
        let same = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 1, filterHeight: 2, filterWidth: 2,
                                  outputChannels: 1, padding: .same)
        let outSame: [Int8] = withBuffers(input, filter, outputCount: 9) { i, f, o in
            bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: i, filter: f, bias: $0, output: o, geometry: same, parameters: params) }
        }
        // Bottom-right corner: only tap (0,0) exists: 1 * (8 + 1) + 10 = 19 -> 24.
        #expect(outSame[8] == 24)
    }

    @Test("Int8 conv and depthwise stay within one step of the float kernel on dequantized values",
          arguments: [false, true])
    func int8VersusFloat(depthwise: Bool) {
        var rng = SplitMix(seed: depthwise ? 21 : 22)
        for g in Self.geometries {
            var g = g
            if depthwise { g.outputChannels = g.inputChannels * 2; g.filterInputChannels = g.inputChannels }
            let filterCount = depthwise ? g.depthwiseFilterCount : g.convFilterCount
            let inQ = AffineQuantization(scale: 0.02, zeroPoint: 7)
            let outQ = AffineQuantization(scale: 0.05, zeroPoint: -3)
            let weightScales = (0..<g.outputChannels).map { _ in rng.float(in: 0.002...0.02) }
            let input = randomInt8(g.inputCount, &rng)
            let filter = randomInt8(filterCount, &rng, in: -127...127)
            let bias = (0..<g.outputChannels).map { _ in Int32(rng.next() % 2001) - 1000 }
            for activation in [FusedActivation.none, .relu, .relu6] {
                let params = QuantizedConvParameters.convolution(input: inQ, weightScales: weightScales, output: outQ, activation: activation)
                let out: [Int8] = withBuffers(input, filter, outputCount: g.outputCount) { i, f, o in
                    bias.withUnsafeBufferPointer {
                        if depthwise {
                            ReferenceKernels.depthwiseConv2D(input: i, filter: f, bias: $0, output: o, geometry: g, parameters: params)
                        } else {
                            ReferenceKernels.conv2D(input: i, filter: f, bias: $0, output: o, geometry: g, parameters: params)
                        }
                    }
                }
                let fIn = input.map { inQ.dequantize($0) }
                let fFilter = filter.indices.map { i -> Float in
                    let c = depthwise ? i % g.outputChannels : i / (filterCount / g.outputChannels)
                    return Float(filter[i]) * weightScales[c]
                }
                let fBias = bias.indices.map { Float(bias[$0]) * inQ.scale * weightScales[$0] }
                let expected = naiveConv(fIn, fFilter, fBias, g, depthwise: depthwise)
                let range = activation.int8Range(output: outQ)
                for i in out.indices {
                    let ideal = Double(outQ.zeroPoint) + expected[i] / Double(outQ.scale)
                    let clamped = Swift.min(Swift.max(ideal, Double(range.min)), Double(range.max))
                    #expect(abs(Double(out[i]) - clamped) <= 1.0, "index \(i) activation \(activation)")
                }
            }
        }
    }
}

// MARK: - Fully connected

@Suite("FULLY_CONNECTED")
struct FullyConnectedTests {
    @Test("Float FC matches a naive dot product, with and without bias")
    func floatFC() {
        var rng = SplitMix(seed: 31)
        let g = FullyConnectedGeometry(batches: 3, accumDepth: 17, outputDepth: 5)
        let input = randomFloats(51, &rng), weights = randomFloats(85, &rng), bias = randomFloats(5, &rng)
        for withBias in [true, false] {
            let out: [Float] = withBuffers(input, weights, outputCount: 15) { i, w, o in
                bias.withUnsafeBufferPointer { ReferenceKernels.fullyConnected(input: i, weights: w, bias: withBias ? $0 : nil, output: o, geometry: g, activation: noActivation) }
            }
            for b in 0..<3 { for n in 0..<5 {
                var sum = withBias ? Double(bias[n]) : 0
                for k in 0..<17 { sum += Double(input[b * 17 + k]) * Double(weights[n * 17 + k]) }
                #expect(abs(Double(out[b * 5 + n]) - sum) < 1e-5)
            } }
        }
    }

    @Test("Int8 FC, per-channel and per-tensor, every requant mode, within one step of float",
          arguments: [true, false])
    func int8FC(perChannel: Bool) {
        var rng = SplitMix(seed: perChannel ? 32 : 33)
        let g = FullyConnectedGeometry(batches: 4, accumDepth: 40, outputDepth: 6)
        let inQ = AffineQuantization(scale: 0.03, zeroPoint: -20), outQ = AffineQuantization(scale: 0.1, zeroPoint: 4)
        let scales = perChannel ? (0..<6).map { _ in rng.float(in: 0.005...0.02) } : [Float(0.01)]
        let weightZeroPoint: Int32 = perChannel ? 0 : 3
        let input = randomInt8(160, &rng), weights = randomInt8(240, &rng, in: -127...127)
        let bias = (0..<6).map { _ in Int32(rng.next() % 4001) - 2000 }
        for mode in RequantMode.allCases {
            let params = QuantizedConvParameters.fullyConnected(input: inQ, weightScales: scales, weightZeroPoint: weightZeroPoint,
                                                                output: outQ, activation: .none, mode: mode)
            let out: [Int8] = withBuffers(input, weights, outputCount: 24) { i, w, o in
                bias.withUnsafeBufferPointer { ReferenceKernels.fullyConnected(input: i, weights: w, bias: $0, output: o, geometry: g, parameters: params) }
            }
            for b in 0..<4 { for n in 0..<6 {
                let s = Double(scales[perChannel ? n : 0])
                var acc = Double(bias[n])
                for k in 0..<40 { acc += Double(Int32(weights[n * 40 + k]) - weightZeroPoint) * Double(Int32(input[b * 40 + k]) - inQ.zeroPoint) }
                let ideal = Swift.min(Swift.max(acc * Double(inQ.scale) * s / Double(outQ.scale) + Double(outQ.zeroPoint), -128), 127)
                #expect(abs(Double(out[b * 6 + n]) - ideal) <= 1.0, "mode \(mode)")
            } }
        }
    }

    @Test("Per-tensor FC multiplier: float product for the optimized modes, double for the reference")
    func perTensorMultiplier() {
        let inQ = AffineQuantization(scale: 0.1, zeroPoint: 0), outQ = AffineQuantization(scale: 0.3, zeroPoint: 0)
        let ref = QuantizedConvParameters.fullyConnected(input: inQ, weightScales: [0.7], output: outQ, activation: .none)
        #expect(ref.requantizers[0].doubleScale == Double(Float(0.1)) * Double(Float(0.7)) / Double(Float(0.3)))
        let opt = QuantizedConvParameters.fullyConnected(input: inQ, weightScales: [0.7], output: outQ, activation: .none, mode: .gemmlowpDouble)
        #expect(opt.requantizers[0].doubleScale == Double(Float(0.1) * Float(0.7)) / Double(Float(0.3)))
    }
}

// MARK: - Pooling, mean, add

@Suite("Pooling, MEAN, ADD, RESHAPE")
struct PoolingMeanAddTests {
    @Test("Int8 and float max pool with SAME padding (padded taps are skipped)")
    func maxPool() {
        let g = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 1, filterHeight: 2, filterWidth: 2,
                               outputChannels: 1, strideHeight: 2, strideWidth: 2, padding: .same)
        let input: [Int8] = [-100, -50, -120, -90, -110, -128, -127, -126, -125]
        var out = [Int8](repeating: 0, count: 4)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer {
            ReferenceKernels.maxPool2D(input: i, output: $0, geometry: g, activation: ActivationRange(min: -128, max: 127))
        } }
        #expect(out == [-50, -120, -126, -125])
        var outF = [Float](repeating: 0, count: 4)
        input.map(Float.init).withUnsafeBufferPointer { i in outF.withUnsafeMutableBufferPointer {
            ReferenceKernels.maxPool2D(input: i, output: $0, geometry: g, activation: noActivation)
        } }
        #expect(outF == [-50, -120, -126, -125])
    }

    @Test("Int8 average pool rounds half away from zero over the taps inside the image")
    func averagePool() {
        let g = Conv2DGeometry(batches: 1, inputHeight: 2, inputWidth: 3, inputChannels: 2, filterHeight: 2, filterWidth: 2,
                               outputChannels: 2, strideHeight: 2, strideWidth: 2, padding: .same)
        // Channel 0: window 1 = {1, 2, 2, 0} sum 5 / 4 = 1.25 -> 1; window 2 (edge, 2 taps) = {1, 2} -> 1.5 -> 2.
        // Channel 1: window 1 = {-1, -2, -2, 0} -> -1; window 2 = {-1, -2} -> -1.5 -> -2.
        let input: [Int8] = [1, -1, 2, -2, 1, -1,
                             2, -2, 0, 0, 2, -2]
        var out = [Int8](repeating: 0, count: 4)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer {
            ReferenceKernels.averagePool2D(input: i, output: $0, geometry: g, activation: ActivationRange(min: -128, max: 127))
        } }
        #expect(out == [1, -1, 2, -2])
        var outF = [Float](repeating: 0, count: 4)
        input.map(Float.init).withUnsafeBufferPointer { i in outF.withUnsafeMutableBufferPointer {
            ReferenceKernels.averagePool2D(input: i, output: $0, geometry: g, activation: noActivation)
        } }
        #expect(outF == [1.25, -1.25, 1.5, -1.5])
    }

    @Test("Int8 mean: hand case and random scales within one step of the float mean")
    func mean() {
        let same = AffineQuantization(scale: 0.5, zeroPoint: 0)
        let p = QuantizedMeanParameters(input: same, output: same, count: 4)
        #expect(p.meanMultiplier == QuantizedMultiplier(multiplier: 1 << 30, shift: -1))
        var out = [Int8](repeating: 0, count: 1)
        [Int8(1), 2, 3, 4].withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer {
            ReferenceKernels.meanOverHeightWidth(input: i, output: $0, batches: 1, height: 2, width: 2, channels: 1, parameters: p)
        } }
        #expect(out == [3])   // 2.5 -> 3
        var rng = SplitMix(seed: 41)
        for (h, w) in [(3, 3), (7, 5), (1, 1), (8, 8)] {
            let inQ = AffineQuantization(scale: rng.float(in: 0.01...0.1), zeroPoint: Int32(rng.int8(in: -20...20)))
            let outQ = AffineQuantization(scale: rng.float(in: 0.01...0.1), zeroPoint: Int32(rng.int8(in: -20...20)))
            let params = QuantizedMeanParameters(input: inQ, output: outQ, count: h * w)
            let input = randomInt8(2 * h * w * 3, &rng)
            var q = [Int8](repeating: 0, count: 6)
            input.withUnsafeBufferPointer { i in q.withUnsafeMutableBufferPointer {
                ReferenceKernels.meanOverHeightWidth(input: i, output: $0, batches: 2, height: h, width: w, channels: 3, parameters: params)
            } }
            var f = [Float](repeating: 0, count: 6)
            input.map { inQ.dequantize($0) }.withUnsafeBufferPointer { i in f.withUnsafeMutableBufferPointer {
                ReferenceKernels.meanOverHeightWidth(input: i, output: $0, batches: 2, height: h, width: w, channels: 3)
            } }
            for i in 0..<6 {
                let ideal = Swift.min(Swift.max(Double(f[i]) / Double(outQ.scale) + Double(outQ.zeroPoint), -128), 127)
                #expect(abs(Double(q[i]) - ideal) <= 1.0, "h \(h) w \(w)")
            }
        }
    }

    @Test("Int8 add: exact on equal scales, within one step of float otherwise")
    func add() {
        let q = AffineQuantization(scale: 0.1, zeroPoint: 0)
        let p = QuantizedAddParameters(input1: q, input2: q, output: q, activation: .none)
        let a: [Int8] = [1, 2, -3, 100, -100, 60], b: [Int8] = [1, -2, -3, 100, -100, -70]
        let out: [Int8] = withBuffers(a, b, outputCount: 6) { x, y, o in ReferenceKernels.add(x, y, output: o, parameters: p) }
        #expect(out == [2, 0, -6, 127, -128, -10])
        var rng = SplitMix(seed: 51)
        let q1 = AffineQuantization(scale: 0.07, zeroPoint: 5), q2 = AffineQuantization(scale: 0.02, zeroPoint: -9)
        let qo = AffineQuantization(scale: 0.09, zeroPoint: 2)
        for activation in [FusedActivation.none, .relu] {
            let params = QuantizedAddParameters(input1: q1, input2: q2, output: qo, activation: activation)
            let x = randomInt8(500, &rng), y = randomInt8(500, &rng)
            let r: [Int8] = withBuffers(x, y, outputCount: 500) { i1, i2, o in ReferenceKernels.add(i1, i2, output: o, parameters: params) }
            let range = activation.int8Range(output: qo)
            for i in 0..<500 {
                let real = Double(q1.dequantize(x[i])) + Double(q2.dequantize(y[i]))
                let ideal = Swift.min(Swift.max(real / Double(qo.scale) + Double(qo.zeroPoint), Double(range.min)), Double(range.max))
                #expect(abs(Double(r[i]) - ideal) <= 1.0)
            }
        }
    }

    @Test("Reshape copies")
    func reshape() {
        let input: [Int8] = [1, 2, 3, -4]
        var out = [Int8](repeating: 0, count: 4)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { ReferenceKernels.reshape(i, output: $0) } }
        #expect(out == input)
    }
}

// MARK: - Softmax, quantize

@Suite("SOFTMAX, QUANTIZE, DEQUANTIZE")
struct SoftmaxQuantizeTests {
    @Test("The spec's softmax example: scale 0.1, [10, 0, -10, -128] -> [42, -65, -105, -128]")
    func softmaxExample() {
        let p = QuantizedSoftmaxParameters(inputScale: 0.1)
        #expect(p.inputMultiplier == 1_717_986_944)
        #expect(p.inputLeftShift == 23)
        #expect(p.diffMin == -248)
        var out = [Int8](repeating: 0, count: 4)
        [Int8(10), 0, -10, -128].withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer {
            ReferenceKernels.softmax(input: i, output: $0, depth: 4, parameters: p)
        } }
        #expect(out == [42, -65, -105, -128])
    }

    @Test("Int8 softmax stays within one step of the float softmax", arguments: [0.05, 0.1, 0.25, 1.0])
    func softmaxVersusFloat(scale: Float) {
        var rng = SplitMix(seed: 61)
        let p = QuantizedSoftmaxParameters(inputScale: scale)
        let input = randomInt8(10 * 50, &rng)
        var q = [Int8](repeating: 0, count: 500)
        input.withUnsafeBufferPointer { i in q.withUnsafeMutableBufferPointer { ReferenceKernels.softmax(input: i, output: $0, depth: 10, parameters: p) } }
        var f = [Float](repeating: 0, count: 500)
        input.map { Float($0) * scale }.withUnsafeBufferPointer { i in f.withUnsafeMutableBufferPointer { ReferenceKernels.softmax(input: i, output: $0, depth: 10) } }
        for i in 0..<500 {
            let ideal = Swift.min(Double(f[i]) * 256 - 128, 127)
            #expect(abs(Double(q[i]) - ideal) <= 1.0)
        }
    }

    @Test("Float softmax matches a double computation and sums to one")
    func floatSoftmax() {
        var rng = SplitMix(seed: 62)
        let input = randomFloats(40, &rng, in: -5...5)
        var out = [Float](repeating: 0, count: 40)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { ReferenceKernels.softmax(input: i, output: $0, depth: 8, beta: 2) } }
        for row in 0..<5 {
            let xs = input[(row * 8)..<(row * 8 + 8)].map { Double($0) * 2 }
            let m = xs.max()!
            let total = xs.map { exp($0 - m) }.reduce(0, +)
            for c in 0..<8 { #expect(abs(Double(out[row * 8 + c]) - exp(xs[c] - m) / total) < 1e-6) }
        }
    }

    @Test("Quantize, requantize and dequantize")
    func quantizeDequantize() {
        let q = AffineQuantization(scale: 0.25, zeroPoint: -10)
        let x: [Float] = [0, 0.125, -0.125, 0.375, 100, -100, 1]
        var out = [Int8](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { ReferenceKernels.quantize(i, output: $0, parameters: q) } }
        #expect(out == [-10, -9, -11, -8, 127, -128, -6])
        var back = [Float](repeating: 0, count: x.count)
        out.withUnsafeBufferPointer { i in back.withUnsafeMutableBufferPointer { ReferenceKernels.dequantize(i, output: $0, parameters: q) } }
        #expect(back == [0, 0.25, -0.25, 0.5, 34.25, -29.5, 1])
        let r = RequantizeParameters(input: q, output: AffineQuantization(scale: 0.5, zeroPoint: 3))
        var re = [Int8](repeating: 0, count: x.count)
        out.withUnsafeBufferPointer { i in re.withUnsafeMutableBufferPointer { ReferenceKernels.quantize(i, output: $0, parameters: r) } }
        #expect(re == [3, 4, 3, 4, 72, -56, 5])   // (q + 10) / 2 rounded half up (SRDHM), + 3
        let halves: [Float16] = [1.5, -0.333, 65504]
        var widened = [Float](repeating: 0, count: 3)
        halves.withUnsafeBufferPointer { i in widened.withUnsafeMutableBufferPointer { ReferenceKernels.dequantize(i, output: $0) } }
        #expect(widened == halves.map(Float.init))
    }
}

