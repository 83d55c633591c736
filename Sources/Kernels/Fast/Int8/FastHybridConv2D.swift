import CKernels

/// Dynamic-range (hybrid) CONV_2D: each float image quantized at run time, int8 filter, exact
/// int8 × int8 sums on the ``Int8GEMM`` engine (im2col, padded taps filled with the image's zero
/// point), then the reference's float expression:
///
///     per-channel:  out = clamp(float(acc) * w_scale[o] * sf + bias[o])
///     per-tensor:   out = clamp((0 + float(acc) * (sf * w_scale)) + bias[o])
///
/// so the outputs are bit-identical to ``ReferenceKernels/hybridConv2D(input:filter:bias:output:geometry:parameters:scratch:)``.
/// Grouped convolutions are not handled (`init` returns nil). The output stage runs in C
/// (`qk_hybrid_conv_output_*`) on the AVX2 and AVX-512 backends, in Swift on the portable one.
///
/// With ``FusedMaxPool`` the kernel writes `MAX_POOL_2D(VALID)` of that output instead, as the
/// reference pool computes it from the stored values (`m = -FLT_MAX`, `m < v ? v : m` over the window
/// in (fy, fx) order, then the pool's clamp), so the pair's output is bit-identical and the
/// convolution's full-size output is never stored. The image is computed in bands of pooled rows.
public final class FastHybridConv2D: @unchecked Sendable {
    /// A MAX_POOL_2D with VALID padding applied to the convolution's float output (the float kernel's type).
    public typealias FusedMaxPool = FastFloatConv2D.FusedMaxPool

    /// The geometry; `batches` is ignored (``run(input:output:batches:scratch:threads:)`` takes it).
    public let geometry: Conv2DGeometry
    /// The constants the kernel was prepared with.
    public let parameters: HybridConvParameters
    /// The pool fused after the convolution, if any.
    public let fusedMaxPool: FusedMaxPool?
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The packed weights (filter rows in (ky, kx, i) order for convolutions).
    public let weights: PackedInt8Weights
    /// Output height and width of the kernel: the pool's when one is fused, else the convolution's.
    public let outputHeight: Int
    public let outputWidth: Int
    private let bias: AlignedArray<Float>?
    private let patches: Int8Patches
    private let tilePixels: Int
    /// With a pool: convolution columns a pool reads, pooled rows per band, and a window's accumulator
    /// row offsets (int32 elements, from the window's first row; (fy, fx) order).
    private let usedWidth: Int
    private let bandRows: Int
    private let poolWindow: AlignedArray<Int>?
    /// With a pool on `.avx512amx`: the implicit GEMM over a padded band (accumulator rows
    /// `paddedWidth` apart instead of `usedWidth`), when the geometry allows it.
    private let implicit: Int8ImplicitConv?
    /// Whether the convolution runs as an implicit GEMM on AMX tiles (see ``Int8ImplicitConv``).
    public var readsPaddedInput: Bool { implicit != nil }

