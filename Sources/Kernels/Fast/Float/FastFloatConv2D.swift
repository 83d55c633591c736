import TensorCore

/// Float32 CONV_2D as one GEMM per chunk of output pixels: the input patches are gathered into
/// rows (im2col, skipped for 1×1 stride-1 unpadded convolutions), multiplied by the filter with
/// OpenBLAS `sgemm` (which picks its own SIMD kernels for the CPU at run time), then bias and the
/// fused activation are applied.
///
/// Results are within float rounding of ``ReferenceKernels/conv2D(input:filter:bias:output:geometry:activation:)``:
/// the same products, summed in a different order (and with FMA), bias added last.
public final class FastFloatConv2D: @unchecked Sendable {
    /// The geometry of one sample (`batches` is ignored; `run` takes the sample count).
    public let geometry: Conv2DGeometry
    public let activation: ActivationRange<Float>
    /// Filter rows, one per output channel: `[outputChannels][filterHeight × filterWidth × inputChannels]`.
    private let filter: [Float]
    private let bias: [Float]
    /// Patch length (the GEMM depth).
    private let depth: Int
    /// Whether the input already is the patch matrix (1×1 filter, stride 1, no padding).
    private let readsInputDirectly: Bool
    /// For shallow patches (`depth ≤ directDepthLimit`, e.g. a first layer on one input channel) the
    /// filter transposed to `[depth][outputChannels]`: each output pixel is then `depth` vector
    /// multiply-adds over the channels, cheaper than a GEMM call of depth 4.
    private let transposedFilter: [Float]?
    static let directDepthLimit = 16

    /// Pixels per GEMM call: big enough for `sgemm` to be efficient, small enough that the patch
    /// rows of one chunk stay in L2.
    static let pixelsPerChunk = 256

    /// Prepares a grouped-free convolution; returns nil for grouped convolutions (the reference runs those).
    public init?(filter: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, geometry g: Conv2DGeometry,
                 activation: ActivationRange<Float>) {
        guard g.filterInputChannels == g.inputChannels else { return nil }
        precondition(filter.count == g.convFilterCount, "FastFloatConv2D: filter has \(filter.count) values, expected \(g.convFilterCount)")
        precondition(bias == nil || bias!.count == g.outputChannels, "FastFloatConv2D: bias length")
        geometry = g
        self.activation = activation
        self.filter = Array(filter)
        self.bias = bias.map(Array.init) ?? [Float](repeating: 0, count: g.outputChannels)
        depth = g.filterHeight * g.filterWidth * g.inputChannels
        readsInputDirectly = g.filterHeight == 1 && g.filterWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padLeft == 0 && g.outputHeight == g.inputHeight && g.outputWidth == g.inputWidth
        if depth <= Self.directDepthLimit {
            var t = [Float](repeating: 0, count: depth * g.outputChannels)
            for n in 0..<g.outputChannels { for k in 0..<depth { t[k * g.outputChannels + n] = filter[n * depth + k] } }
            transposedFilter = t
        } else {
            transposedFilter = nil
        }
    }

    /// Scratch bytes `run` needs with `threads` threads.
    public func scratchByteCount(threads: Int = 1) -> Int {
        readsInputDirectly ? 0 : max(1, threads) * Self.pixelsPerChunk * depth * MemoryLayout<Float>.stride
    }

