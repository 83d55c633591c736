import TensorCore

/// Max pooling over NHWC images, Keras's `MaxPooling2D` (default 2x2, strides = pool size, VALID).
///
/// Backward sends each output's gradient to the input element that won the max (the first
/// one, in row-major window order, on ties).
public final class MaxPooling2D: Layer {
    public var name = "max_pooling2d"
    public var typeName: String { "MaxPooling2D" }
    public let poolSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }

    private var geometry: ConvGeometry!
    /// Per output element, the window tap (`ky * KW + kx`) that holds the maximum.
    private var winners: [Int32] = []
    private var lastBatch = 0

    public init(poolSize: Int = 2, strides: Int? = nil, padding: Padding = .valid) {
        self.poolSize = (poolSize, poolSize)
        self.strides = (strides ?? poolSize, strides ?? poolSize)
        self.padding = padding
    }

    public init(poolSize: (Int, Int), strides: (Int, Int)? = nil, padding: Padding = .valid) {
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
    }

    public var configuration: LayerConfiguration {
        .maxPooling2D(poolSize: [poolSize.height, poolSize.width], strides: [strides.height, strides.width], padding: padding)
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        geometry = try poolingGeometry(name: name, type: typeName, inputShape: inputShape, pool: poolSize, strides: strides, padding: padding)
        outputShape = [geometry.outputHeight, geometry.outputWidth, inputShape[2]]
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let g = geometry!
        let batch = input.batchSize
        let c = g.inputChannels
        let outCount = batch * g.outputHeight * g.outputWidth * c
        if training {
            if winners.count != outCount { winners = [Int32](repeating: 0, count: outCount) }
            lastBatch = batch
        }
        return Tensor(shape: [batch] + outputShape, uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                winners.withUnsafeMutableBufferPointer { win in
                  let (xp, yp, wp) = (x.baseAddress!, y.baseAddress!, win.baseAddress)
                  let outPerImage = g.outputHeight * g.outputWidth * c
                  Parallel.forEachChunk(batch, costPerItem: outPerImage * g.kernelHeight * g.kernelWidth) { images in
                    var o = images.lowerBound * outPerImage
                    for b in images {
                        let image = xp + b * g.inputHeight * g.inputWidth * c
                        for oy in 0..<g.outputHeight {
                            let y0 = oy * g.strideHeight - g.padTop
                            let ky0 = max(0, -y0), ky1 = min(g.kernelHeight, g.inputHeight - y0)
                            for ox in 0..<g.outputWidth {
                                let x0 = ox * g.strideWidth - g.padLeft
                                let kx0 = max(0, -x0), kx1 = min(g.kernelWidth, g.inputWidth - x0)
                                let out = yp + o
                                let first = image + ((y0 + ky0) * g.inputWidth + x0 + kx0) * c
                                for ch in 0..<c { out[ch] = first[ch] }
                                if training {
                                    let arg = wp! + o
                                    let firstTap = Int32(ky0 * g.kernelWidth + kx0)
                                    for ch in 0..<c { arg[ch] = firstTap }
                                    for ky in ky0..<ky1 {
                                        for kx in kx0..<kx1 {
                                            let tap = image + ((y0 + ky) * g.inputWidth + x0 + kx) * c
                                            trackMaximum(tap, into: out, winners: arg, tap: Int32(ky * g.kernelWidth + kx), count: c)
                                        }
                                    }
                                } else {
                                    for ky in ky0..<ky1 {
                                        for kx in kx0..<kx1 {
                                            Vectorized.maximum(image + ((y0 + ky) * g.inputWidth + x0 + kx) * c, into: out, count: c)
                                        }
                                    }
                                }
                                o += c
                            }
                        }
                    }
                  }
                }
            }
        })
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        let g = geometry!
        let c = g.inputChannels
        let imageSize = g.inputHeight * g.inputWidth * c
        let outPerImage = g.outputHeight * g.outputWidth * c
        // Offset of each window tap relative to the window's top-left input element.
        let tapOffsets = (0..<(g.kernelHeight * g.kernelWidth)).map { t in
            ((t / g.kernelWidth) * g.inputWidth + t % g.kernelWidth) * c
        }
        return Tensor(shape: [lastBatch, g.inputHeight, g.inputWidth, c], uninitialized: { d in
            outputGradient.storage.withUnsafeBufferPointer { dy in
                winners.withUnsafeBufferPointer { win in
                    tapOffsets.withUnsafeBufferPointer { taps in
                        let (dp, dyp, wp) = (d.baseAddress!, dy.baseAddress!, win.baseAddress!)
                        Parallel.forEachChunk(lastBatch, costPerItem: imageSize) { images in
                            (dp + images.lowerBound * imageSize).update(repeating: 0, count: images.count * imageSize)
                            var o = images.lowerBound * outPerImage
                            for b in images {
                                let image = dp + b * imageSize
                                for oy in 0..<g.outputHeight {
                                    let y0 = oy * g.strideHeight - g.padTop
                                    for ox in 0..<g.outputWidth {
                                        let corner = image + ((y0 * g.inputWidth) + ox * g.strideWidth - g.padLeft) * c
                                        for ch in 0..<c {
                                            corner[taps[Int(wp[o + ch])] + ch] += dyp[o + ch]
                                        }
                                        o += c
                                    }
                                }
                            }
                        }
                    }
                }
            }
        })
    }
}

