import TensorCore
import Kernels
import NeuralNet
import Runtime

/// A layer that cannot be expressed in the Graph's operator set.
public struct LoweringError: Error, CustomStringConvertible, Sendable {
    public var layer: String
    public var message: String
    public var description: String { "cannot lower layer '\(layer)': \(message)" }
}

extension Sequential {
    /// The model as a float32 inference Graph, the form every later step (quantization, the
    /// interpreter, the `.tflite` writer) speaks.
    ///
    /// The mapping is the TFLite converter's: Keras kernels are transposed to TFLite layouts
    /// (Conv2D HWIO -> OHWI, Dense `[in, out]` -> `[out, in]`, DepthwiseConv2D `[KH, KW, I, M]` ->
    /// `[1, KH, KW, I*M]`); a ReLU/ReLU6 activation — in the layer or as the next `Activation`
    /// layer — becomes the operator's fused activation; BatchNormalization right after a
    /// convolution or dense layer is folded into its weights and bias
    /// (`w' = w * gamma / sqrt(var + eps)`, `b' = (b - mean) * gamma / sqrt(var + eps) + beta`);
    /// Dropout disappears; Flatten becomes RESHAPE to `[batch, features]`; GlobalAveragePooling2D
    /// becomes MEAN over axes 1 and 2; softmax becomes SOFTMAX (beta 1). Convolutions and dense
    /// layers always get a bias (zeros when the layer has none), as CONV_2D requires.
    ///
    /// A quantization-aware model (`QAT.prepare`) lowers as its float equivalent
    /// (`floatEquivalent()`: the trained float weights, fake-quants left out); `QATModel.convert`
    /// gives its int8 form.
    ///
    /// - Parameter batchSize: the leading dimension of the graph's tensors (1, as the converter writes).
    /// - Throws: `LoweringError` naming a layer that has no equivalent (a standalone ReLU that
    ///   cannot be fused, batch normalization that does not follow a convolution or dense layer).
    public func graph(batchSize: Int = 1) throws -> Graph {
        guard let inputShape else {
            throw LoweringError(layer: "model", message: "the model was never built: call build(inputShape:) or fit first")
        }
        if isQuantizationAware { return try floatEquivalent().graph(batchSize: batchSize) }
        var builder = GraphBuilder()
        var current = builder.addTensor(GraphTensor(name: "input", shape: [batchSize] + inputShape, elementType: .float32))
        let inputIndex = current
        var shape = [batchSize] + inputShape
        var index = 0
        while index < layers.count {
            let layer = layers[index]
            var consumed = 1
            switch layer {
            case let conv as Conv2D:
                var (w, b) = convWeights(conv)
                let (activation, used) = try fusedActivation(after: index, own: conv.activation, folding: &w, &b, outputs: conv.filters, layout: .ohwi)
                consumed += used
                let out = [batchSize] + conv.outputShape
                current = builder.add(
                    .conv2D(.init(padding: conv.padding.graphPadding, strideWidth: conv.strides.width, strideHeight: conv.strides.height,
                                  fusedActivation: activation)),
                    inputs: [current, builder.constant("\(conv.name)/kernel", w), builder.constant("\(conv.name)/bias", b)],
                    output: GraphTensor(name: conv.name, shape: out, elementType: .float32))
                shape = out
            case let dw as DepthwiseConv2D:
                let k = dw.kernel.value
                var w = Tensor(shape: [1] + k.shape.prefix(2) + [k.shape[2] * k.shape[3]], storage: k.storage)
                var b = dw.bias?.value ?? Tensor(shape: [k.shape[2] * k.shape[3]])
                let (activation, used) = try fusedActivation(after: index, own: dw.activation, folding: &w, &b,
                                                             outputs: b.count, layout: .lastAxis)
                consumed += used
                let out = [batchSize] + dw.outputShape
                current = builder.add(
                    .depthwiseConv2D(.init(padding: dw.padding.graphPadding, strideWidth: dw.strides.width, strideHeight: dw.strides.height,
                                           depthMultiplier: dw.depthMultiplier, fusedActivation: activation)),
                    inputs: [current, builder.constant("\(dw.name)/depthwise_kernel", w), builder.constant("\(dw.name)/bias", b)],
                    output: GraphTensor(name: dw.name, shape: out, elementType: .float32))
                shape = out
            case let dense as Dense:
                var (w, b) = denseWeights(dense)
                let (activation, used) = try fusedActivation(after: index, own: dense.activation, folding: &w, &b, outputs: dense.units, layout: .ohwi)
                consumed += used
                let out = [batchSize, dense.units]
                current = builder.add(
                    .fullyConnected(.init(fusedActivation: activation)),
                    inputs: [current, builder.constant("\(dense.name)/kernel", w), builder.constant("\(dense.name)/bias", b)],
                    output: GraphTensor(name: dense.name, shape: out, elementType: .float32))
                shape = out
            case let pool as MaxPooling2D:
                let out = [batchSize] + pool.outputShape
                current = builder.add(
                    .maxPool2D(.init(padding: pool.padding.graphPadding, strideWidth: pool.strides.width, strideHeight: pool.strides.height,
                                     filterWidth: pool.poolSize.width, filterHeight: pool.poolSize.height)),
                    inputs: [current], output: GraphTensor(name: pool.name, shape: out, elementType: .float32))
                shape = out
            case let pool as AveragePooling2D:
                let out = [batchSize] + pool.outputShape
                current = builder.add(
                    .averagePool2D(.init(padding: pool.padding.graphPadding, strideWidth: pool.strides.width, strideHeight: pool.strides.height,
                                         filterWidth: pool.poolSize.width, filterHeight: pool.poolSize.height)),
                    inputs: [current], output: GraphTensor(name: pool.name, shape: out, elementType: .float32))
                shape = out
            case let gap as GlobalAveragePooling2D:
                let out = [batchSize] + gap.outputShape
                let axes = builder.addTensor(GraphTensor(name: "\(gap.name)/axes", shape: [2], elementType: .int32,
                                                         data: ConstantData(int32: [1, 2])))
                current = builder.add(.mean(.init(keepDims: false)), inputs: [current, axes],
                                      output: GraphTensor(name: gap.name, shape: out, elementType: .float32))
                shape = out
            case let flatten as Flatten:
                // The new shape keeps the batch dimension open (-1), as TensorFlow's converter writes it,
                // so runtimes can resize the input to a batch (LiteRT's resize_tensor_input).
                let out = [batchSize] + flatten.outputShape
                let newShape = builder.addTensor(GraphTensor(name: "\(flatten.name)/shape", shape: [2], elementType: .int32,
                                                             data: ConstantData(int32: [-1, Int32(flatten.outputShape[0])])))
                current = builder.add(.reshape(.init()), inputs: [current, newShape],
                                      output: GraphTensor(name: flatten.name, shape: out, elementType: .float32))
                shape = out
            case is Dropout:
                break
            case let activation as Activation:
                switch activation.activation {
                case .linear:
                    break
                case .softmax:
                    guard shape.count == 2 else {
                        throw LoweringError(layer: activation.name, message: "softmax over a tensor of shape \(shape); flatten first")
                    }
                    current = builder.add(.softmax(.init(beta: 1)), inputs: [current],
                                          output: GraphTensor(name: activation.name, shape: shape, elementType: .float32))
                case .relu, .relu6:
                    throw LoweringError(layer: activation.name, message: """
                        a standalone \(activation.activation) can only be fused into a directly preceding Conv2D, \
                        DepthwiseConv2D or Dense layer with a linear activation
                        """)
                }
            case is BatchNormalization:
                throw LoweringError(layer: layer.name, message: "batch normalization must directly follow a Conv2D, DepthwiseConv2D or Dense layer to be folded")
            default:
                throw LoweringError(layer: layer.name, message: "layer type \(layer.typeName) has no TFLite equivalent here")
            }
            // A softmax inside a Dense/Conv layer becomes its own SOFTMAX op.
            if let last = layers[index] as? Dense, last.activation == .softmax {
                current = builder.add(.softmax(.init(beta: 1)), inputs: [current],
                                      output: GraphTensor(name: "\(last.name)/softmax", shape: shape, elementType: .float32))
            }
            index += consumed
        }
        var graph = Graph(tensors: builder.tensors, operators: builder.operators, inputs: [inputIndex], outputs: [current],
                          name: "main")
        graph.description = "QuantKit float model"
        try graph.validate()
        return graph
    }

