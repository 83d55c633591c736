import TensorCore
import Datasets

/// Builds the layer list of a `Sequential { ... }` block.
@resultBuilder
public enum LayerBuilder {
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    public static func buildEither(first: [any Layer]) -> [any Layer] { first }
    public static func buildEither(second: [any Layer]) -> [any Layer] { second }
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}

/// A linear stack of layers, Keras's `Sequential`.
///
/// ```swift
/// let model = Sequential {
///     Conv2D(filters: 64, kernelSize: 2, padding: .same, activation: .relu)
///     MaxPooling2D()
///     Flatten()
///     Dense(10, activation: .softmax)
/// }
/// model.compile(optimizer: Adam(), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
/// let history = try model.fit(train, epochs: 5, batchSize: 64, validation: val)
/// ```
///
/// The model is built (its weights created from `seed`, Glorot-uniform kernels and zero biases)
/// for the first input shape it sees, or explicitly with `build(inputShape:)`. The same seed
/// gives the same weights and the same training run, bit for bit, on the same machine.
/// `Sequential` is a reference type, like a Keras model: `copy()` makes an independent one.
public final class Sequential {
    /// The layers, in order.
    public let layers: [any Layer]
    /// The seed of weight initialization, shuffling and dropout.
    public let seed: UInt64
    /// The input shape without the batch dimension, once built.
    public private(set) var inputShape: [Int]?
    /// The optimizer, loss and metrics set by `compile`.
    public private(set) var optimizer: (any Optimizer)?
    public private(set) var loss: Loss?
    public private(set) var metrics: [Metric] = []
    /// Epochs trained so far (continues across `fit` calls and save/load).
    public internal(set) var epochsTrained = 0
    /// Draws dropout masks during training.
    var trainingRandom: SeededRandom
    /// Whether `fit` may split batches across two replicas on a multi-core machine (see `fit`).
    public var dataParallel = true

    /// A model of the layers in the block; pass `inputShape` (e.g. `[28, 28, 1]`) to build it now.
    public convenience init(inputShape: [Int]? = nil, seed: UInt64 = 0, @LayerBuilder _ content: () -> [any Layer]) {
        self.init(layers: content(), seed: seed)
        if let inputShape {
            // A shape that does not fit is reported again by the first fit/evaluate; build
            // explicitly with `build(inputShape:)` to get the error here.
            try? build(inputShape: inputShape)
        }
    }

    /// A model of `layers`, unbuilt.
    public init(layers: [any Layer], seed: UInt64 = 0) {
        self.layers = layers
        self.seed = seed
        self.trainingRandom = SeededRandom(seed: seed ^ 0xD80F_0A11)
        var used: [String: Int] = [:]
        for layer in layers {
            let base = layer.configuration.baseName
            if layer.name == base {
                let n = used[base, default: 0]
                layer.name = n == 0 ? base : "\(base)_\(n)"
            }
            used[base, default: 0] += 1
        }
    }

    /// `true` once the weights exist.
    public var isBuilt: Bool { inputShape != nil }

    /// Creates every layer's weights for inputs of `inputShape` (no batch dimension).
    ///
    /// - Throws: `ModelError` naming the first layer whose input does not fit.
    public func build(inputShape: [Int]) throws {
        guard !layers.isEmpty else { throw ModelError(.notReady, "the model has no layers") }
        var random = SeededRandom(seed: seed)
        var shape = inputShape
        for layer in layers {
            try layer.build(inputShape: shape, random: &random)
            shape = layer.outputShape
        }
        self.inputShape = inputShape
    }

    /// Sets the optimizer, loss and metrics for `fit` and `evaluate`.
    public func compile(optimizer: any Optimizer = Adam(), loss: Loss = .sparseCategoricalCrossentropy,
                        metrics: [Metric] = [.accuracy]) {
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
    }

    /// The output shape without the batch dimension (after building).
    public var outputShape: [Int] { layers.last?.outputShape ?? [] }

    /// All parameters of all layers, in layer order.
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    /// The parameters the optimizer updates.
    public var trainableParameters: [Parameter] { parameters.filter(\.trainable) }

