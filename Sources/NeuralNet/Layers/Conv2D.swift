import TensorCore

/// 2-D convolution over NHWC images, Keras's `Conv2D`.
///
///     y[b, oy, ox, o] = act(bias[o] + sum_{ky,kx,i} x[b, oy*sh - padTop + ky, ox*sw - padLeft + kx, i] * w[ky, kx, i, o])
///
/// The kernel is stored as Keras stores it, `[KH, KW, In, Out]` (HWIO); taps outside the
/// image count as zero (TensorFlow's SAME padding, the extra pixel at the bottom/right).
/// Forward and backward run as im2col + OpenBLAS GEMM.
public final class Conv2D: Layer {
    public var name = "conv2d"
    public var typeName: String { "Conv2D" }
    public let filters: Int
    public let kernelSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public let activation: ActivationFunction
    public let useBias: Bool

    public private(set) var kernel: Parameter!
    public private(set) var bias: Parameter?
    public private(set) var outputShape: [Int] = []
    public var outputActivation: ActivationFunction { activation }

    private var geometry: ConvGeometry!
    /// im2col of the last training input, `[batch * OH * OW, KH * KW * In]`.
    private var columns: [Float] = []
    private var lastOutput = Tensor(shape: [0])
    private var lastBatch = 0

    public init(filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid,
                activation: ActivationFunction = .linear, useBias: Bool = true) {
        self.filters = filters
        self.kernelSize = (kernelSize, kernelSize)
        self.strides = (strides, strides)
        self.padding = padding
        self.activation = activation
        self.useBias = useBias
    }

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: ActivationFunction = .linear, useBias: Bool = true) {
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.useBias = useBias
    }

    /// Patch sizes up to this (e.g. a 2x2 kernel on one channel) skip BLAS, which is slow for
    /// such thin products, and use a plain loop over the output channels.
    static let smallDepth = 16

    public var parameters: [Parameter] { [kernel].compactMap { $0 } + (bias.map { [$0] } ?? []) }

    public var configuration: LayerConfiguration {
        .conv2D(filters: filters, kernelSize: [kernelSize.height, kernelSize.width],
                strides: [strides.height, strides.width], padding: padding, activation: activation, useBias: useBias)
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard inputShape.count == 3 else {
            throw ModelError(.shapeMismatch, "\(name) (Conv2D) needs inputs of shape [height, width, channels], got \(inputShape)")
        }
        let g = ConvGeometry(inputShape: inputShape, kernel: kernelSize, strides: strides, padding: padding, outputChannels: filters)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw ModelError(.shapeMismatch, "\(name) (Conv2D): a \(kernelSize.height)x\(kernelSize.width) kernel does not fit input \(inputShape) with \(padding) padding")
        }
        geometry = g
        outputShape = [g.outputHeight, g.outputWidth, filters]
        kernel = Parameter(name: "kernel", value: glorotUniform(shape: [kernelSize.height, kernelSize.width, inputShape[2], filters], random: &random))
        bias = useBias ? Parameter(name: "bias", value: Tensor(shape: [filters])) : nil
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let g = geometry!
        let batch = input.batchSize
        let pixels = g.outputHeight * g.outputWidth
        let rows = batch * pixels
        let depth = g.patchSize
        if columns.count != rows * depth {
            columns = [Float](repeating: 0, count: rows * depth)
        }
        let filters = self.filters, activation = self.activation
        let biasValues = bias?.value.storage
        let output = Tensor(shape: [batch] + outputShape, uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                columns.withUnsafeMutableBufferPointer { col in
                    kernel.value.storage.withUnsafeBufferPointer { w in
                        let (xp, cp, wp, yp) = (x.baseAddress!, col.baseAddress!, w.baseAddress!, y.baseAddress!)
                        if depth <= Conv2D.smallDepth {
                            // Thin patches: im2col, product and epilogue per chunk of images, in cache.
                            Parallel.forEachChunk(batch, costPerItem: pixels * filters) { images in
                                g.im2col(xp, batches: images, into: cp)
                                let r = images.lowerBound * pixels, n = images.count * pixels
                                smallDepthProduct(rows: n, depth: depth, width: filters, cp + r * depth, wp, yp + r * filters)
                                activation.applyWithBias(UnsafeMutableBufferPointer(start: yp + r * filters, count: n * filters),
                                                         width: filters, bias: biasValues)
                            }
                        } else {
                            Parallel.forEachChunk(batch, costPerItem: pixels * depth) { images in
                                g.im2col(xp, batches: images, into: cp)
                            }
                            BLAS.sgemm(m: rows, n: filters, k: depth, a: cp, b: wp, c: yp)
                            Parallel.forEachChunk(rows, costPerItem: filters) { r in
                                activation.applyWithBias(UnsafeMutableBufferPointer(start: yp + r.lowerBound * filters, count: r.count * filters),
                                                         width: filters, bias: biasValues)
                            }
                        }
                    }
                }
            }
        })
        if training {
            lastOutput = output
            lastBatch = batch
        }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        let g = geometry!
        let batch = lastBatch
        let rows = batch * g.outputHeight * g.outputWidth
        let depth = g.patchSize
        let filters = self.filters
        var dz = consume outputGradient
        if !options.gradientBypassesActivation {
            backwardThroughActivation(&dz, output: lastOutput, activation: activation)
        }
        dz.storage.withUnsafeBufferPointer { d in
            columns.withUnsafeBufferPointer { col in
                kernel.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    // dW[K, O] = col^T[K, M] x dZ[M, O]
                    if depth <= Conv2D.smallDepth {
                        parallelSum(into: dw.baseAddress!, count: depth * filters, items: rows, costPerItem: depth * filters) { r, partial in
                            smallDepthTransposedProduct(rows: r.count, depth: depth, width: filters,
                                                        col.baseAddress! + r.lowerBound * depth, d.baseAddress! + r.lowerBound * filters, partial)
                        }
                    } else {
                        BLAS.sgemm(transposeA: true, m: depth, n: filters, k: rows, a: col.baseAddress!, b: d.baseAddress!, c: dw.baseAddress!)
                    }
                }
            }
            if let bias {
                bias.gradient.storage.withUnsafeMutableBufferPointer { db in
                    parallelSum(into: db.baseAddress!, count: filters, items: rows, costPerItem: filters) { r, partial in
                        Vectorized.columnSums(d.baseAddress! + r.lowerBound * filters, rows: r.count, width: filters, into: partial)
                    }
                }
            }
        }
        guard options.needsInputGradient else { return nil }
        // dCol[M, K] = dZ[M, O] x W^T; reuse the columns buffer, then scatter back (col2im).
        dz.storage.withUnsafeBufferPointer { d in
            kernel.value.storage.withUnsafeBufferPointer { w in
                columns.withUnsafeMutableBufferPointer { col in
                    BLAS.sgemm(transposeB: true, m: rows, n: depth, k: filters, a: d.baseAddress!, b: w.baseAddress!, c: col.baseAddress!)
                }
            }
        }
        let imageSize = g.inputHeight * g.inputWidth * g.inputChannels
        // The columns buffer now holds dCol; the next forward rewrites it.
        return Tensor(shape: [batch, g.inputHeight, g.inputWidth, g.inputChannels], uninitialized: { dx in
            columns.withUnsafeBufferPointer { col in
                let (cp, dp) = (col.baseAddress!, dx.baseAddress!)
                Parallel.forEachChunk(batch, costPerItem: imageSize * g.kernelHeight * g.kernelWidth) { images in
                    (dp + images.lowerBound * imageSize).update(repeating: 0, count: images.count * imageSize)
                    g.col2im(cp, batches: images, into: dp)
                }
            }
        })
    }
}

