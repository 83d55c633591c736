import Kernels
import TensorCore

/// What a ``FakeQuantWrapper`` stands for and how it quantizes.
public struct FakeQuantWrapperConfiguration: Codable, Equatable, Sendable {
    /// One float layer of the group, with its name.
    public struct Part: Codable, Equatable, Sendable {
        public var name: String
        public var configuration: LayerConfiguration
        public init(name: String, configuration: LayerConfiguration) {
            self.name = name
            self.configuration = configuration
        }
    }

    /// The float layers the wrapper stands for, as the converter lowers them into one operator: a
    /// Conv2D, DepthwiseConv2D or Dense; then optionally a BatchNormalization (folded into it; the
    /// layer's own activation must then be linear); then optionally an Activation (fused;
    /// only when the activation so far is linear).
    public var layers: [Part]
    /// One weight scale per output channel (per tensor otherwise).
    public var perChannel: Bool
    /// With batch normalization: training steps after which the batch statistics are frozen
    /// (the moving statistics are then used, and no longer updated); `nil` never freezes.
    public var freezeBatchNormAfter: Int?
    /// The output (activation) quantizer.
    public var output: FakeQuantConfiguration

    public init(layers: [Part], perChannel: Bool, freezeBatchNormAfter: Int? = nil, output: FakeQuantConfiguration) {
        self.layers = layers
        self.perChannel = perChannel
        self.freezeBatchNormAfter = freezeBatchNormAfter
        self.output = output
    }

    /// The compute layer's configuration.
    public var compute: LayerConfiguration { layers[0].configuration }

    /// `(momentum, epsilon)` of the folded batch normalization, if any.
    public var batchNormalization: (momentum: Float, epsilon: Float)? {
        for part in layers.dropFirst() {
            if case let .batchNormalization(momentum, epsilon) = part.configuration { return (momentum, epsilon) }
        }
        return nil
    }

    /// The activation applied inside the operator (the compute layer's own, or the fused `Activation`).
    public var fusedActivation: ActivationFunction {
        var activation = ownActivation
        for part in layers.dropFirst() {
            if case let .activation(a) = part.configuration { activation = a }
        }
        return activation
    }

    var ownActivation: ActivationFunction {
        switch compute {
        case let .conv2D(_, _, _, _, activation, _), let .depthwiseConv2D(_, _, _, _, activation, _), let .dense(_, activation, _):
            activation
        default:
            .linear
        }
    }

    var ownBias: Bool {
        switch compute {
        case let .conv2D(_, _, _, _, _, useBias), let .depthwiseConv2D(_, _, _, _, _, useBias), let .dense(_, _, useBias):
            useBias
        default:
            false
        }
    }

    /// The compute layer with another activation and bias setting.
    func computeLayer(activation: ActivationFunction, useBias: Bool) -> any Layer {
        let configuration: LayerConfiguration
        switch compute {
        case let .conv2D(filters, k, s, padding, _, _):
            configuration = .conv2D(filters: filters, kernelSize: k, strides: s, padding: padding, activation: activation, useBias: useBias)
        case let .depthwiseConv2D(k, s, padding, m, _, _):
            configuration = .depthwiseConv2D(kernelSize: k, strides: s, padding: padding, depthMultiplier: m, activation: activation, useBias: useBias)
        case let .dense(units, _, _):
            configuration = .dense(units: units, activation: activation, useBias: useBias)
        default:
            preconditionFailure("FakeQuantWrapper: \(compute) is not a Conv2D, DepthwiseConv2D or Dense")
        }
        return configuration.makeLayer(name: layers[0].name)
    }