    /// Prepares the kernel from an OHWI filter and an optional float bias.
    public init?(filter: UnsafeBufferPointer<Int8>, bias b: UnsafeBufferPointer<Float>?, geometry g: Conv2DGeometry,
                 parameters p: HybridConvParameters, fusedMaxPool pool: FusedMaxPool? = nil, backend: SIMDBackend = .best) {
        guard g.filterInputChannels == g.inputChannels else { return nil }
        precondition(backend.isSupported, "FastHybridConv2D: backend \(backend) not supported by this CPU")
        precondition(filter.count == g.convFilterCount, "FastHybridConv2D: filter has \(filter.count) values, geometry needs \(g.convFilterCount)")
        precondition(b == nil || b!.count == g.outputChannels, "FastHybridConv2D: bias has \(b!.count) values for \(g.outputChannels) channels")
        precondition(p.weightScales.count == 1 || p.weightScales.count == g.outputChannels,
                     "FastHybridConv2D: \(p.weightScales.count) scales for \(g.outputChannels) channels")
        geometry = g
        parameters = p
        fusedMaxPool = pool
        self.backend = backend
        patches = Int8Patches(geometry: g)
        let packed = PackedInt8Weights(weights: filter, outputCount: g.outputChannels, depth: patches.depth)
        weights = packed
        bias = b.map { b in
            let array = AlignedArray<Float>(repeating: 0, count: b.count)
            for i in 0..<b.count { array[i] = b[i] }
            return array
        }
        tilePixels = min(1024, max(4, (96 * 1024 / (patches.depth + 4 * packed.paddedOutputCount)) / 4 * 4))
        if let pool {
            outputHeight = g.outputHeight >= pool.filterHeight ? (g.outputHeight - pool.filterHeight) / pool.strideHeight + 1 : 0
            outputWidth = g.outputWidth >= pool.filterWidth ? (g.outputWidth - pool.filterWidth) / pool.strideWidth + 1 : 0
            let used = outputWidth == 0 ? 0 : (outputWidth - 1) * pool.strideWidth + pool.filterWidth
            usedWidth = used
            // About half a tile of convolution pixels per band: the band's im2col rows and sums stay
            // small, so less of the next layer's weights (the seed FC's 1.6 MB) is pushed out of L2.
            // Measured on the seed model: 56-pixel bands about 5% faster per inference than whole-image ones.
            bandRows = max(1, min(outputHeight, tilePixels / 2 / max(1, pool.strideHeight * used)))
            let implicit = backend == .avx512amx ? Int8ImplicitConv(geometry: g, usedWidth: used) : nil
            let pitch = implicit?.paddedWidth ?? used
            poolWindow = FastInt8.windowOffsets(height: pool.filterHeight, width: pool.filterWidth, pitch: pitch,
                                                unit: packed.paddedOutputCount)
            self.implicit = implicit
        } else {
            outputHeight = g.outputHeight
            outputWidth = g.outputWidth
            usedWidth = 0
            bandRows = 0
            poolWindow = nil
            implicit = nil
        }
    }

    private var imageSize: Int { geometry.inputHeight * geometry.inputWidth * geometry.inputChannels }

    /// Output elements for `batches` images.
    public func outputCount(batches: Int) -> Int { batches * outputHeight * outputWidth * geometry.outputChannels }

    /// GEMM rows of one unit of work: a tile of output pixels, or a band's convolution pixels.
    private var slotPixels: Int {
        guard let pool = fusedMaxPool else { return tilePixels }
        return ((bandRows - 1) * pool.strideHeight + pool.filterHeight) * usedWidth
    }