    private enum KernelLayout { case ohwi, lastAxis }

    /// The activation to fuse into the layer at `index` and how many following layers that
    /// absorbs (a BatchNormalization folded into `w`/`b`, then an `Activation`).
    private func fusedActivation(after index: Int, own: ActivationFunction, folding w: inout Tensor, _ b: inout Tensor,
                                 outputs: Int, layout: KernelLayout) throws -> (FusedActivation, Int) {
        var used = 0
        var activation = own
        var next = index + 1
        if own == .linear, next < layers.count, let bn = layers[next] as? BatchNormalization {
            fold(bn, into: &w, &b, outputs: outputs, layout: layout)
            used += 1
            next += 1
        }
        if activation == .linear, next < layers.count, let a = layers[next] as? Activation, a.activation != .softmax {
            activation = a.activation
            used += 1
        }
        switch activation {
        case .linear, .softmax: return (.none, used)
        case .relu: return (.relu, used)
        case .relu6: return (.relu6, used)
        }
    }

    private func fold(_ bn: BatchNormalization, into w: inout Tensor, _ b: inout Tensor, outputs: Int, layout: KernelLayout) {
        let gamma = bn.gamma.value.storage, beta = bn.beta.value.storage
        let mean = bn.movingMean.value.storage, variance = bn.movingVariance.value.storage
        let factor = (0..<outputs).map { gamma[$0] / (variance[$0] + bn.epsilon).squareRoot() }
        let per = w.count / outputs
        for i in 0..<w.count {
            let channel = layout == .ohwi ? i / per : i % outputs
            w.storage[i] *= factor[channel]
        }
        for c in 0..<outputs { b.storage[c] = (b.storage[c] - mean[c]) * factor[c] + beta[c] }
    }