    func validate() throws {
        func bad(_ why: String) -> ModelError { ModelError(.badModelFile, "model file: fake-quant wrapper: \(why)") }
        guard let first = layers.first, layers.count <= 3 else { throw bad("it must wrap one to three layers") }
        switch first.configuration {
        case .conv2D, .depthwiseConv2D, .dense: break
        default: throw bad("the first wrapped layer must be a Conv2D, DepthwiseConv2D or Dense")
        }
        var activationSoFar = ownActivation
        guard activationSoFar != .softmax else { throw bad("a wrapped layer's activation cannot be softmax") }
        var sawBatchNorm = false, sawActivation = false
        for part in layers {
            try part.configuration.validate()
            switch part.configuration {
            case .conv2D, .depthwiseConv2D, .dense:
                guard part == first else { throw bad("only the first wrapped layer may be a Conv2D, DepthwiseConv2D or Dense") }
            case .batchNormalization:
                guard !sawBatchNorm, !sawActivation, activationSoFar == .linear else { throw bad("misplaced batch normalization") }
                sawBatchNorm = true
            case .activation(let a):
                guard !sawActivation, activationSoFar == .linear, a != .softmax else { throw bad("misplaced activation") }
                sawActivation = true
                activationSoFar = a
            default:
                throw bad("it cannot wrap \(part.configuration.baseName)")
            }
        }
        if let f = freezeBatchNormAfter, f < 0 { throw bad("negative batch-norm freeze step \(f)") }
        try output.validate()
    }
}

/// A Conv2D, DepthwiseConv2D or Dense layer trained quantization-aware, TFMOT's `QuantizeWrapper`:
/// optional batch normalization folded in, the fused activation, fake-quantized weights and a
/// fake-quantized output — the operator the integer model will run, simulated in float.
///
///     weights    w_q = fakeQuantizeWeights(w)               symmetric narrow-range int8, per output
///                                                          channel (convolutions) or per tensor (Dense)
///     output     y   = fakeQuant(act(conv(x, w_q) + b))     learned range (moving average)
///
/// With a folded BatchNormalization (Jacob et al. 2018, §3.2; the float model lowers the same way,
/// see `Sequential.graph()`): training before the freeze step normalizes with the batch
/// statistics of the float convolution `z = conv(x, w)` and updates the moving statistics;
/// after it, and at inference, the moving statistics are used.
///
///     s = gamma / sqrt(var + eps)                          (batch or moving variance)
///     y = fakeQuant(act(conv(x, fakeQuantizeWeights(w · s)) + bias'))
///     bias' = beta − s·mean_batch(z)        (batch statistics: the conv bias cancels)
///           = (b − moving_mean)·s + beta    (moving statistics: exactly the float lowering's fold)
///
/// The folded weights are what gets fake-quantized, so the int8 weights of the converted model are
/// these very values. Backward is the straight-through estimator through both fake-quants and the
/// exact gradient of everything else, including the batch statistics' dependence on `x` and `w`.
///
/// Parameters, in order: `kernel`, `bias` (if the layer has one), then with batch normalization
/// `gamma`, `beta`, `moving_mean`, `moving_variance`, `batch_norm_steps` (the training steps taken,
/// for the freeze), then the output range `min`, `max`, `batches`. The kernel keeps the Keras layout.
public final class FakeQuantWrapper: Layer, ReplicaMergeable {
    public var name: String
    public var typeName: String { "FakeQuantWrapper" }
    public let settings: FakeQuantWrapperConfiguration
    public var configuration: LayerConfiguration { .fakeQuantWrapper(settings) }
    public var outputActivation: ActivationFunction { settings.fusedActivation }
    public private(set) var outputShape: [Int] = []

    /// The float weights (trainable).
    public private(set) var kernel: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var gamma: Parameter?
    public private(set) var beta: Parameter?
    public private(set) var movingMean: Parameter?
    public private(set) var movingVariance: Parameter?
    private var steps: Parameter?

    /// Runs the operator with the fake-quantized weights (its kernel is overwritten each forward).
    private let inner: any Layer
    /// The float convolution whose outputs give the batch statistics (batch normalization only).
    private let statistics: (any Layer)?
    let output: ActivationQuantizer
    private var channels = 0

    /// When `true`, training forward passes use the output range without updating it.
    public var freezesRanges: Bool {
        get { output.frozen }
        set { output.frozen = newValue }
    }
    /// When `false`, weights and outputs are clamped but not rounded: the function whose
    /// derivative the straight-through estimator is (for gradient checks).
    public var simulatesRounding = true {
        didSet { output.simulatesRounding = simulatesRounding }
    }

    // Caches of the last training forward.
    private enum Fold { case none, batch, moving }
    private var lastFold = Fold.none
    private var lastZ = Tensor(shape: [0])
    private var lastMean: [Float] = []
    private var lastVariance: [Float] = []
    private var lastFactor: [Float] = []        // s = gamma · r
    private var lastInverseStd: [Float] = []    // r = 1 / sqrt(var + eps)