    /// Runs `batches` samples. `scratch` holds at least ``scratchByteCount(threads:)`` bytes.
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry
        let inPerSample = g.inputHeight * g.inputWidth * g.inputChannels
        let pixelsPerSample = g.outputHeight * g.outputWidth
        let n = g.outputChannels
        precondition(input.count >= batches * inPerSample && output.count >= batches * pixelsPerSample * n,
                     "FastFloatConv2D.run: buffers too small for \(batches) samples")
        precondition(scratch.count >= scratchByteCount(threads: threads), "FastFloatConv2D.run: scratch too small")
        let totalPixels = batches * pixelsPerSample
        let chunkCount = (totalPixels + Self.pixelsPerChunk - 1) / Self.pixelsPerChunk
        let threads = max(1, min(threads, chunkCount))
        let scratchBase = scratch.baseAddress
        filter.withUnsafeBufferPointer { w in
            FastFloat.forEachSlice(chunkCount, threads: threads) { slot, chunks in
                // Each thread owns slice `slot` of the scratch buffer.
                let patches = scratchBase.map {
                    ($0 + slot * Self.pixelsPerChunk * self.depth * MemoryLayout<Float>.stride)
                        .bindMemory(to: Float.self, capacity: Self.pixelsPerChunk * self.depth)
                }
                for c in chunks {
                    let first = c * Self.pixelsPerChunk
                    let count = min(Self.pixelsPerChunk, totalPixels - first)
                    let rows: UnsafePointer<Float>
                    if let t = self.transposedFilter {
                        self.gatherPatches(input.baseAddress!, firstPixel: first, count: count, into: patches!)
                        self.direct(patches!, count: count, transposed: t, output: output.baseAddress! + first * n)
                        continue
                    } else if self.readsInputDirectly {
                        rows = input.baseAddress! + first * g.inputChannels
                    } else {
                        self.gatherPatches(input.baseAddress!, firstPixel: first, count: count, into: patches!)
                        rows = UnsafePointer(patches!)
                    }
                    let out = output.baseAddress! + first * n
                    BLAS.sgemm(transposeB: true, m: count, n: n, k: self.depth, a: rows, b: w.baseAddress!, c: out)
                    FastFloat.addBiasAndClamp(out, rows: count, bias: self.bias, activation: self.activation)
                }
            }
        }
    }

    /// `out[p][n] = clamp(bias[n] + Σ_k patch[p][k] · t[k][n])`, vectorized over the output channels.
    private func direct(_ patches: UnsafePointer<Float>, count: Int, transposed t: [Float], output: UnsafeMutablePointer<Float>) {
        let n = geometry.outputChannels
        let lo = activation.min, hi = activation.max
        t.withUnsafeBufferPointer { t in
            bias.withUnsafeBufferPointer { b in
                for p in 0..<count {
                    let row = output + p &* n, patch = patches + p &* depth
                    for j in 0..<n { row[j] = 0 }
                    for k in 0..<depth {
                        let v = patch[k], w = t.baseAddress! + k &* n
                        for j in 0..<n { row[j] += v * w[j] }
                    }
                    for j in 0..<n {
                        let x = row[j] + b[j]
                        let lowered = x < lo ? lo : x
                        row[j] = hi < lowered ? hi : lowered
                    }
                }
            }
        }
    }

    /// Writes the patch (im2col row) of `count` output pixels starting at global pixel `firstPixel`;
    /// taps outside the input are 0, which is what the reference's skipped taps contribute.
    private func gatherPatches(_ input: UnsafePointer<Float>, firstPixel: Int, count: Int, into rows: UnsafeMutablePointer<Float>) {
        let g = geometry
        let pixelsPerSample = g.outputHeight * g.outputWidth
        let c = g.inputChannels
        for p in 0..<count {
            let pixel = firstPixel + p
            let b = pixel / pixelsPerSample, r = pixel % pixelsPerSample
            let oy = r / g.outputWidth, ox = r % g.outputWidth
            var dst = rows + p * depth
            let iy0 = oy * g.strideHeight - g.padTop, ix0 = ox * g.strideWidth - g.padLeft
            for ky in 0..<g.filterHeight {
                let iy = iy0 + ky * g.dilationHeight
                for kx in 0..<g.filterWidth {
                    let ix = ix0 + kx * g.dilationWidth
                    if iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth {
                        dst.update(from: input + ((b * g.inputHeight + iy) * g.inputWidth + ix) * c, count: c)
                    } else {
                        dst.update(repeating: 0, count: c)
                    }
                    dst += c
                }
            }
        }
    }
}

/// Float helpers the fast float kernels share.
public enum FastFloat {
    /// Calls `body(slot, range)` for `threads` contiguous slices of `0..<count`, on `threads`
    /// threads (the caller's included) when `threads > 1`. `slot` is the slice number, so each
    /// thread can own its part of a scratch buffer.
    @inlinable
    public static func forEachSlice(_ count: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
        let threads = max(1, min(threads, count))
        if threads == 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        Parallel.run(threads) { t in
            let lo = count * t / threads, hi = count * (t + 1) / threads
            if lo < hi { body(t, lo..<hi) }
        }
    }

    /// `row[n] = clamp(row[n] + bias[n])` for `rows` rows of `bias.count` values.
    @inlinable
    public static func addBiasAndClamp(_ c: UnsafeMutablePointer<Float>, rows: Int, bias: [Float], activation: ActivationRange<Float>) {
        let n = bias.count
        let lo = activation.min, hi = activation.max
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows {
                let row = c + r &* n
                for j in 0..<n {
                    let x = row[j] + b[j]
                    let lowered = x < lo ? lo : x
                    row[j] = hi < lowered ? hi : lowered
                }
            }
        }
    }
}