/// Turns dLoss/dOutput into dLoss/dPreActivation in place, in parallel chunks of rows.
func backwardThroughActivation(_ gradient: inout Tensor, output: Tensor, activation: ActivationFunction) {
    if activation == .linear { return }
    let width = output.shape.last ?? 1
    let rows = output.count / width
    gradient.storage.withUnsafeMutableBufferPointer { d in
        output.storage.withUnsafeBufferPointer { y in
            let (dp, yp) = (d.baseAddress!, y.baseAddress!)
            Parallel.forEachChunk(rows, costPerItem: width) { r in
                let o = r.lowerBound * width, n = r.count * width
                activation.backward(UnsafeMutableBufferPointer(start: dp + o, count: n),
                                    output: UnsafeBufferPointer(start: yp + o, count: n), width: width)
            }
        }
    }
}

/// Computes `result = sum over chunks of partial(chunk)` where `partial(range, buffer)` writes a
/// partial result of `count` floats for items `range`: chunks run in parallel, and their
/// results are added in chunk order, so the sum is the same on every run.
func parallelSum(into result: UnsafeMutablePointer<Float>, count: Int, items: Int, costPerItem: Int,
                 _ partial: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
    let chunks = items * costPerItem >= Parallel.minimumWork ? min(Parallel.threadCount, items) : 1
    if chunks <= 1 {
        partial(0..<items, result)
        return
    }
    var scratch = [Float](repeating: 0, count: count * chunks)
    scratch.withUnsafeMutableBufferPointer { sp in
        let base = sp.baseAddress!
        Parallel.forEachChunk(chunks, chunks: chunks) { cs in
            for c in cs {
                let lo = items * c / chunks, hi = items * (c + 1) / chunks
                partial(lo..<hi, base + c * count)
            }
        }
        result.update(from: base, count: count)
        for c in 1..<chunks { Vectorized.add(base + c * count, to: result, count: count) }
    }
}

