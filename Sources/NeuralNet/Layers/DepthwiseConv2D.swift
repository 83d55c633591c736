import TensorCore

/// Depthwise 2-D convolution, Keras's `DepthwiseConv2D`: each input channel `i` is convolved
/// with its own `depthMultiplier` filters, giving output channel `i * depthMultiplier + m`.
///
///     y[b, oy, ox, i*M + m] = act(bias[i*M + m] + sum_{ky,kx} x[b, oy*sh - padTop + ky, ox*sw - padLeft + kx, i] * w[ky, kx, i, m])
///
/// The kernel is stored as Keras stores it, `[KH, KW, In, M]`.
public final class DepthwiseConv2D: Layer {
    public var name = "depthwise_conv2d"
    public var typeName: String { "DepthwiseConv2D" }
    public let kernelSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public let depthMultiplier: Int
    public let activation: ActivationFunction
    public let useBias: Bool

    public private(set) var kernel: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var outputShape: [Int] = []
    public var outputActivation: ActivationFunction { activation }

    private var geometry: ConvGeometry!
    private var lastInput = Tensor(shape: [0])
    private var lastOutput = Tensor(shape: [0])

    public convenience init(kernelSize: Int, strides: Int = 1, padding: Padding = .valid, depthMultiplier: Int = 1,
                activation: ActivationFunction = .linear, useBias: Bool = true) {
        self.init(kernelSize: (kernelSize, kernelSize), strides: (strides, strides), padding: padding,
                  depthMultiplier: depthMultiplier, activation: activation, useBias: useBias)
    }

    public init(kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid, depthMultiplier: Int = 1,
                activation: ActivationFunction = .linear, useBias: Bool = true) {
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.depthMultiplier = depthMultiplier
        self.activation = activation
        self.useBias = useBias
    }

    public var parameters: [Parameter] { [kernel].compactMap { $0 } + (bias.map { [$0] } ?? []) }

    public var configuration: LayerConfiguration {
        .depthwiseConv2D(kernelSize: [kernelSize.height, kernelSize.width], strides: [strides.height, strides.width],
                         padding: padding, depthMultiplier: depthMultiplier, activation: activation, useBias: useBias)
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard inputShape.count == 3 else {
            throw ModelError(.shapeMismatch, "\(name) (DepthwiseConv2D) needs inputs [height, width, channels], got \(inputShape)")
        }
        let out = inputShape[2] * depthMultiplier
        let g = ConvGeometry(inputShape: inputShape, kernel: kernelSize, strides: strides, padding: padding, outputChannels: out)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw ModelError(.shapeMismatch, "\(name) (DepthwiseConv2D): a \(kernelSize.height)x\(kernelSize.width) kernel does not fit input \(inputShape)")
        }
        geometry = g
        outputShape = [g.outputHeight, g.outputWidth, out]
        kernel = Parameter(name: "depthwise_kernel",
                           value: glorotUniform(shape: [kernelSize.height, kernelSize.width, inputShape[2], depthMultiplier], random: &random))
        bias = useBias ? Parameter(name: "bias", value: Tensor(shape: [out])) : nil
    }

    /// Calls `body(inputIndex, kernelIndex, outputIndex)` for every multiply of the convolution.
    @inline(__always)
    private func forEachTap(batch: Int, _ body: (Int, Int, Int) -> Void) {
        let g = geometry!
        let cin = g.inputChannels, m = depthMultiplier, cout = g.outputChannels
        for b in 0..<batch {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    let outBase = ((b * g.outputHeight + oy) * g.outputWidth + ox) * cout
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.strideHeight - g.padTop + ky
                        guard iy >= 0 && iy < g.inputHeight else { continue }
                        for kx in 0..<g.kernelWidth {
                            let ix = ox * g.strideWidth - g.padLeft + kx
                            guard ix >= 0 && ix < g.inputWidth else { continue }
                            let inBase = ((b * g.inputHeight + iy) * g.inputWidth + ix) * cin
                            let kBase = (ky * g.kernelWidth + kx) * cin * m
                            for i in 0..<cin {
                                for j in 0..<m { body(inBase + i, kBase + i * m + j, outBase + i * m + j) }
                            }
                        }
                    }
                }
            }
        }
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let batch = input.batchSize
        var output = Tensor(shape: [batch] + outputShape)
        output.storage.withUnsafeMutableBufferPointer { y in
            input.storage.withUnsafeBufferPointer { x in
                kernel.value.storage.withUnsafeBufferPointer { w in
                    forEachTap(batch: batch) { i, k, o in y[o] += x[i] * w[k] }
                }
            }
            activation.applyWithBias(y, width: geometry.outputChannels, bias: bias?.value.storage)
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
        let width = geometry.outputChannels
        if !options.gradientBypassesActivation {
            dz.storage.withUnsafeMutableBufferPointer { d in
                lastOutput.storage.withUnsafeBufferPointer { y in activation.backward(d, output: y, width: width) }
            }
        }
        var dx = Tensor(shape: options.needsInputGradient ? lastInput.shape : [0])
        var dw = [Float](repeating: 0, count: kernel.value.count)
        dz.storage.withUnsafeBufferPointer { d in
            lastInput.storage.withUnsafeBufferPointer { x in
                kernel.value.storage.withUnsafeBufferPointer { w in
                    dx.storage.withUnsafeMutableBufferPointer { dxp in
                        dw.withUnsafeMutableBufferPointer { dwp in
                            let wantInput = options.needsInputGradient
                            forEachTap(batch: batch) { i, k, o in
                                dwp[k] += x[i] * d[o]
                                if wantInput { dxp[i] += w[k] * d[o] }
                            }
                        }
                    }
                }
            }
            if let bias {
                bias.gradient.storage.withUnsafeMutableBufferPointer { db in Vectorized.columnSums(d.baseAddress!, rows: d.count / width, width: width, into: db.baseAddress!) }
            }
        }
        kernel.gradient.storage = dw
        return options.needsInputGradient ? dx : nil
    }
}
