import Datasets
import Foundation
import Kernels
import NeuralNet
import Runtime
import TensorCore

/// A quantization-aware model: a ``NeuralNet/Sequential`` of fake-quant layers made by
/// ``QAT/prepare(_:options:)`` (or loaded from a QAT-trained `.qkmodel`), trained like any model,
/// and converted to an int8 Graph with the ranges it learned — no calibration data.
///
/// `compile`, `fit`, `evaluate` and `predict` are the Sequential's: training updates the ranges and
/// fake-quantizes in the forward pass; `evaluate`/`predict` run the simulated integer model (frozen
/// ranges, int8 softmax outputs), whose predictions the converted model reproduces.
public final class QATModel {
    /// The quantization-aware Sequential itself.
    public let model: Sequential

    /// Wraps a quantization-aware Sequential (from `QAT.prepare`, or `Sequential.load` of a QAT-trained file).
    ///
    /// - Throws: ``QATError`` `.notQuantizationAware` for a plain float model (use `QAT.prepare`),
    ///   `.notBuilt` for an unbuilt one.
    public init(_ model: Sequential) throws {
        guard model.isQuantizationAware else {
            throw QATError(.notQuantizationAware, "the model is not quantization-aware: make one with QAT.prepare(model)")
        }
        guard model.isBuilt else { throw QATError(.notBuilt, "the quantization-aware model was never built") }
        self.model = model
    }

    /// Loads a QAT-trained model file (format version 2).
    public static func load(from url: URL) throws -> QATModel {
        let model = try Sequential.load(from: url)
        guard model.isQuantizationAware else {
            throw QATError(.notQuantizationAware, "\(url.path) holds a float model, not a quantization-aware one: prepare it with QAT.prepare")
        }
        return try QATModel(model)
    }

    /// Saves the model (architecture, weights, learned ranges, batch-norm state, optimizer state) atomically.
    public func save(to url: URL) throws { try model.save(to: url) }

    public func compile(optimizer: any Optimizer = Adam(), loss: Loss = .sparseCategoricalCrossentropy, metrics: [Metric] = [.accuracy]) {
        model.compile(optimizer: optimizer, loss: loss, metrics: metrics)
    }

    /// Trains with fake quantization (see `Sequential.fit`); data-parallel as the float model is
    /// (not while folded batch normalization uses batch statistics).
    @discardableResult
    public func fit(_ data: LabeledImages, epochs: Int = 1, batchSize: Int = 32, validation: LabeledImages? = nil,
                    verbose: Verbosity = .auto, callbacks: [any TrainingCallback] = []) throws -> History {
        try model.fit(data, epochs: epochs, batchSize: batchSize, validation: validation, verbose: verbose, callbacks: callbacks)
    }

    /// Loss and accuracy of the simulated integer model.
    public func evaluate(_ data: LabeledImages, batchSize: Int = 256) throws -> Evaluation {
        try model.evaluate(data, batchSize: batchSize)
    }

    /// Outputs of the simulated integer model.
    public func predict(_ images: Tensor, batchSize: Int = 256) throws -> Tensor {
        try model.predict(images, batchSize: batchSize)
    }

    public func summary() -> String { model.summary() }

    /// Whether training may split batches across two replicas (see `Sequential.dataParallel`).
    public var dataParallel: Bool {
        get { model.dataParallel }
        set { model.dataParallel = newValue }
    }

    /// The plain float model with the trained weights (batch normalization unfolded, as layers).
    public func floatModel() throws -> Sequential { try model.floatEquivalent() }

    /// Every learned activation range, in layer order.
    public var ranges: [QAT.LearnedRange] {
        model.layers.compactMap { layer in
            switch layer {
            case let fq as FakeQuant:
                QAT.LearnedRange(layer: fq.name, tensor: fq.settings.tensor, min: fq.range.min, max: fq.range.max, grid: fq.grid,
                                 nonFiniteBatches: fq.nonFiniteBatches, floatProducer: fq.settings.floatProducer)
            case let w as FakeQuantWrapper:
                QAT.LearnedRange(layer: w.name, tensor: w.settings.output.tensor, min: w.outputRange.min, max: w.outputRange.max,
                                 grid: w.outputGrid, nonFiniteBatches: w.nonFiniteBatches, floatProducer: false)
            default:
                nil
            }
        }
    }