/// `out[i] = max(out[i], x[i])`, recording `tap` in `winners[i]` where `x[i]` is larger.
@inlinable
func trackMaximum(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>,
                  tap: Int32, count n: Int) {
    let t = SIMD8<Int32>(repeating: tap)
    var i = 0
    while i + 8 <= n {
        let v = Vectorized.load(x + i)
        var o = Vectorized.load(out + i)
        var w = UnsafeRawPointer(winners + i).loadUnaligned(as: SIMD8<Int32>.self)
        let better = v .> o
        o.replace(with: v, where: better)
        w.replace(with: t, where: better)
        Vectorized.store(o, out + i)
        UnsafeMutableRawPointer(winners + i).storeBytes(of: w, as: SIMD8<Int32>.self)
        i += 8
    }
    while i < n {
        if x[i] > out[i] { out[i] = x[i]; winners[i] = tap }
        i += 1
    }
}

/// Average pooling over NHWC images, Keras's `AveragePooling2D`.
///
/// With SAME padding each window averages only the taps inside the image, as TensorFlow does.
public final class AveragePooling2D: Layer {
    public var name = "average_pooling2d"
    public var typeName: String { "AveragePooling2D" }
    public let poolSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }

    private var geometry: ConvGeometry!
    private var lastBatch = 0

    public init(poolSize: Int = 2, strides: Int? = nil, padding: Padding = .valid) {
        self.poolSize = (poolSize, poolSize)
        self.strides = (strides ?? poolSize, strides ?? poolSize)
        self.padding = padding
    }

    public init(poolSize: (Int, Int), strides: (Int, Int)? = nil, padding: Padding = .valid) {
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
    }

    public var configuration: LayerConfiguration {
        .averagePooling2D(poolSize: [poolSize.height, poolSize.width], strides: [strides.height, strides.width], padding: padding)
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        geometry = try poolingGeometry(name: name, type: typeName, inputShape: inputShape, pool: poolSize, strides: strides, padding: padding)
        outputShape = [geometry.outputHeight, geometry.outputWidth, inputShape[2]]
    }

    /// Calls `body(outputIndex, inputIndexOfFirstChannel..., count)` for every window.
    private func forEachWindow(batch: Int, _ body: (_ o: Int, _ taps: [Int], _ scale: Float) -> Void) {
        let g = geometry!
        let c = g.inputChannels
        var o = 0
        var taps = [Int]()
        for b in 0..<batch {
            let imageBase = b * g.inputHeight * g.inputWidth * c
            for oy in 0..<g.outputHeight {
                let y0 = oy * g.strideHeight - g.padTop
                let ky0 = max(0, -y0), ky1 = min(g.kernelHeight, g.inputHeight - y0)
                for ox in 0..<g.outputWidth {
                    let x0 = ox * g.strideWidth - g.padLeft
                    let kx0 = max(0, -x0), kx1 = min(g.kernelWidth, g.inputWidth - x0)
                    taps.removeAll(keepingCapacity: true)
                    for ky in ky0..<ky1 {
                        for kx in kx0..<kx1 { taps.append(imageBase + ((y0 + ky) * g.inputWidth + (x0 + kx)) * c) }
                    }
                    body(o, taps, 1 / Float(max(taps.count, 1)))
                    o += c
                }
            }
        }
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let batch = input.batchSize
        let c = geometry.inputChannels
        if training { lastBatch = batch }
        var output = Tensor(shape: [batch] + outputShape)
        input.storage.withUnsafeBufferPointer { x in
            output.storage.withUnsafeMutableBufferPointer { y in
                forEachWindow(batch: batch) { o, taps, scale in
                    for ch in 0..<c {
                        var sum: Float = 0
                        for t in taps { sum += x[t + ch] }
                        y[o + ch] = sum * scale
                    }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        let g = geometry!
        let c = g.inputChannels
        var dx = Tensor(shape: [lastBatch, g.inputHeight, g.inputWidth, c])
        dx.storage.withUnsafeMutableBufferPointer { d in
            outputGradient.storage.withUnsafeBufferPointer { dy in
                forEachWindow(batch: lastBatch) { o, taps, scale in
                    for ch in 0..<c {
                        let share = dy[o + ch] * scale
                        for t in taps { d[t + ch] += share }
                    }
                }
            }
        }
        return dx
    }
}

/// Mean over height and width, Keras's `GlobalAveragePooling2D`: `[B, H, W, C] -> [B, C]`.
public final class GlobalAveragePooling2D: Layer {
    public var name = "global_average_pooling2d"
    public var typeName: String { "GlobalAveragePooling2D" }
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }
    public var configuration: LayerConfiguration { .globalAveragePooling2D }
    private var inputShape: [Int] = []
    private var lastBatch = 0

    public init() {}

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard inputShape.count == 3 else {
            throw ModelError(.shapeMismatch, "\(name) (GlobalAveragePooling2D) needs inputs [height, width, channels], got \(inputShape)")
        }
        self.inputShape = inputShape
        outputShape = [inputShape[2]]
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let batch = input.batchSize
        if training { lastBatch = batch }
        let pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        var output = Tensor(shape: [batch, c])
        input.storage.withUnsafeBufferPointer { x in
            output.storage.withUnsafeMutableBufferPointer { y in
                for b in 0..<batch {
                    for p in 0..<pixels {
                        let base = (b * pixels + p) * c
                        for ch in 0..<c { y[b * c + ch] += x[base + ch] }
                    }
                    for ch in 0..<c { y[b * c + ch] /= Float(pixels) }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        let pixels = inputShape[0] * inputShape[1], c = inputShape[2]
        let scale = 1 / Float(pixels)
        return Tensor(shape: [lastBatch] + inputShape, uninitialized: { d in
            outputGradient.storage.withUnsafeBufferPointer { dy in
                for b in 0..<lastBatch {
                    for p in 0..<pixels {
                        for ch in 0..<c { d[(b * pixels + p) * c + ch] = dy[b * c + ch] * scale }
                    }
                }
            }
        })
    }
}

func poolingGeometry(name: String, type: String, inputShape: [Int], pool: (Int, Int), strides: (Int, Int), padding: Padding) throws -> ConvGeometry {
    guard inputShape.count == 3 else {
        throw ModelError(.shapeMismatch, "\(name) (\(type)) needs inputs [height, width, channels], got \(inputShape)")
    }
    let g = ConvGeometry(inputShape: inputShape, kernel: pool, strides: strides, padding: padding, outputChannels: inputShape[2])
    guard g.outputHeight > 0, g.outputWidth > 0 else {
        throw ModelError(.shapeMismatch, "\(name) (\(type)): a \(pool.0)x\(pool.1) window does not fit input \(inputShape) with \(padding) padding")
    }
    return g
}