    /// Conv2D kernel HWIO -> OHWI, and the bias (zeros when absent).
    private func convWeights(_ conv: Conv2D) -> (Tensor, Tensor) {
        let k = conv.kernel.value
        let (kh, kw, ci, co) = (k.shape[0], k.shape[1], k.shape[2], k.shape[3])
        let w = Tensor(shape: [co, kh, kw, ci], uninitialized: { out in
            k.storage.withUnsafeBufferPointer { src in
                for y in 0..<kh { for x in 0..<kw { for i in 0..<ci { for o in 0..<co {
                    out[((o * kh + y) * kw + x) * ci + i] = src[((y * kw + x) * ci + i) * co + o]
                } } } }
            }
        })
        return (w, conv.bias?.value ?? Tensor(shape: [co]))
    }

    /// Dense kernel `[in, out]` -> `[out, in]`, and the bias (zeros when absent).
    private func denseWeights(_ dense: Dense) -> (Tensor, Tensor) {
        let k = dense.kernel.value
        let (n, m) = (k.shape[0], k.shape[1])
        let w = Tensor(shape: [m, n], uninitialized: { out in
            k.storage.withUnsafeBufferPointer { src in
                for i in 0..<n { for o in 0..<m { out[o * n + i] = src[i * m + o] } }
            }
        })
        return (w, dense.bias?.value ?? Tensor(shape: [m]))
    }
}

/// Appends tensors and operators to a graph under construction.
struct GraphBuilder {
    var tensors: [GraphTensor] = []
    var operators: [GraphOperator] = []

    mutating func addTensor(_ tensor: GraphTensor) -> Int {
        tensors.append(tensor)
        return tensors.count - 1
    }

    /// A float32 constant tensor.
    mutating func constant(_ name: String, _ value: Tensor) -> Int {
        addTensor(GraphTensor(name: name, shape: value.shape, elementType: .float32, data: ConstantData(float32: value.storage)))
    }

    /// Adds an operator with a new output tensor and returns the output's index.
    mutating func add(_ options: GraphOperator.Options, inputs: [Int], output: GraphTensor) -> Int {
        let out = addTensor(output)
        operators.append(GraphOperator(options, inputs: inputs, outputs: [out]))
        return out
    }
}

extension NeuralNet.Padding {
    /// The Graph's padding enum.
    var graphPadding: GraphOperator.Padding { self == .same ? .same : .valid }
}