    /// Warnings about degenerate ranges (collapsed, or batches with NaN/infinite values skipped).
    public var rangeWarnings: [String] { ranges.compactMap(\.warning) }

    /// The int8 Graph of the trained model, ready for `TFLiteFile.write` (see ``quantize(input:output:)``).
    public func convert(input: Quantizer.IOType = .int8, output: Quantizer.IOType = .int8) throws -> Graph {
        try quantize(input: input, output: output).graph
    }

    /// Converts the trained model to a full-integer Graph with its learned ranges, and reports how.
    ///
    /// The float model (``floatModel()``) is lowered as for post-training quantization, then the
    /// post-training converter's full-integer machinery runs with the learned parameters in place of
    /// calibration statistics: activation parameters exactly those the fake-quants trained with,
    /// weights quantized from the (folded) float weights with the arithmetic the weight fake-quant
    /// simulated (same int8 values), per channel or per tensor as trained, int32 biases, same-scale
    /// operators inheriting, SOFTMAX at (1/256, −128). Layers kept in float stay float operators, with
    /// DEQUANTIZE/QUANTIZE around them. I/O is int8 or float32 as asked (QUANTIZE/DEQUANTIZE at the edges).
    ///
    /// - Throws: ``QATError`` `.conversionFailed` (a layer that cannot be lowered, a tensor without a
    ///   learned range), or a ``QuantizationError``.
    public func quantize(input: Quantizer.IOType = .int8, output: Quantizer.IOType = .int8) throws -> Quantizer.Result {
        let float = try model.floatEquivalent()
        let graph: Graph
        do {
            graph = try float.graph()
        } catch {
            throw QATError(.conversionFailed, "cannot lower the trained model to a graph: \(error)")
        }
        try Quantizer.checkFloat(graph)
        var tensorIndex: [String: Int] = [:]
        for (t, tensor) in graph.tensors.enumerated() where !tensor.isConstant && tensorIndex[tensor.name] == nil {
            tensorIndex[tensor.name] = t
        }
        var producer: [Int: Int] = [:]
        for (j, op) in graph.operators.enumerated() { for y in op.outputs { producer[y] = j } }

        var learned: [Int: AffineQuantization] = [:]
        var reportRanges: [QuantizationReport.Range] = []
        var notes: [String] = []
        var floatTensors = Set<Int>()
        for r in ranges {
            guard let t = tensorIndex[r.tensor] else {
                throw QATError(.conversionFailed, "the lowered model has no tensor '\(r.tensor)' for the range learned by layer \(r.layer)", layer: r.layer)
            }
            learned[t] = r.grid.quantization
            reportRanges.append(.init(tensor: t, name: r.tensor, min: r.min, max: r.max))
            if r.floatProducer { floatTensors.insert(t) }
            if let w = r.warning { notes.append(w) }
        }
        // Softmax layers kept in float.
        for layer in model.layers {
            if let a = layer as? Activation, a.activation == .softmax, let t = tensorIndex[a.name] { floatTensors.insert(t) }
            if let d = layer as? Dense, d.activation == .softmax {
                for name in [d.name, d.name + "/softmax"] { if let t = tensorIndex[name] { floatTensors.insert(t) } }
            }
        }
        let quantizer = Quantizer(.fullInteger(input: input, output: output))
        var plan = try quantizer.fullIntegerPlan(graph)
        for (j, op) in graph.operators.enumerated() where op.outputs.contains(where: floatTensors.contains) { plan[j] = false }
        var perChannel = [Bool](repeating: true, count: graph.operators.count)
        for case let wrapper as FakeQuantWrapper in model.layers {
            if let t = tensorIndex[wrapper.settings.layers[0].name], let j = producer[t] { perChannel[j] = wrapper.settings.perChannel }
        }
        var result = try quantizer.quantizeFullInteger(graph, plan: plan, activations: .learned(learned, ranges: reportRanges),
                                                       perChannel: perChannel, input: input, output: output)
        result.report.notes += notes
        result.graph.description = "QuantKit int8 model (quantization-aware training)"
        return result
    }
}
