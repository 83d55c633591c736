import Foundation
import Kernels
import NeuralNet
import TensorCore
import Testing

/// Fake-quant arithmetic, the straight-through gradient, range learning, and finite-difference
/// checks of the quantization-aware layers' backward passes.
@Suite("Fake quantization")
struct FakeQuantTests {
    // MARK: Grid and arithmetic

    @Test func gridIsTheConvertersQATParameters() {
        for (lo, hi) in [(-1.0, 3.0), (0.0, 1.0), (-6.0, 6.0), (-0.37, 11.9), (-5.0, 0.0), (0.0, 20.5)] as [(Float, Float)] {
            let grid = FakeQuantGrid(min: lo, max: hi)
            #expect(grid.quantization == AffineQuantization.quantizationAwareInt8(min: Double(lo), max: Double(hi)))
            #expect(!grid.collapsed)
            // Real 0 is exactly representable.
            #expect(Float(-128 - grid.zeroPoint) <= 0 && Float(127 - grid.zeroPoint) >= 0)
        }
        // [0, 1] (the model input): scale 1/255, zero point -128.
        let input = FakeQuantGrid(min: 0, max: 1)
        #expect(input.scale == Float(1.0 / 255.0) && input.zeroPoint == -128)
    }

    @Test func degenerateRangesCollapseWithoutDivisionByZero() {
        let cases: [(Float, Float)] = [(0, 0), (-1e-9, 0), (0, 5e-7), (.nan, 1), (0, .infinity), (-.infinity, 0), (.nan, .nan)]
        for (lo, hi) in cases {
            let grid = FakeQuantGrid(min: lo, max: hi)
            #expect(grid.collapsed, "[\(lo), \(hi)] collapses")
            #expect(grid.scale == 1 && grid.zeroPoint == -128)
            #expect(grid.inverseScale.isFinite)
            let x: [Float] = [0, 0.3, 2, -1, 300]
            var y = [Float](repeating: 0, count: 5)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { FakeQuantArithmetic.fakeQuantize(xp.baseAddress!, into: $0.baseAddress!, count: 5, grid: grid) }
            }
            #expect(y == [0, 0, 2, 0, 255], "0 stays exactly 0, nothing is NaN")
        }
        // A range that does not contain 0 (a corrupt file) is widened to contain it, not trusted.
        #expect(FakeQuantGrid(min: 1, max: 3) == FakeQuantGrid(min: 0, max: 3))
    }

    @Test(arguments: [(Float(-1), Float(3)), (0, 1), (-6, 6), (-0.2, 7.3)])
    func forwardRoundsToTheGridLikeQuantizeDequantize(lo: Float, hi: Float) {
        let grid = FakeQuantGrid(min: lo, max: hi)
        var random = SeededRandom(seed: 11)
        let x = (0..<1003).map { _ in random.nextFloat(in: lo - 2, hi + 2) }
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { FakeQuantArithmetic.fakeQuantize(xp.baseAddress!, into: $0.baseAddress!, count: x.count, grid: grid) }
        }
        let q = grid.quantization
        for (v, f) in zip(x, y) {
            // QUANTIZE then DEQUANTIZE (round half away; the fake-quant rounds ties to even, and
            // differs from it only on exact ties, which random values do not hit).
            let reference = Float(q.scale) * Float(Int32(q.quantize(v)) - q.zeroPoint)
            #expect(abs(f - reference) <= 1e-6 * max(1, abs(reference)), "x \(v): \(f) vs \(reference)")
            #expect(f >= grid.nudgedMin - 1e-6 && f <= grid.nudgedMax + 1e-6)
        }
    }

    @Test func weightFakeQuantIsTheConvertersInt8WeightsBitForBit() {
        var random = SeededRandom(seed: 5)
        for (rows, channels) in [(7, 3), (4, 16), (50, 13), (3, 1), (9, 64)] {
            var w = (0..<(rows * channels)).map { _ in random.nextFloat(in: -0.7, 0.7) }
            // Exact ties after scaling (w · inv = k + 0.5) and a zero channel.
            w[0] = 0.7; w[channels % w.count] = -0.35
            if channels > 2 { for r in 0..<rows { w[r * channels + 2] = 0 } }
            for perChannel in [true, false] {
                var out = [Float](repeating: 0, count: w.count)
                let scales = w.withUnsafeBufferPointer { wp in
                    out.withUnsafeMutableBufferPointer {
                        FakeQuantArithmetic.fakeQuantizeWeights(wp.baseAddress!, count: w.count, channels: channels, perChannel: perChannel,
                                                                into: $0.baseAddress!)
                    }
                }
                // The converter's view: OHWI-like layout [channels, rows] with axis 0.
                let transposed = (0..<(rows * channels)).map { i in w[(i % rows) * channels + i / rows] }
                let (q, converterScales) = transposed.withUnsafeBufferPointer {
                    WeightQuantization.symmetric($0, shape: [channels, rows], axis: 0, perChannel: perChannel, arithmetic: .legacyFloat)
                }
                #expect(scales == converterScales)
                for i in 0..<w.count {
                    let c = i % channels, r = i / channels
                    let expected = Float(q[c * rows + r]) * (perChannel ? converterScales[c] : converterScales[0])
                    #expect(out[i] == expected, "weight \(i) (\(w[i])): \(out[i]) vs \(expected)")
                }
            }
        }
    }

    @Test func tiesRoundAwayFromZeroForWeights() {
        // absmax 127 gives scale 1: values k + 0.5 are exact ties.
        let w: [Float] = [127, 2.5, -2.5, 3.5, -0.5, 0.5, -127, 1.49999988]
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer {
                _ = FakeQuantArithmetic.fakeQuantizeWeights(wp.baseAddress!, count: 8, channels: 1, perChannel: false, into: $0.baseAddress!)
            }
        }
        #expect(out == [127, 3, -3, 4, -1, 1, -127, 1])
    }

    @Test func straightThroughGradientPassesInsideTheRangeOnly() {
        let grid = FakeQuantGrid(min: -1, max: 3)
        let x: [Float] = [-2, grid.nudgedMin, -0.5, 0, 1.7, grid.nudgedMax, 3.5, 100, -1.01, 2.99]
        var g = [Float](repeating: 1, count: x.count)
        x.withUnsafeBufferPointer { xp in
            g.withUnsafeMutableBufferPointer { FakeQuantArithmetic.maskOutside($0.baseAddress!, input: xp.baseAddress!, count: x.count, grid: grid) }
        }
        #expect(g == [0, 1, 1, 1, 1, 1, 0, 0, 0, 1], "bounds included, outside zero")
    }

    // MARK: Range learning

    @Test func movingAverageStartsAtSixAndMovesWithDecay() throws {
        let fq = FakeQuant(.movingAverage(tensor: "t"))
        var random = SeededRandom(seed: 1)
        try fq.build(inputShape: [4], random: &random)
        #expect(fq.range == (-6, 6))
        let x = Tensor(shape: [2, 4], storage: [0.5, 1, 2, 3, 0, 0.25, 0.1, 1])
        _ = fq.forward(x, training: true, random: &random)
        // min: -6 - (-6 - min(0, 0))·0.001 ; max: 6 - (6 - 3)·0.001
        let lo: Float = -6 - (-6 - 0) * (1 - 0.999), hi: Float = 6 - (6 - 3) * (1 - 0.999)
        #expect(fq.range == (lo, hi))
        _ = fq.forward(x, training: false, random: &random)
        #expect(fq.range == (lo, hi), "inference does not move the range")
    }

    @Test func allValuesTracksTheGlobalExtremes() throws {
        let fq = FakeQuant(.allValues(tensor: "input"))
        var random = SeededRandom(seed: 1)
        try fq.build(inputShape: [2], random: &random)
        _ = fq.forward(Tensor(shape: [1, 2], storage: [0.2, 0.9]), training: true, random: &random)
        _ = fq.forward(Tensor(shape: [1, 2], storage: [0.1, 0.4]), training: true, random: &random)
        #expect(fq.range == (0, 0.9))
    }

    @Test func nonFiniteBatchesLeaveTheRangeAloneAndAreCounted() throws {
        let fq = FakeQuant(.movingAverage(tensor: "t"))
        var random = SeededRandom(seed: 1)
        try fq.build(inputShape: [3], random: &random)
        let y = fq.forward(Tensor(shape: [1, 3], storage: [1, .nan, 2]), training: true, random: &random)
        #expect(fq.range == (-6, 6))
        #expect(fq.nonFiniteBatches == 1)
        #expect(y.storage[1].isNaN, "NaN propagates (training then stops with a non-finite loss)")
        _ = fq.forward(Tensor(shape: [1, 3], storage: [1, .infinity, 2]), training: true, random: &random)
        #expect(fq.nonFiniteBatches == 2)
    }

    @Test func replicasMergeToTheWholeBatchUpdate() throws {
        // Two halves of a batch on two replicas, merged, equal one update with the whole batch.
        var random = SeededRandom(seed: 1)
        let whole = FakeQuant(.movingAverage(tensor: "t")), a = FakeQuant(.movingAverage(tensor: "t")), b = FakeQuant(.movingAverage(tensor: "t"))
        for l in [whole, a, b] { try l.build(inputShape: [2], random: &random) }
        _ = whole.forward(Tensor(shape: [2, 2], storage: [-3, 1, 0.5, 9]), training: true, random: &random)
        _ = a.forward(Tensor(shape: [1, 2], storage: [-3, 1]), training: true, random: &random)
        _ = b.forward(Tensor(shape: [1, 2], storage: [0.5, 9]), training: true, random: &random)
        a.mergeReplicaState(from: [b])
        #expect(a.range == whole.range)
    }

    @Test func softmaxOutputsTheInt8GridAtInferenceOnly() throws {
        let layer = FakeQuantSoftmax()
        var random = SeededRandom(seed: 1)
        try layer.build(inputShape: [4], random: &random)
        let x = Tensor(shape: [1, 4], storage: [2, 1, 0.1, -3])
        let trainingOutput = layer.forward(x, training: true, random: &random)
        let inference = layer.forward(x, training: false, random: &random)
        for (p, q) in zip(trainingOutput.storage, inference.storage) {
            #expect(abs(p - q) <= 0.5 / 256 + 1e-7)
            #expect((q * 256).rounded() == q * 256, "on the 1/256 grid")
        }
    }

    // MARK: Gradients (finite differences of the function the straight-through estimator differentiates)

    @Test func fakeQuantGradient() throws {
        let fq = FakeQuant(FakeQuantConfiguration(observer: .movingAverage(decay: 0.999), initialMin: -0.6, initialMax: 0.7, tensor: "t"))
        fq.freezesRange = true
        fq.simulatesRounding = false
        // Values inside and outside the range, away from its bounds.
        let x = Tensor(shape: [2, 5], storage: [-0.9, -0.3, 0, 0.2, 0.65, 0.8, 1.2, -0.59, 0.1, -2])
        try checkGradients(fq, inputShape: [5], input: x, epsilon: 1e-3)
    }

    @Test(arguments: [false, true])
    func wrappedConv2DGradient(perChannel: Bool) throws {
        let wrapper = FakeQuantWrapper(.init(
            layers: [.init(name: "conv2d", configuration: .conv2D(filters: 3, kernelSize: [2, 2], strides: [1, 1], padding: .same,
                                                                  activation: .linear, useBias: true))],
            perChannel: perChannel, output: .movingAverage(tensor: "conv2d")))
        wrapper.freezesRanges = true
        wrapper.simulatesRounding = false
        try checkGradients(wrapper, inputShape: [4, 4, 2], epsilon: 5e-3)
    }

    @Test func wrappedDenseAndDepthwiseGradients() throws {
        let dense = FakeQuantWrapper(.init(layers: [.init(name: "dense", configuration: .dense(units: 4, activation: .linear, useBias: true))],
                                           perChannel: false, output: .movingAverage(tensor: "dense")))
        dense.freezesRanges = true
        dense.simulatesRounding = false
        try checkGradients(dense, inputShape: [6], batch: 3, epsilon: 5e-3)
        let depthwise = FakeQuantWrapper(.init(
            layers: [.init(name: "dw", configuration: .depthwiseConv2D(kernelSize: [3, 3], strides: [2, 2], padding: .same,
                                                                       depthMultiplier: 2, activation: .linear, useBias: true))],
            perChannel: true, output: .movingAverage(tensor: "dw")))
        depthwise.freezesRanges = true
        depthwise.simulatesRounding = false
        try checkGradients(depthwise, inputShape: [5, 5, 2], epsilon: 5e-3)
    }

    /// Conv2D + folded BatchNormalization: the gradient flows through the batch statistics of the
    /// float convolution (mean and variance depend on x and w) and into gamma and beta.
    @Test(arguments: [Padding.same, .valid])
    func batchNormFoldedConvGradientWithBatchStatistics(padding: Padding) throws {
        let wrapper = foldedConv(padding: padding, freezeAfter: nil)
        wrapper.freezesRanges = true
        wrapper.simulatesRounding = false
        try checkGradients(wrapper, inputShape: [4, 4, 2], batch: 3, epsilon: 5e-3, tolerance: 3e-2)
    }

    @Test func batchNormFoldedConvGradientWithFrozenStatistics() throws {
        let wrapper = foldedConv(padding: .same, freezeAfter: 0)
        wrapper.freezesRanges = true
        wrapper.simulatesRounding = false
        var random = SeededRandom(seed: 9)
        try wrapper.build(inputShape: [4, 4, 2], random: &random)
        wrapper.movingMean!.value = Tensor(shape: [3], storage: [0.1, -0.2, 0.05])
        wrapper.movingVariance!.value = Tensor(shape: [3], storage: [0.5, 1.5, 0.8])
        wrapper.gamma!.value = Tensor(shape: [3], storage: [1.2, 0.7, -0.9])
        #expect(wrapper.batchNormFrozen)
        try checkBuiltLayerGradients(wrapper, inputShape: [4, 4, 2], batch: 2, epsilon: 5e-3)
    }

    /// A folded conv + BN at inference is the float Conv2D + BatchNormalization on fake-quantized folded weights.
    @Test func foldedInferenceMatchesConvThenBatchNorm() throws {
        let wrapper = foldedConv(padding: .same, freezeAfter: nil)
        var random = SeededRandom(seed: 4)
        try wrapper.build(inputShape: [5, 5, 2], random: &random)
        // A few training steps move the moving statistics.
        let x = Tensor(shape: [3, 5, 5, 2], uninitialized: { b in for i in b.indices { b[i] = random.nextFloat(in: -1, 1) } })
        for _ in 0..<3 { _ = wrapper.forward(x, training: true, random: &random) }
        wrapper.simulatesRounding = false
        let y = wrapper.forward(x, training: false, random: &random)
        // Reference: float conv, then BN with moving statistics, (wide) output clamp of the fake-quant.
        let conv = Conv2D(filters: 3, kernelSize: 2, padding: .same, useBias: true)
        let bn = BatchNormalization()
        try conv.build(inputShape: [5, 5, 2], random: &random)
        try bn.build(inputShape: [5, 5, 3], random: &random)
        conv.kernel.value = wrapper.kernel.value
        conv.bias!.value = wrapper.bias!.value
        bn.movingMean.value = wrapper.movingMean!.value
        bn.movingVariance.value = wrapper.movingVariance!.value
        let reference = bn.forward(conv.forward(x, training: false, random: &random), training: false, random: &random)
        let grid = wrapper.outputGrid
        for (a, r) in zip(y.storage, reference.storage) {
            let clamped = min(max(r, grid.nudgedMin), grid.nudgedMax)
            #expect(abs(a - clamped) <= 1e-4 * max(1, abs(clamped)))
        }
        #expect(wrapper.batchNormSteps == 3)
    }

    func foldedConv(padding: Padding, freezeAfter: Int?) -> FakeQuantWrapper {
        FakeQuantWrapper(.init(
            layers: [.init(name: "conv2d", configuration: .conv2D(filters: 3, kernelSize: [2, 2], strides: [1, 1], padding: padding,
                                                                  activation: .linear, useBias: true)),
                     .init(name: "batch_normalization", configuration: .batchNormalization(momentum: 0.99, epsilon: 1e-3))],
            perChannel: true, freezeBatchNormAfter: freezeAfter, output: .movingAverage(tensor: "conv2d")))
    }

    @Test func wrapperWeightsAreFakeQuantizedInTheForward() throws {
        // One input pixel of 1 picks out a weight: the output equals the fake-quantized weight.
        let wrapper = FakeQuantWrapper(.init(layers: [.init(name: "dense", configuration: .dense(units: 3, activation: .linear, useBias: false))],
                                             perChannel: false, output: FakeQuantConfiguration(
                                                observer: .movingAverage(decay: 0.999), initialMin: -100, initialMax: 100, tensor: "dense")))
        var random = SeededRandom(seed: 2)
        try wrapper.build(inputShape: [2], random: &random)
        wrapper.kernel.value = Tensor(shape: [2, 3], storage: [1.27, 0.3337, -0.5, 0.001, 0.02, -0.9])
        let y = wrapper.forward(Tensor(shape: [1, 2], storage: [1, 0]), training: false, random: &random)
        // Per-tensor scale 1.27/127 = 0.01: weights round to multiples of 0.01, then the output grid (200/255).
        let w: [Float] = [1.27, 0.33, -0.5]
        let grid = wrapper.outputGrid
        for (a, b) in zip(y.storage, w) {
            let expected = grid.scale * min(max((b * grid.inverseScale).rounded(.toNearestOrEven), grid.lower), grid.upper)
            #expect(abs(a - expected) <= 1e-5)
        }
    }
}