/// The shapes of a 2-D convolution or pooling window over NHWC input, with im2col / col2im.
struct ConvGeometry: Sendable {
    var inputHeight: Int, inputWidth: Int, inputChannels: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideHeight: Int, strideWidth: Int
    var outputHeight: Int, outputWidth: Int, outputChannels: Int
    var padTop: Int, padLeft: Int

    init(inputShape: [Int], kernel: (Int, Int), strides: (Int, Int), padding: Padding, outputChannels: Int) {
        let h = WindowGeometry(inputSize: inputShape[0], kernelSize: kernel.0, stride: strides.0, padding: padding)
        let w = WindowGeometry(inputSize: inputShape[1], kernelSize: kernel.1, stride: strides.1, padding: padding)
        inputHeight = inputShape[0]; inputWidth = inputShape[1]; inputChannels = inputShape[2]
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideHeight = strides.0; strideWidth = strides.1
        outputHeight = h.outputSize; outputWidth = w.outputSize
        self.outputChannels = outputChannels
        padTop = h.padBefore; padLeft = w.padBefore
    }

    /// Floats in one im2col row: `KH * KW * In`.
    var patchSize: Int { kernelHeight * kernelWidth * inputChannels }

    /// Writes one row of `patchSize` per output pixel: the input patch in (ky, kx, channel)
    /// order, zeros for taps outside the image.
    func im2col(_ x: UnsafePointer<Float>, batches: Range<Int>, into col: UnsafeMutablePointer<Float>) {
        let c = inputChannels
        var row = col + batches.lowerBound * outputHeight * outputWidth * patchSize
        for b in batches {
            let image = x + b * inputHeight * inputWidth * c
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    for ky in 0..<kernelHeight {
                        let iy = oy * strideHeight - padTop + ky
                        for kx in 0..<kernelWidth {
                            let ix = ox * strideWidth - padLeft + kx
                            if iy >= 0 && iy < inputHeight && ix >= 0 && ix < inputWidth {
                                let source = image + (iy * inputWidth + ix) * c
                                if c >= 16 { row.update(from: source, count: c) } else { for i in 0..<c { row[i] = source[i] } }
                            } else {
                                for i in 0..<c { row[i] = 0 }
                            }
                            row += c
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each row's entries back onto the input positions they
    /// came from. `dx` must be zeroed by the caller.
    func col2im(_ col: UnsafePointer<Float>, batches: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
        let c = inputChannels
        var row = col + batches.lowerBound * outputHeight * outputWidth * patchSize
        for b in batches {
            let image = dx + b * inputHeight * inputWidth * c
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    for ky in 0..<kernelHeight {
                        let iy = oy * strideHeight - padTop + ky
                        for kx in 0..<kernelWidth {
                            let ix = ox * strideWidth - padLeft + kx
                            if iy >= 0 && iy < inputHeight && ix >= 0 && ix < inputWidth {
                                Vectorized.add(row, to: image + (iy * inputWidth + ix) * c, count: c)
                            }
                            row += c
                        }
                    }
                }
            }
        }
    }
}

/// `y[r, :] = sum_k a[r, k] * w[k, :]` for a thin `depth` (the im2col product of a first
/// convolution layer), vectorized over the `width` output channels.
@inlinable
func smallDepthProduct(rows: Int, depth: Int, width: Int, _ a: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let out = y + r * width
        let row = a + r * depth
        out.update(repeating: 0, count: width)
        for k in 0..<depth { Vectorized.addScaled(w + k * width, by: row[k], to: out, count: width) }
    }
}

/// `dw[k, :] = sum_r a[r, k] * d[r, :]`, the weight gradient of `smallDepthProduct`.
@inlinable
func smallDepthTransposedProduct(rows: Int, depth: Int, width: Int, _ a: UnsafePointer<Float>, _ d: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>) {
    dw.update(repeating: 0, count: depth * width)
    for r in 0..<rows {
        let row = a + r * depth
        let dr = d + r * width
        for k in 0..<depth { Vectorized.addScaled(dr, by: row[k], to: dw + k * width, count: width) }
    }
}