    /// Total number of scalars in all parameters (1,641,674 for the seed CNN).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// The forward pass over one batch.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x, training: training, random: &trainingRandom) }
        return x
    }

    /// Predictions for `images` (`[N] + inputShape`), computed in batches.
    public func predict(_ images: Tensor, batchSize: Int = 256) throws -> Tensor {
        try ensureBuilt(Array(images.shape.dropFirst()))
        let n = images.batchSize
        var out = [Float]()
        out.reserveCapacity(n * outputShape.reduce(1, *))
        var start = 0
        while start < n {
            let end = min(start + batchSize, n)
            out.append(contentsOf: forward(images.slice(batch: start..<end), training: false).storage)
            start = end
        }
        return Tensor(shape: [n] + outputShape, storage: out)
    }

    /// Loss and accuracy on `data` (inference mode).
    public func evaluate(_ data: LabeledImages, batchSize: Int = 256) throws -> Evaluation {
        try ensureBuilt(data.sampleShape)
        let loss = self.loss ?? .sparseCategoricalCrossentropy
        var totalLoss = 0.0
        var correct = 0
        var start = 0
        while start < data.count {
            let end = min(start + batchSize, data.count)
            let (x, labels) = data.batch(start..<end)
            let p = forward(x, training: false)
            let (l, c) = loss.evaluate(p, labels: labels)
            totalLoss += l * Double(end - start)
            correct += c
            start = end
        }
        let n = Double(max(data.count, 1))
        return Evaluation(loss: totalLoss / n, accuracy: Double(correct) / n, count: data.count)
    }

    func ensureBuilt(_ sampleShape: [Int]) throws {
        if let inputShape {
            guard inputShape == sampleShape else {
                throw ModelError(.shapeMismatch, "the model takes inputs of shape \(inputShape), the data has \(sampleShape)")
            }
        } else {
            try build(inputShape: sampleShape)
        }
    }

    /// A Keras-style table of layers, output shapes and parameter counts.
    public func summary() -> String {
        var lines = [String]()
        let rule = String(repeating: "=", count: 65)
        func row(_ a: String, _ b: String, _ c: String) -> String {
            a.padding(toLength: 29, withPad: " ", startingAt: 0) + b.padding(toLength: 26, withPad: " ", startingAt: 0) + c
        }
        lines.append("Model: \"sequential\"")
        lines.append(String(repeating: "_", count: 65))
        lines.append(row(" Layer (type)", "Output Shape", "Param #"))
        lines.append(rule)
        for layer in layers {
            let shape = isBuilt ? "(None, " + layer.outputShape.map(String.init).joined(separator: ", ") + ")" : "(unbuilt)"
            lines.append(row(" \(layer.name) (\(layer.typeName))", shape, "\(layer.parameterCount)"))
            lines.append("")
        }
        lines.removeLast()
        lines.append(rule)
        let total = parameterCount
        let trainable = trainableParameters.reduce(0) { $0 + $1.value.count }
        lines.append("Total params: \(grouped(total))")
        lines.append("Trainable params: \(grouped(trainable))")
        lines.append("Non-trainable params: \(grouped(total - trainable))")
        lines.append(String(repeating: "_", count: 65))
        return lines.joined(separator: "\n")
    }

    /// An independent model with the same configuration, weights and training state
    /// (the optimizer is not copied: compile the copy).
    public func copy() throws -> Sequential {
        let clone = Sequential(layers: layers.map { $0.configuration.makeLayer(name: $0.name) }, seed: seed)
        if let inputShape {
            try clone.build(inputShape: inputShape)
            for (dst, src) in zip(clone.parameters, parameters) { dst.value = src.value }
        }
        clone.epochsTrained = epochsTrained
        clone.loss = loss
        clone.metrics = metrics
        return clone
    }
}

/// Loss and accuracy of a model on a dataset.
public struct Evaluation: Codable, Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public var count: Int
}

/// `1641674` written as `1,641,674`.
public func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return n < 0 ? "-" + out : out
}