/// `checkGradients` for a layer that is already built (its parameters set by the caller).
func checkBuiltLayerGradients(_ layer: any Layer, inputShape: [Int], batch: Int, epsilon: Float, tolerance: Double = 2e-2,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
    var random = SeededRandom(seed: 1)
    let x = Tensor(shape: [batch] + inputShape, uninitialized: { b in for i in b.indices { b[i] = random.nextFloat(in: -1, 1) } })
    var rng = SeededRandom(seed: 99)
    let y = layer.forward(x, training: true, random: &rng)
    let r = Tensor(shape: y.shape, uninitialized: { b in for i in b.indices { b[i] = random.nextFloat(in: -1, 1) } })
    func loss(_ input: Tensor) -> Double {
        var rng = SeededRandom(seed: 99)
        let out = layer.forward(input, training: true, random: &rng)
        return zip(out.storage, r.storage).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    _ = layer.forward(x, training: true, random: &rng)
    let dx = try #require(layer.backward(r, options: BackwardOptions()), sourceLocation: sourceLocation)
    let trainable = layer.parameters.filter(\.trainable)
    let gradients = trainable.map(\.gradient)
    func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
        #expect(abs(Double(analytic) - numeric) <= tolerance * max(1, abs(numeric)),
                "\(layer.typeName) \(what): analytic \(analytic), numeric \(numeric)", sourceLocation: sourceLocation)
    }
    var xp = x
    for i in 0..<x.count {
        let v = xp.storage[i]
        xp.storage[i] = v + epsilon
        let plus = loss(xp)
        xp.storage[i] = v - epsilon
        let minus = loss(xp)
        xp.storage[i] = v
        compare(dx.storage[i], (plus - minus) / (2 * Double(epsilon)), "d input[\(i)]")
    }
    for (p, g) in zip(trainable, gradients) {
        for i in 0..<p.value.count {
            let v = p.value.storage[i]
            p.value.storage[i] = v + epsilon
            let plus = loss(x)
            p.value.storage[i] = v - epsilon
            let minus = loss(x)
            p.value.storage[i] = v
            compare(g.storage[i], (plus - minus) / (2 * Double(epsilon)), "d \(p.name)[\(i)]")
        }
    }
}
