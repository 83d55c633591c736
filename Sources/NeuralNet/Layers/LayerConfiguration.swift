import TensorCore

/// Everything that recreates a layer except its weights: what a model file stores.
public enum LayerConfiguration: Codable, Equatable, Sendable {
    case conv2D(filters: Int, kernelSize: [Int], strides: [Int], padding: Padding, activation: ActivationFunction, useBias: Bool)
    case depthwiseConv2D(kernelSize: [Int], strides: [Int], padding: Padding, depthMultiplier: Int, activation: ActivationFunction, useBias: Bool)
    case dense(units: Int, activation: ActivationFunction, useBias: Bool)
    case maxPooling2D(poolSize: [Int], strides: [Int], padding: Padding)
    case averagePooling2D(poolSize: [Int], strides: [Int], padding: Padding)
    case globalAveragePooling2D
    case batchNormalization(momentum: Float, epsilon: Float)
    case dropout(rate: Float)
    case flatten
    case activation(ActivationFunction)
    /// Quantization-aware training: an activation fake-quant (``FakeQuant``).
    case fakeQuant(FakeQuantConfiguration)
    /// Quantization-aware training: a layer group with fake-quantized weights and output (``FakeQuantWrapper``).
    indirect case fakeQuantWrapper(FakeQuantWrapperConfiguration)
    /// Quantization-aware training: softmax with the int8 output grid at inference (``FakeQuantSoftmax``).
    case fakeQuantSoftmax

    /// A new, unbuilt layer with this configuration and `name`.
    public func makeLayer(name: String) -> any Layer {
        let layer: any Layer
        switch self {
        case let .conv2D(filters, k, s, padding, activation, useBias):
            layer = Conv2D(filters: filters, kernelSize: (k[0], k[1]), strides: (s[0], s[1]),
                           padding: padding, activation: activation, useBias: useBias)
        case let .depthwiseConv2D(k, s, padding, multiplier, activation, useBias):
            layer = DepthwiseConv2D(kernelSize: (k[0], k[1]), strides: (s[0], s[1]), padding: padding,
                                    depthMultiplier: multiplier, activation: activation, useBias: useBias)
        case let .dense(units, activation, useBias):
            layer = Dense(units, activation: activation, useBias: useBias)
        case let .maxPooling2D(p, s, padding):
            layer = MaxPooling2D(poolSize: (p[0], p[1]), strides: (s[0], s[1]), padding: padding)
        case let .averagePooling2D(p, s, padding):
            layer = AveragePooling2D(poolSize: (p[0], p[1]), strides: (s[0], s[1]), padding: padding)
        case .globalAveragePooling2D:
            layer = GlobalAveragePooling2D()
        case let .batchNormalization(momentum, epsilon):
            layer = BatchNormalization(momentum: momentum, epsilon: epsilon)
        case let .dropout(rate):
            layer = Dropout(rate)
        case .flatten:
            layer = Flatten()
        case let .activation(a):
            layer = Activation(a)
        case let .fakeQuant(settings):
            layer = FakeQuant(settings)
        case let .fakeQuantWrapper(settings):
            layer = FakeQuantWrapper(settings)
        case .fakeQuantSoftmax:
            layer = FakeQuantSoftmax()
        }
        layer.name = name
        return layer
    }

    /// Checks the numbers in a configuration read from an untrusted file.
    func validate() throws {
        func pair(_ v: [Int], _ what: String) throws {
            guard v.count == 2, v.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else {
                throw ModelError(.badModelFile, "model file: \(what) \(v) must be two numbers in 1...4096")
            }
        }
        switch self {
        case let .conv2D(filters, k, s, _, _, _):
            try pair(k, "kernel size"); try pair(s, "strides")
            guard filters >= 1 && filters <= 1 << 16 else { throw ModelError(.badModelFile, "model file: filters \(filters) out of range") }
        case let .depthwiseConv2D(k, s, _, m, _, _):
            try pair(k, "kernel size"); try pair(s, "strides")
            guard m >= 1 && m <= 4096 else { throw ModelError(.badModelFile, "model file: depth multiplier \(m) out of range") }
        case let .dense(units, _, _):
            guard units >= 1 && units <= 1 << 20 else { throw ModelError(.badModelFile, "model file: units \(units) out of range") }
        case let .maxPooling2D(p, s, _), let .averagePooling2D(p, s, _):
            try pair(p, "pool size"); try pair(s, "strides")
        case let .batchNormalization(momentum, epsilon):
            guard momentum.isFinite, epsilon.isFinite, epsilon > 0 else { throw ModelError(.badModelFile, "model file: bad batch-norm settings") }
        case let .dropout(rate):
            guard rate >= 0 && rate < 1 else { throw ModelError(.badModelFile, "model file: dropout rate \(rate) not in [0, 1)") }
        case .globalAveragePooling2D, .flatten, .activation, .fakeQuantSoftmax:
            break
        case let .fakeQuant(settings):
            try settings.validate()
        case let .fakeQuantWrapper(settings):
            try settings.validate()
        }
    }

    /// The Keras base name used to name instances (`conv2d`, `max_pooling2d`, ...).
    var baseName: String {
        switch self {
        case .conv2D: "conv2d"
        case .depthwiseConv2D: "depthwise_conv2d"
        case .dense: "dense"
        case .maxPooling2D: "max_pooling2d"
        case .averagePooling2D: "average_pooling2d"
        case .globalAveragePooling2D: "global_average_pooling2d"
        case .batchNormalization: "batch_normalization"
        case .dropout: "dropout"
        case .flatten: "flatten"
        case .activation: "activation"
        case .fakeQuant: "fake_quant"
        case .fakeQuantWrapper: "fake_quant_wrapper"
        case .fakeQuantSoftmax: "fake_quant_softmax"
        }
    }
}

/// Glorot (Xavier) uniform initialization, Keras's default kernel initializer.
///
///     limit = sqrt(6 / (fanIn + fanOut)),  values ~ U(-limit, limit)
///
/// For a kernel of shape `[..., in, out]`, `fanIn = receptive * in`, `fanOut = receptive * out`,
/// where `receptive` is the product of the leading (spatial) dimensions, as Keras computes it.
func glorotUniform(shape: [Int], random: inout SeededRandom) -> Tensor {
    precondition(shape.count >= 2, "glorotUniform: a kernel has at least 2 dimensions")
    let receptive = shape.dropLast(2).reduce(1, *)
    let fanIn = receptive * shape[shape.count - 2]
    let fanOut = receptive * shape[shape.count - 1]
    let limit = (6.0 / Float(fanIn + fanOut)).squareRoot()
    return Tensor(shape: shape, uninitialized: { buffer in
        for i in buffer.indices { buffer[i] = random.nextFloat(in: -limit, limit) }
    })
}