    public init(_ settings: FakeQuantWrapperConfiguration, name: String? = nil) {
        self.settings = settings
        self.name = name ?? "quant_" + (settings.layers.first?.name ?? "layer")
        let bn = settings.batchNormalization != nil
        inner = settings.computeLayer(activation: settings.fusedActivation, useBias: settings.ownBias || bn)
        statistics = bn ? settings.computeLayer(activation: .linear, useBias: false) : nil
        output = ActivationQuantizer(settings.output)
    }

    public var parameters: [Parameter] {
        guard kernel != nil else { return [] }
        return [kernel] + [bias, gamma, beta, movingMean, movingVariance, steps].compactMap { $0 }
            + output.parameters
    }

    /// The learned output range and its int8 grid.
    public var outputRange: (min: Float, max: Float) { output.range }
    public var outputGrid: FakeQuantGrid { output.grid }
    /// Training batches whose outputs held NaN or an infinity (they left the range unchanged).
    public var nonFiniteBatches: Int { output.nonFiniteBatches }
    /// Training steps taken (counted only with batch normalization, for the freeze).
    public var batchNormSteps: Int { steps.map { Int($0.value.storage[0]) } ?? 0 }
    /// `true` once training uses the moving statistics.
    public var batchNormFrozen: Bool {
        guard settings.batchNormalization != nil else { return true }
        guard let f = settings.freezeBatchNormAfter else { return false }
        return batchNormSteps >= f
    }
    /// `true` when training normalizes with batch statistics (no data-parallel replicas then).
    public var usesBatchStatistics: Bool { settings.batchNormalization != nil && !batchNormFrozen }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        try inner.build(inputShape: inputShape, random: &random)
        var scratch = SeededRandom(seed: 0)
        try statistics?.build(inputShape: inputShape, random: &scratch)
        outputShape = inner.outputShape
        channels = outputShape.last ?? 1
        let k = Self.kernelOf(inner)
        kernel = Parameter(name: k.name, value: k.value)
        if settings.batchNormalization != nil {
            bias = settings.ownBias ? Parameter(name: "bias", value: Tensor(shape: [channels])) : nil
            gamma = Parameter(name: "gamma", value: Tensor(shape: [channels], repeating: 1))
            beta = Parameter(name: "beta", value: Tensor(shape: [channels]))
            movingMean = Parameter(name: "moving_mean", value: Tensor(shape: [channels]), trainable: false)
            movingVariance = Parameter(name: "moving_variance", value: Tensor(shape: [channels], repeating: 1), trainable: false)
            steps = Parameter(name: "batch_norm_steps", value: Tensor(shape: [1]), trainable: false)
        } else {
            bias = Self.biasOf(inner)
        }
    }

    static func kernelOf(_ layer: any Layer) -> Parameter {
        switch layer {
        case let l as Conv2D: l.kernel
        case let l as DepthwiseConv2D: l.kernel
        case let l as Dense: l.kernel
        default: preconditionFailure("FakeQuantWrapper: \(layer.typeName) has no kernel")
        }
    }

    static func biasOf(_ layer: any Layer) -> Parameter? {
        switch layer {
        case let l as Conv2D: l.bias
        case let l as DepthwiseConv2D: l.bias
        case let l as Dense: l.bias
        default: nil
        }
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        prepareOperator(input, training: training, random: &random)
        let y = inner.forward(input, training: training, random: &random)
        return output.forward(y, training: training)
    }

    /// Writes the fake-quantized (folded) weights and the (folded) bias into the inner layer.
    private func prepareOperator(_ input: Tensor, training: Bool, random: inout SeededRandom) {
        let c = channels
        let innerKernel = Self.kernelOf(inner)
        guard let (_, epsilon) = settings.batchNormalization else {
            quantizeWeights(kernel.value, into: innerKernel)
            lastFold = .none
            return
        }
        let gammaValues = gamma!.value.storage, betaValues = beta!.value.storage
        let b = bias?.value.storage ?? [Float](repeating: 0, count: c)
        var factor = [Float](repeating: 0, count: c)
        var foldedBias = [Float](repeating: 0, count: c)
        let useBatch = training && !batchNormFrozen
        if training { steps!.value.storage[0] += 1 }
        if useBatch {
            let statisticsLayer = statistics!
            Self.kernelOf(statisticsLayer).value = kernel.value
            let z = statisticsLayer.forward(input, training: true, random: &random)
            let (mean, variance) = Self.channelMoments(z, channels: c)
            let rows = z.count / c
            let momentum = settings.batchNormalization!.momentum
            let unbias = rows > 1 ? Float(rows) / Float(rows - 1) : 1
            var inverseStd = [Float](repeating: 0, count: c)
            for j in 0..<c {
                movingMean!.value.storage[j] = momentum * movingMean!.value.storage[j] + (1 - momentum) * (mean[j] + b[j])
                movingVariance!.value.storage[j] = momentum * movingVariance!.value.storage[j] + (1 - momentum) * variance[j] * unbias
                inverseStd[j] = 1 / (variance[j] + epsilon).squareRoot()
                factor[j] = gammaValues[j] * inverseStd[j]
                foldedBias[j] = betaValues[j] - factor[j] * mean[j]
            }
            lastZ = z
            lastMean = mean
            lastVariance = variance
            lastInverseStd = inverseStd
            lastFold = .batch
        } else {
            // Exactly the float lowering's fold (Lowering.swift), so the int8 weights agree.
            let mean = movingMean!.value.storage, variance = movingVariance!.value.storage
            for j in 0..<c {
                factor[j] = gammaValues[j] / (variance[j] + epsilon).squareRoot()
                foldedBias[j] = (b[j] - mean[j]) * factor[j] + betaValues[j]
            }
            if training {
                lastInverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
                lastMean = mean
                lastFold = .moving
            }
        }
        if training { lastFactor = factor }
        let folded = Tensor(shape: kernel.value.shape, uninitialized: { out in
            kernel.value.storage.withUnsafeBufferPointer { w in
                factor.withUnsafeBufferPointer { f in
                    let rows = w.count / c
                    for r in 0..<rows {
                        for j in 0..<c { out[r * c + j] = w[r * c + j] * f[j] }
                    }
                }
            }
        })
        quantizeWeights(folded, into: innerKernel)
        Self.biasOf(inner)!.value.storage = foldedBias
    }

    private func quantizeWeights(_ weights: Tensor, into target: Parameter) {
        let c = channels, perChannel = settings.perChannel, rounding = simulatesRounding
        if target.value.shape != weights.shape { target.value = Tensor(shape: weights.shape) }
        weights.storage.withUnsafeBufferPointer { w in
            target.value.storage.withUnsafeMutableBufferPointer { q in
                _ = FakeQuantArithmetic.fakeQuantizeWeights(w.baseAddress!, count: w.count, channels: c, perChannel: perChannel,
                                                            into: q.baseAddress!, rounding: rounding)
            }
        }
    }

    /// Per-channel mean and (1/n) variance of rows of `channels` values, two passes in double.
    static func channelMoments(_ z: Tensor, channels c: Int) -> (mean: [Float], variance: [Float]) {
        let rows = z.count / c
        var sum = [Double](repeating: 0, count: c)
        var sq = [Double](repeating: 0, count: c)
        var mean = [Float](repeating: 0, count: c)
        z.storage.withUnsafeBufferPointer { x in
            for r in 0..<rows { for j in 0..<c { sum[j] += Double(x[r * c + j]) } }
            for j in 0..<c { mean[j] = Float(sum[j] / Double(max(rows, 1))) }
            for r in 0..<rows {
                for j in 0..<c {
                    let d = Double(x[r * c + j]) - Double(mean[j])
                    sq[j] += d * d
                }
            }
        }
        return (mean, sq.map { Float($0 / Double(max(rows, 1))) })
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        var g = consume outputGradient
        // The fake-quant's straight-through mask and the fused activation's backward in one pass;
        // the inner layer then starts from the pre-activation gradient.
        let activation = settings.fusedActivation
        output.backward(&g, clamp: activation == .linear ? nil : activation.clampRange)
        let innerOptions = BackwardOptions(needsInputGradient: options.needsInputGradient, gradientBypassesActivation: true)
        let innerKernel = Self.kernelOf(inner)
        switch lastFold {
        case .none:
            let dx = inner.backward(consume g, options: innerOptions)
            swap(&kernel.gradient, &innerKernel.gradient)
            return dx
        case .batch, .moving:
            var dx = inner.backward(consume g, options: innerOptions)
            let c = channels
            let gw = innerKernel.gradient                      // dL / d(folded weights)
            let db = Self.biasOf(inner)!.gradient.storage      // dL / d(folded bias)
            // dL/ds_c = sum_k G[k,c] w[k,c] + (b_c - mean_c) db_c   (b = 0 with batch statistics)
            var dFactor = [Float](repeating: 0, count: c)
            gw.storage.withUnsafeBufferPointer { gp in
                kernel.value.storage.withUnsafeBufferPointer { wp in
                    let rows = wp.count / c
                    for r in 0..<rows { for j in 0..<c { dFactor[j] += gp[r * c + j] * wp[r * c + j] } }
                }
            }
            let b = bias?.value.storage ?? [Float](repeating: 0, count: c)
            for j in 0..<c {
                let offset = lastFold == .batch ? -lastMean[j] : b[j] - lastMean[j]
                dFactor[j] += offset * db[j]
            }
            gamma!.gradient.storage = (0..<c).map { dFactor[$0] * lastInverseStd[$0] }
            beta!.gradient.storage = db
            if let bias { bias.gradient.storage = lastFold == .batch ? [Float](repeating: 0, count: c) : (0..<c).map { lastFactor[$0] * db[$0] } }
            // Direct path: dW = G · s.
            var dw = Tensor(shape: kernel.value.shape, uninitialized: { out in
                gw.storage.withUnsafeBufferPointer { gp in
                    let rows = gp.count / c
                    for r in 0..<rows { for j in 0..<c { out[r * c + j] = gp[r * c + j] * lastFactor[j] } }
                }
            })
            if lastFold == .batch {
                // Through the batch statistics of z = conv(x, w):
                //   dmean_c = -s_c db_c;  dvar_c = dL/ds_c · (-1/2) s_c / (var_c + eps)
                //   dz = dmean/N + dvar · 2 (z - mean) / N
                let epsilon = settings.batchNormalization!.epsilon
                let rows = lastZ.count / c
                let n = Float(max(rows, 1))
                var dMean = [Float](repeating: 0, count: c), dVar = [Float](repeating: 0, count: c)
                for j in 0..<c {
                    dMean[j] = -lastFactor[j] * db[j]
                    dVar[j] = dFactor[j] * -0.5 * lastFactor[j] / (lastVariance[j] + epsilon)
                }
                let dz = Tensor(shape: lastZ.shape, uninitialized: { out in
                    lastZ.storage.withUnsafeBufferPointer { z in
                        for r in 0..<rows {
                            for j in 0..<c {
                                let i = r * c + j
                                out[i] = dMean[j] / n + dVar[j] * 2 * (z[i] - lastMean[j]) / n
                            }
                        }
                    }
                })
                let statisticsLayer = statistics!
                let dx1 = statisticsLayer.backward(dz, options: innerOptions)
                let statisticsKernel = Self.kernelOf(statisticsLayer)
                dw.storage.withUnsafeMutableBufferPointer { d in
                    statisticsKernel.gradient.storage.withUnsafeBufferPointer { s in
                        Vectorized.add(s.baseAddress!, to: d.baseAddress!, count: d.count)
                    }
                }
                if var total = dx, let dx1 {
                    total.storage.withUnsafeMutableBufferPointer { d in
                        dx1.storage.withUnsafeBufferPointer { s in Vectorized.add(s.baseAddress!, to: d.baseAddress!, count: d.count) }
                    }
                    dx = total
                }
                statisticsKernel.value = Tensor(shape: [0])   // release the shared kernel (no copy on the optimizer's update)
                lastZ = Tensor(shape: [0])
            }
            kernel.gradient = dw
            return dx
        }
    }

    public func mergeReplicaState(from replicas: [any Layer]) {
        output.merge(replicas.compactMap { ($0 as? FakeQuantWrapper)?.output })
    }

    /// The float layers this wrapper stands for (as configured, unbuilt) and their parameter
    /// values in order: the compute layer's kernel and bias, the batch normalization's gamma,
    /// beta, moving mean and variance.
    public var floatEquivalent: (layers: [FakeQuantWrapperConfiguration.Part], parameters: [Tensor]) {
        var values = [kernel.value]
        if let bias { values.append(bias.value) }
        if settings.batchNormalization != nil {
            values += [gamma!.value, beta!.value, movingMean!.value, movingVariance!.value]
        }
        return (settings.layers, values)
    }
}
