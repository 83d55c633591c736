import TensorCore

extension Sequential {
    /// A model of `layers`, built for `inputShape`, whose epoch count continues from `epochsTrained`
    /// (`QAT.prepare`: a model fine-tuned with QAT continues the float model's epochs).
    ///
    /// - Throws: `ModelError` naming the first layer whose input does not fit.
    public convenience init(layers: [any Layer], seed: UInt64, inputShape: [Int], epochsTrained: Int) throws {
        self.init(layers: layers, seed: seed)
        try build(inputShape: inputShape)
        self.epochsTrained = max(0, epochsTrained)
    }

    /// `true` when the model holds quantization-aware layers (``FakeQuant``, ``FakeQuantWrapper``,
    /// ``FakeQuantSoftmax``): a model made by `QAT.prepare` or loaded from a QAT-trained file.
    public var isQuantizationAware: Bool {
        layers.contains { $0 is FakeQuant || $0 is FakeQuantWrapper || $0 is FakeQuantSoftmax }
    }

    /// The plain float model a quantization-aware model stands for, with its trained weights:
    /// fake-quants removed, each ``FakeQuantWrapper`` replaced by the layers it wraps (its
    /// batch normalization kept as a layer, with its moving statistics, so that lowering folds it
    /// exactly as the simulation did), ``FakeQuantSoftmax`` by `Activation(.softmax)`. Layer names are
    /// kept, so the lowered graph's tensors carry the names the fake-quants refer to.
    ///
    /// A model without quantization-aware layers comes back as an independent copy.
    ///
    /// - Throws: `ModelError.notReady` for a model that was never built.
    public func floatEquivalent() throws -> Sequential {
        guard let inputShape else {
            throw ModelError(.notReady, "the model was never built: call build(inputShape:) or fit first")
        }
        var parts: [FakeQuantWrapperConfiguration.Part] = []
        var values: [Tensor] = []
        for layer in layers {
            switch layer {
            case is FakeQuant:
                continue
            case let softmax as FakeQuantSoftmax:
                parts.append(.init(name: softmax.name, configuration: .activation(.softmax)))
            case let wrapper as FakeQuantWrapper:
                let (wrapped, parameters) = wrapper.floatEquivalent
                parts += wrapped
                values += parameters
            default:
                parts.append(.init(name: layer.name, configuration: layer.configuration))
                values += layer.parameters.map(\.value)
            }
        }
        let model = Sequential(layers: parts.map { $0.configuration.makeLayer(name: $0.name) }, seed: seed)
        try model.build(inputShape: inputShape)
        let targets = model.parameters
        precondition(targets.count == values.count && zip(targets, values).allSatisfy { $0.value.shape == $1.shape },
                     "floatEquivalent: the float layers' parameters do not match the quantization-aware layers' values")
        for (target, value) in zip(targets, values) { target.value = value }
        model.epochsTrained = epochsTrained
        if let loss { model.compile(optimizer: Adam(), loss: loss, metrics: metrics) }
        return model
    }
}
