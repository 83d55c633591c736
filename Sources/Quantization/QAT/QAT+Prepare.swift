import NeuralNet
import TensorCore

extension QAT {
    /// A quantization-aware copy of `model`, with its current weights (a trained model for QAT
    /// fine-tuning, a freshly built one for QAT from scratch), like TFMOT's `quantize_model`.
    ///
    /// `model` itself is not changed. The copy is not compiled (compile it, as TFMOT requires), keeps
    /// the seed and the epoch count, and is built for the same input shape. See ``QAT`` for where the
    /// fake-quants go.
    ///
    /// - Throws: ``QATError``: `.notBuilt`; `.alreadyPrepared`; `.unknownLayer` when
    ///   ``Options/floatLayers`` names a layer the model does not have; `.unsupportedLayer` naming a
    ///   layer QAT cannot quantize, with the reason and the opt-out that keeps it float.
    public static func prepare(_ model: Sequential, options: Options = Options()) throws -> QATModel {
        guard let inputShape = model.inputShape else {
            throw QATError(.notBuilt, "the model was never built: build it (Sequential(inputShape:) or build(inputShape:)) before QAT.prepare")
        }
        guard !model.isQuantizationAware else {
            throw QATError(.alreadyPrepared, "the model is already quantization-aware; train it with QATModel(model) instead of preparing it again")
        }
        let names = Set(model.layers.map(\.name))
        if let unknown = options.floatLayers.sorted().first(where: { !names.contains($0) }) {
            throw QATError(.unknownLayer, """
                there is no layer named '\(unknown)' to keep in float; the model's layers are \
                \(model.layers.map(\.name).joined(separator: ", "))
                """, layer: unknown)
        }
        var builder = Builder(options: options)
        let inputSettings: FakeQuantConfiguration = switch options.inputObserver {
        case .allValues: .allValues(tensor: "input")
        case .movingAverage(let decay): .movingAverage(tensor: "input", decay: decay, startsFromFirstBatch: options.rangesStartFromFirstBatch)
        }
        builder.add(FakeQuant(inputSettings), name: "quantize_layer")
        let layers = model.layers
        var shape = inputShape
        var i = 0
        while i < layers.count {
            let layer = layers[i]
            let keepFloat = options.floatLayers.contains(layer.name)
            var consumed = 1
            switch layer {
            case is Conv2D, is DepthwiseConv2D, is Dense:
                consumed = try builder.addComputeGroup(layers, at: i, keepFloat: keepFloat)
            case is MaxPooling2D, is AveragePooling2D, is Dropout, is Flatten:
                builder.copy(layer)
            case is GlobalAveragePooling2D:
                builder.copy(layer)
                builder.add(FakeQuant(.movingAverage(tensor: layer.name, decay: options.activationDecay, floatProducer: keepFloat,
                                                     startsFromFirstBatch: options.rangesStartFromFirstBatch)),
                            name: "\(layer.name)_quantize")
            case let activation as Activation where activation.activation == .linear:
                builder.copy(layer)
            case let activation as Activation where activation.activation == .softmax:
                guard shape.count == 1 || keepFloat else {
                    throw unsupported(layer, "a softmax over a tensor of shape \(shape) has no int8 kernel (flatten first)", fix: nil)
                }
                if keepFloat { builder.copy(layer) } else { builder.add(FakeQuantSoftmax(), name: layer.name) }
            case let activation as Activation:
                guard keepFloat else {
                    throw unsupported(layer, """
                        a standalone \(activation.activation) is quantized only fused into the Conv2D, DepthwiseConv2D or \
                        Dense layer right before it (as the converter fuses it)
                        """, fix: "move it into that layer (activation: .\(activation.activation))")
                }
                builder.copyFloat(layer)
            case is BatchNormalization:
                guard keepFloat else {
                    throw unsupported(layer, "batch normalization is folded only right after a Conv2D, DepthwiseConv2D or Dense layer with a linear activation",
                                      fix: "put it right after such a layer")
                }
                builder.copyFloat(layer)
            default:
                guard keepFloat else {
                    throw unsupported(layer, "QAT knows no int8 form of a \(layer.typeName) layer", fix: nil)
                }
                builder.reuseFloat(layer)
            }
            for k in i..<(i + consumed) { shape = layers[k].outputShape }
            i += consumed
        }

        let qat: Sequential
        do {
            qat = try Sequential(layers: builder.layers, seed: model.seed, inputShape: inputShape, epochsTrained: model.epochsTrained)
        } catch {
            throw QATError(.unsupportedLayer, "the quantization-aware model does not build: \(error)")
        }
        for copy in builder.copies { copy() }
        return try QATModel(qat)
    }