    private var slotBytes: Int {
        if let implicit, let pool = fusedMaxPool {
            let convRows = (bandRows - 1) * pool.strideHeight + pool.filterHeight
            return ScratchCarver.bytes(implicit.paddedBytes(convRows: convRows), of: UInt8.self)
                + ScratchCarver.bytes(implicit.accumulatorRows(convRows: convRows) * weights.paddedOutputCount, of: Int32.self)
        }
        return ScratchCarver.bytes(slotPixels * patches.depth, of: UInt8.self)
            + ScratchCarver.bytes(slotPixels * weights.paddedOutputCount, of: Int32.self)
    }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:)`` needs: one quantized image and,
    /// per thread, im2col rows and int32 sums.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + ScratchCarver.bytes(imageSize, of: Int8.self) + max(1, threads) * slotBytes
    }

    /// Runs `batches` images: `input` `[batches, H, W, C]`, `output` `[batches, outputHeight, outputWidth, O]`.
    ///
    /// Allocates nothing; with `threads > 1` each image's output pixels (or pooled rows) are split
    /// across threads (the image is quantized first, on the calling thread).
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry, p = parameters
        let n = g.outputChannels, npad = weights.paddedOutputCount, depth = patches.depth
        precondition(input.count >= batches * imageSize, "FastHybridConv2D.run: input has \(input.count) values for \(batches) images")
        precondition(output.count >= outputCount(batches: batches),
                     "FastHybridConv2D.run: output has \(output.count) values, needs \(outputCount(batches: batches))")
        let threads = max(1, threads)
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastHybridConv2D")
        guard batches > 0, n > 0, outputHeight > 0, outputWidth > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let q = carver.take(imageSize, of: Int8.self)
        let slotBytes = self.slotBytes, slotPixels = self.slotPixels
        let slots = UncheckedSlot(carver.take(threads * slotBytes, of: UInt8.self), stride: slotBytes, count: threads)
        for b in 0..<batches {
            let image = UnsafeBufferPointer(start: x + b * imageSize, count: imageSize)
            let quantized = UnsafeMutableBufferPointer(start: q, count: imageSize)
            var sf: Float
            var zp: Int32 = 0
            if p.isPerChannel {
                (sf, zp) = HybridInputQuantization.asymmetric(image, into: quantized, laneRounding: p.laneRounding, backend: backend)
            } else {
                sf = HybridInputQuantization.symmetric(image, into: quantized, laneRounding: p.laneRounding, backend: backend)
                sf *= p.weightScales[0]
            }
            let stage = OutputStage(kernel: self, scaling: sf, correction: 128 &+ zp)
            let padByte = UInt8(truncatingIfNeeded: zp) ^ 0x80
            p.weightScales.withUnsafeBufferPointer { scales in weights.rowSums.withUnsafeBufferPointer { sums in
                let columns = OutputStage.Columns(sums: sums.baseAddress!, scales: scales.baseAddress!)
                if let pool = fusedMaxPool, let window = poolWindow {
                    // Bands of pooled rows; at least one band per thread.
                    let bandRows = min(self.bandRows, max(1, (outputHeight + threads - 1) / threads))
                    let bands = (outputHeight + bandRows - 1) / bandRows
                    let pw = outputWidth, sh = pool.strideHeight, sw = pool.strideWidth
                    let pitch = implicit?.paddedWidth ?? usedWidth
                    let aBytes = implicit.map { ScratchCarver.bytes($0.paddedBytes(convRows: (bandRows - 1) * sh + pool.filterHeight), of: UInt8.self) }
                        ?? ScratchCarver.bytes(slotPixels * depth, of: UInt8.self)
                    FastInt8.forEachSlice(bands, threads: threads) { slot, range in
                        let a = slots[slot]
                        let c = UnsafeMutableRawPointer(a + aBytes).bindMemory(to: Int32.self, capacity: (slotBytes - aBytes) / 4)
                        for band in range {
                            let p0 = band * bandRows, p1 = min(outputHeight, p0 + bandRows)
                            let cy0 = p0 * sh, convRows = (p1 - p0 - 1) * sh + pool.filterHeight
                            if let implicit {
                                implicit.pad(image: q, cy0: cy0, convRows: convRows, padByte: padByte, into: a)
                                implicit.multiply(padded: a, convRows: convRows, weights: weights, c: c, cRowStride: npad)
                            } else {
                                for r in 0..<convRows {
                                    patches.gatherSpan(image: q, oy: cy0 + r, ox0: 0, count: usedWidth, padByte: padByte,
                                                       into: a + r * usedWidth * depth)
                                }
                                Int8GEMM.multiply(a: a, rowStride: depth, rows: convRows * usedWidth, activations: .unsigned,
                                                  weights: weights, blocks: 0..<weights.blockCount, c: c, cRowStride: npad,
                                                  backend: backend)
                            }
                            // Pooled pixel px of row pr reads the window's accumulator rows from conv pixel
                            // ((pr - p0) * sh, px * sw) of the band, `pitch` accumulator rows a band row.
                            for pr in p0..<p1 {
                                stage.run(acc: c + (pr - p0) * sh * pitch * npad, accStride: sw * npad, rows: pw,
                                          window: window, pool: pool, columns: columns,
                                          out: y + ((b * outputHeight + pr) * pw) * n)
                            }
                        }
                    }
                } else {
                    let pixels = g.outputHeight * g.outputWidth
                    let tilePixels = min(self.tilePixels, max(4, (pixels + threads - 1) / threads))
                    let tiles = (pixels + tilePixels - 1) / tilePixels
                    FastInt8.forEachSlice(tiles, threads: threads) { slot, range in
                        let a = slots[slot]
                        let c = UnsafeMutableRawPointer(a + ScratchCarver.bytes(slotPixels * depth, of: UInt8.self))
                            .bindMemory(to: Int32.self, capacity: slotPixels * npad)
                        for t in range {
                            let first = t * tilePixels, count = min(tilePixels, pixels - first)
                            patches.gatherRows(input: q, first: first, count: count, padByte: padByte, into: a)
                            Int8GEMM.multiply(a: a, rowStride: depth, rows: count, activations: .unsigned, weights: weights,
                                              blocks: 0..<weights.blockCount, c: c, cRowStride: npad, backend: backend)
                            stage.run(acc: c, accStride: npad, rows: count, window: nil, pool: nil, columns: columns,
                                      out: y + (b * pixels + first) * n)
                        }
                    }
                }
            } }
        }
    }

    /// The float output stage of one image: sums (GEMM rows of `npad` int32) to the reference's
    /// float expression, optionally max-pooled over a window of rows.
    private struct OutputStage {
        /// Per-channel constants, borrowed for the duration of one image.
        struct Columns: @unchecked Sendable {
            let sums: UnsafePointer<Int32>
            let scales: UnsafePointer<Float>
        }

        let kernel: FastHybridConv2D
        /// `sf` (per-channel) or `sf * w_scale` (per-tensor).
        let scaling: Float
        /// The GEMM read `q + 128`: `Σ (q + 128 or zp + 128) w - (128 + zp) Σ w = Σ_{existing taps} (q - zp) w`.
        let correction: Int32

        /// `rows` outputs (pooled outputs with a window), `n` channels each, written `n` apart at `out`;
        /// output `r` reads the accumulator rows at `acc + r * accStride (+ window[w])`.
        func run(acc: UnsafeMutablePointer<Int32>, accStride: Int, rows: Int, window: AlignedArray<Int>?, pool: FusedMaxPool?,
                 columns: Columns, out: UnsafeMutablePointer<Float>) {
            let n = kernel.geometry.outputChannels
            let perChannel = kernel.parameters.isPerChannel
            let activation = kernel.parameters.activation.floatRange
            let poolClamp = pool?.activation ?? activation
            let scales: UnsafePointer<Float>? = perChannel ? columns.scales : nil
            let bias: UnsafePointer<Float>? = kernel.bias.map { UnsafePointer($0.pointer) }
            let windowOffsets = window.map { UnsafePointer($0.pointer) }, windowCount = window?.count ?? 0
            switch kernel.backend {
            case .avx512vnni, .avx512amx:
                qk_hybrid_conv_output_avx512(acc, accStride, rows, n, windowOffsets, windowCount, correction, columns.sums, scales,
                                             scaling, bias, activation.min, activation.max, poolClamp.min, poolClamp.max, out, n)
            case .avx2:
                qk_hybrid_conv_output_avx2(acc, accStride, rows, n, windowOffsets, windowCount, correction, columns.sums, scales,
                                           scaling, bias, activation.min, activation.max, poolClamp.min, poolClamp.max, out, n)
            case .portable:
                portable(acc: acc, accStride: accStride, rows: rows, window: window, poolClamp: poolClamp, columns: columns, out: out)
            }
        }

        /// The same in Swift.
        private func portable(acc: UnsafeMutablePointer<Int32>, accStride: Int, rows: Int, window: AlignedArray<Int>?,
                              poolClamp: ActivationRange<Float>, columns: Columns, out: UnsafeMutablePointer<Float>) {
            let n = kernel.geometry.outputChannels
            let activation = kernel.parameters.activation.floatRange
            let scales = columns.scales, sums = columns.sums, scaling = self.scaling, correction = self.correction
            let perChannel = kernel.parameters.isPerChannel
            @inline(__always) func value(_ a: UnsafeMutablePointer<Int32>, _ j: Int) -> Float {
                let d = Float(a[j] &- correction &* sums[j])
                var value: Float
                if perChannel {
                    value = d * scales[j] * scaling
                    if let bias = kernel.bias { value += bias[j] }
                } else {
                    value = 0
                    value += d * scaling
                    value = value + (kernel.bias?[j] ?? 0)
                }
                return activation.clamp(value)
            }
            guard let window else {
                for r in 0..<rows {
                    let a = acc + r * accStride, o = out + r * n
                    for j in 0..<n { o[j] = value(a, j) }
                }
                return
            }
            for r in 0..<rows {
                let a = acc + r * accStride, o = out + r * n
                for j in 0..<n {
                    var m = -Float.greatestFiniteMagnitude
                    for w in 0..<window.count {
                        let v = value(a + window[w], j)
                        if m < v { m = v }   // std::max(m, v), as the reference pool
                    }
                    o[j] = poolClamp.clamp(m)
                }
            }
        }
    }
}
