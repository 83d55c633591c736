import TensorCore

/// A fully connected layer, Keras's `Dense`: `y = act(x W + b)` for inputs `[batch, in]`.
///
/// The kernel is stored as Keras stores it, `[in, units]`.
public final class Dense: Layer {
    public var name = "dense"
    public var typeName: String { "Dense" }
    public let units: Int
    public let activation: ActivationFunction
    public let useBias: Bool

    public private(set) var kernel: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var outputShape: [Int] = []
    public var outputActivation: ActivationFunction { activation }

    private var inputFeatures = 0
    private var lastInput = Tensor(shape: [0])
    private var lastOutput = Tensor(shape: [0])

    public init(_ units: Int, activation: ActivationFunction = .linear, useBias: Bool = true) {
        self.units = units
        self.activation = activation
        self.useBias = useBias
    }

    public var parameters: [Parameter] { [kernel].compactMap { $0 } + (bias.map { [$0] } ?? []) }

    public var configuration: LayerConfiguration { .dense(units: units, activation: activation, useBias: useBias) }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard inputShape.count == 1 else {
            throw ModelError(.shapeMismatch, "\(name) (Dense) needs flat inputs [features], got \(inputShape): put a Flatten() before it")
        }
        inputFeatures = inputShape[0]
        outputShape = [units]
        kernel = Parameter(name: "kernel", value: glorotUniform(shape: [inputFeatures, units], random: &random))
        bias = useBias ? Parameter(name: "bias", value: Tensor(shape: [units])) : nil
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let batch = input.batchSize
        var output = Tensor(shape: [batch, units], uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                kernel.value.storage.withUnsafeBufferPointer { w in
                    BLAS.sgemm(m: batch, n: units, k: inputFeatures, a: x.baseAddress!, b: w.baseAddress!, c: y.baseAddress!)
                }
            }
        })
        output.storage.withUnsafeMutableBufferPointer { y in
            activation.applyWithBias(y, width: units, bias: bias?.value.storage)
        }
        if training {
            lastInput = input
            lastOutput = output
        }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        let batch = lastInput.batchSize
        var dz = consume outputGradient
        if !options.gradientBypassesActivation {
            dz.storage.withUnsafeMutableBufferPointer { d in
                lastOutput.storage.withUnsafeBufferPointer { y in activation.backward(d, output: y, width: units) }
            }
        }
        dz.storage.withUnsafeBufferPointer { d in
            lastInput.storage.withUnsafeBufferPointer { x in
                kernel.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    // dW[in, units] = x^T[in, B] x dZ[B, units]
                    BLAS.sgemm(transposeA: true, m: inputFeatures, n: units, k: batch, a: x.baseAddress!, b: d.baseAddress!, c: dw.baseAddress!)
                }
            }
            if let bias {
                bias.gradient.storage.withUnsafeMutableBufferPointer { db in Vectorized.columnSums(d.baseAddress!, rows: d.count / units, width: units, into: db.baseAddress!) }
            }
        }
        guard options.needsInputGradient else { return nil }
        return Tensor(shape: lastInput.shape, uninitialized: { dx in
            dz.storage.withUnsafeBufferPointer { d in
                kernel.value.storage.withUnsafeBufferPointer { w in
                    BLAS.sgemm(transposeB: true, m: batch, n: inputFeatures, k: units, a: d.baseAddress!, b: w.baseAddress!, c: dx.baseAddress!)
                }
            }
        })
    }
}