    static func unsupported(_ layer: any Layer, _ why: String, fix: String?) -> QATError {
        QATError(.unsupportedLayer, """
            QAT cannot quantize layer '\(layer.name)' (\(layer.typeName)): \(why). \
            \(fix.map { "Either \($0), or keep" } ?? "Keep") it in float32 with \
            QAT.Options(floatLayers: ["\(layer.name)"]) (`quantkit train --qat --float-layer \(layer.name)`).
            """, layer: layer.name)
    }

    /// Collects the layers of the quantization-aware model and, for after it is built, the weight copies.
    struct Builder {
        let options: Options
        var layers: [any Layer] = []
        var copies: [() -> Void] = []

        mutating func add(_ layer: any Layer, name: String) {
            layer.name = name
            layers.append(layer)
        }

        /// A new layer with `layer`'s configuration, name and (after building) weights.
        mutating func copy(_ layer: any Layer) {
            let copy = layer.configuration.makeLayer(name: layer.name)
            layers.append(copy)
            let values = layer.parameters.map(\.value)
            copies.append { for (p, v) in zip(copy.parameters, values) { p.value = v } }
        }

        /// A float copy of a layer opted out of quantization, with a fake-quant after it (its output
        /// feeds int8 operators through a QUANTIZE with that range).
        mutating func copyFloat(_ layer: any Layer) {
            copy(layer)
            addOutputQuantizer(tensor: layer.name, floatProducer: true)
        }

        /// A layer QAT does not know, kept as it is (the same instance) in float.
        mutating func reuseFloat(_ layer: any Layer) {
            layers.append(layer)
            addOutputQuantizer(tensor: layer.name, floatProducer: true)
        }

        mutating func addOutputQuantizer(tensor: String, floatProducer: Bool) {
            add(FakeQuant(.movingAverage(tensor: tensor, decay: options.activationDecay, floatProducer: floatProducer,
                                         startsFromFirstBatch: options.rangesStartFromFirstBatch)),
                name: "\(tensor)_quantize")
        }

        /// A Conv2D, DepthwiseConv2D or Dense with the BatchNormalization and Activation the lowering
        /// folds and fuses into it; returns how many layers that took.
        mutating func addComputeGroup(_ all: [any Layer], at index: Int, keepFloat: Bool) throws -> Int {
            let layer = all[index]
            var group = [layer]
            let own = layer.outputActivation
            var next = index + 1
            var bn: BatchNormalization?
            if own == .linear, next < all.count, let b = all[next] as? BatchNormalization {
                bn = b
                group.append(b)
                next += 1
            }
            if own == .linear, next < all.count, let a = all[next] as? Activation, a.activation != .softmax {
                group.append(a)
                next += 1
            }
            if own == .softmax {
                guard layer is Dense || keepFloat else {
                    throw QAT.unsupported(layer, "a softmax activation inside a \(layer.typeName) has no int8 kernel", fix: "use a linear activation and a Dense + softmax head")
                }
            }
            if keepFloat {
                for member in group { copy(member) }
                // A float Dense with its own softmax produces the model's probabilities: nothing to quantize after it.
                if own != .softmax { addOutputQuantizer(tensor: layer.name, floatProducer: true) }
                return group.count
            }
            var parts = group.map { FakeQuantWrapperConfiguration.Part(name: $0.name, configuration: $0.configuration) }
            if own == .softmax, case let .dense(units, _, useBias) = layer.configuration {
                parts[0].configuration = .dense(units: units, activation: .linear, useBias: useBias)
            }
            let perChannel = layer is Dense ? options.perChannelDense : true
            let wrapper = FakeQuantWrapper(FakeQuantWrapperConfiguration(
                layers: parts, perChannel: perChannel, freezeBatchNormAfter: bn == nil ? nil : options.freezeBatchNormAfter,
                output: .movingAverage(tensor: layer.name, decay: options.activationDecay,
                                       startsFromFirstBatch: options.rangesStartFromFirstBatch)))
            add(wrapper, name: "quant_\(layer.name)")
            let kernel = layer.parameters[0].value
            let bias = layer.parameters.count > 1 ? layer.parameters[1].value : nil
            let statistics = bn.map { [$0.gamma.value, $0.beta.value, $0.movingMean.value, $0.movingVariance.value] }
            copies.append {
                wrapper.kernel.value = kernel
                if let bias { wrapper.bias?.value = bias }
                if let statistics {
                    wrapper.gamma?.value = statistics[0]
                    wrapper.beta?.value = statistics[1]
                    wrapper.movingMean?.value = statistics[2]
                    wrapper.movingVariance?.value = statistics[3]
                }
            }
            if own == .softmax { add(FakeQuantSoftmax(), name: "\(layer.name)/softmax") }
            return group.count
        }
    }
}
