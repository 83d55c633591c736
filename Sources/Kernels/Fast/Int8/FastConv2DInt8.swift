/// Int8 CONV_2D as a GEMM over im2col rows, with an optional fused MAX_POOL_2D.
///
///     A[p][k] = in[b, iy, ix, i] + 128     (u8; taps outside the image hold inputZeroPoint + 128)
///     acc     = Σ_k A[p][k] * W[o][k]  +  bias[o] - (128 + inputZeroPoint) * Σ_k W[o][k]
///     out     = clamp(requantize(acc, o) + outputZeroPoint, activationMin, activationMax)
///
/// which is ``ReferenceKernels/conv2D(input:filter:bias:output:geometry:parameters:)`` value for value
/// (a padded tap contributes `(zp + 128 - 128 - zp) * w = 0`, as the reference's skipped taps do).
/// A 1×1 stride-1 unpadded convolution reads its input rows directly.
///
/// With ``FusedMaxPool`` the kernel writes `MAX_POOL_2D(VALID)` of the convolution's output. When no
/// accumulator can wrap or leave the range where requantization is monotone (checked at prepare time
/// from the weights, bias and zero points), it max-pools the int32 accumulators before requantizing,
/// so only the pooled values are requantized; otherwise it requantizes, then pools the int8 values.
/// Both give the unfused pair's outputs exactly.
///
/// Grouped convolutions and input zero points outside int8 are not handled (`init` returns nil).
public final class FastConv2DInt8: @unchecked Sendable {
    /// A MAX_POOL_2D with VALID padding applied to the convolution's output.
    public struct FusedMaxPool: Sendable, Hashable {
        /// Window height and width (over the convolution's output).
        public var filterHeight: Int
        public var filterWidth: Int
        /// Window strides.
        public var strideHeight: Int
        public var strideWidth: Int
        /// The pool's own fused activation clamp (int8 domain; the pool keeps scale and zero point).
        public var activation: ActivationRange<Int32>

        public init(filterHeight: Int, filterWidth: Int, strideHeight: Int, strideWidth: Int,
                    activation: ActivationRange<Int32> = ActivationRange(min: -128, max: 127)) {
            precondition(filterHeight > 0 && filterWidth > 0 && strideHeight > 0 && strideWidth > 0,
                         "FusedMaxPool: filter and strides must be positive")
            self.filterHeight = filterHeight
            self.filterWidth = filterWidth
            self.strideHeight = strideHeight
            self.strideWidth = strideWidth
            self.activation = activation
        }
    }

    /// The convolution's geometry; `batches` is ignored (``run(input:output:batches:scratch:threads:)`` takes it).
    public let geometry: Conv2DGeometry
    /// The quantization constants the kernel was prepared with.
    public let parameters: QuantizedConvParameters
    /// The pool fused after the convolution, if any.
    public let fusedMaxPool: FusedMaxPool?
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The packed filter, `[outputChannels][filterHeight × filterWidth × inputChannels]`.
    public let weights: PackedInt8Weights
    /// Output height and width of the kernel: the pool's when one is fused, else the convolution's.
    public let outputHeight: Int
    public let outputWidth: Int
    /// Whether the fused pool runs on int32 accumulators (see the type's documentation).
    public var poolsAccumulators: Bool { poolWindow != nil }
    /// Whether the convolution runs as an implicit GEMM on AMX tiles (``Int8ImplicitConv``: backend
    /// `.avx512amx`, a pool on the accumulators, stride 1, input channels a multiple of 64).
    public var readsPaddedInput: Bool { implicit != nil }
    /// Offsets (int32 elements) of a pool window's accumulator rows from its first, when pooling
    /// before requantizing (accumulator rows are `usedWidth` pixels apart, ``Int8ImplicitConv/paddedWidth``
    /// with `implicit`).
    private let poolWindow: AlignedArray<Int>?
    private let implicit: Int8ImplicitConv?
    /// The pool window as byte offsets of its im2col rows (pitch `usedWidth`), when GEMM, pool and
    /// requantization run fused in registers (``Int8OutputStage/convPool``: AVX-512, gemmlowp, im2col).
    private let fusedWindow: AlignedArray<Int>?
    /// Whether the fused pool runs GEMM, window maximum and requantization in one pass, the int32
    /// accumulators never stored.
    public var fusesPoolInRegisters: Bool { fusedWindow != nil }

    private let stage: Int8OutputStage
    private let depth: Int
    private let patches: Int8Patches
    private let padByte: UInt8
    private let readsInputDirectly: Bool
    /// Output pixels per GEMM call without a pool.
    private let tilePixels: Int
    /// Convolution columns a pool reads, and pool rows per unit of work.
    private let usedWidth: Int
    private let bandRows: Int

    /// Prepares the kernel: packs the filter (OHWI) and precomputes the per-channel constants.
    ///
    /// Returns nil for grouped convolutions and input zero points outside -128...127 (the caller runs
    /// the reference). `backend` must be supported by this CPU.
    public init?(filter: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?, geometry g: Conv2DGeometry,
                 parameters p: QuantizedConvParameters, fusedMaxPool pool: FusedMaxPool? = nil,
                 backend: SIMDBackend = .best) {
        guard g.filterInputChannels == g.inputChannels, (-128...127).contains(p.inputZeroPoint) else { return nil }
        precondition(backend.isSupported, "FastConv2DInt8: backend \(backend) not supported by this CPU")
        precondition(filter.count == g.convFilterCount, "FastConv2DInt8: filter has \(filter.count) values, geometry needs \(g.convFilterCount)")
        precondition(bias == nil || bias!.count == g.outputChannels, "FastConv2DInt8: bias has \(bias!.count) values for \(g.outputChannels) channels")
        precondition(p.requantizers.count == 1 || p.requantizers.count == g.outputChannels,
                     "FastConv2DInt8: \(p.requantizers.count) requantizers for \(g.outputChannels) channels")
        geometry = g
        parameters = p
        fusedMaxPool = pool
        self.backend = backend
        self.depth = g.filterHeight * g.filterWidth * g.inputChannels
        patches = Int8Patches(geometry: g)
        let depth = g.filterHeight * g.filterWidth * g.inputChannels
        let packed = PackedInt8Weights(weights: filter, outputCount: g.outputChannels, depth: depth)
        weights = packed
        padByte = UInt8(truncatingIfNeeded: p.inputZeroPoint) ^ 0x80
        readsInputDirectly = g.filterHeight == 1 && g.filterWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padLeft == 0 && g.outputHeight == g.inputHeight && g.outputWidth == g.inputWidth
        let n = g.outputChannels
        let correction = 128 &+ p.inputZeroPoint
        let offsets = (0..<n).map { (bias?[$0] ?? 0) &- correction &* packed.rowSums[$0] }
        stage = Int8OutputStage(parameters: p, channels: n, offsets: offsets, backend: backend)

        let rowBytes = depth + 4 * packed.paddedOutputCount
        tilePixels = min(1024, max(4, (96 * 1024 / rowBytes) / 4 * 4))
        if let pool {
            let rows = PaddedWindow(inputSize: g.outputHeight, filterSize: pool.filterHeight, stride: pool.strideHeight, padding: .valid)
            let cols = PaddedWindow(inputSize: g.outputWidth, filterSize: pool.filterWidth, stride: pool.strideWidth, padding: .valid)
            outputHeight = g.outputHeight >= pool.filterHeight ? rows.outputSize : 0
            outputWidth = g.outputWidth >= pool.filterWidth ? cols.outputSize : 0
            let used = outputWidth == 0 ? 0 : (outputWidth - 1) * pool.strideWidth + pool.filterWidth
            usedWidth = used
            let rowPixels = max(1, pool.strideHeight * usedWidth)
            var band = max(1, min(outputHeight, 256 / rowPixels))
            // Accumulator bounds: |Σ (x - zp) w| <= max|x - zp| * Σ|w|, plus |bias|.
            let maxInput = Int64(max(127 - p.inputZeroPoint, p.inputZeroPoint + 128))
            let bounds: [Int64] = (0..<n).map { o in
                var s: Int64 = 0
                for k in 0..<depth { s += Int64(filter[o * depth + k].magnitude) }
                return s * maxInput + Int64(bias?[o].magnitude ?? 0)
            }
            if p.activation.min <= p.activation.max && pool.activation.min <= pool.activation.max
                && stage.isMonotone(forAccumulatorBounds: bounds) {
                let implicit = backend == .avx512amx && !readsInputDirectly
                    ? Int8ImplicitConv(geometry: g, usedWidth: used) : nil
                let pitch = implicit?.paddedWidth ?? used
                poolWindow = FastInt8.windowOffsets(height: pool.filterHeight, width: pool.filterWidth, pitch: pitch,
                                                    unit: packed.paddedOutputCount)
                self.implicit = implicit
                if let implicit {
                    // Bands of about 64 accumulator rows (32 KB for 128 channels): the tiles' stores
                    // and the requantization's reads stay in L1.
                    let convRows = max(64 / implicit.paddedWidth, pool.filterHeight)
                    band = max(1, min(outputHeight, (convRows - pool.filterHeight) / pool.strideHeight + 1))
                }
                fusedWindow = implicit == nil && !readsInputDirectly && stage.fusesConvPool
                    ? FastInt8.windowOffsets(height: pool.filterHeight, width: pool.filterWidth, pitch: used, unit: depth)
                    : nil
            } else {
                poolWindow = nil
                implicit = nil
                fusedWindow = nil
            }
            bandRows = band
        } else {
            outputHeight = g.outputHeight
            outputWidth = g.outputWidth
            usedWidth = 0
            bandRows = 0
            poolWindow = nil
            implicit = nil
            fusedWindow = nil
        }
    }

    /// Output elements for `batches` images.
    public func outputCount(batches: Int) -> Int { batches * outputHeight * outputWidth * geometry.outputChannels }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:)`` needs.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + max(1, threads) * slotBytes
    }

    private var convRowsPerBand: Int {
        guard let pool = fusedMaxPool else { return 0 }
        return (bandRows - 1) * pool.strideHeight + pool.filterHeight
    }

    private var bandPixels: Int { convRowsPerBand * usedWidth }

    /// Scratch of one thread: im2col rows, accumulators, and the pool's buffer.
    private var slotBytes: Int {
        let npad = weights.paddedOutputCount
        if fusedMaxPool == nil {
            return ScratchCarver.bytes(readsInputDirectly ? 0 : tilePixels * depth, of: UInt8.self)
                + ScratchCarver.bytes(tilePixels * npad, of: Int32.self)
        }
        if let implicit {
            return ScratchCarver.bytes(implicit.paddedBytes(convRows: convRowsPerBand), of: UInt8.self)
                + ScratchCarver.bytes(implicit.accumulatorRows(convRows: convRowsPerBand) * npad, of: Int32.self)
        }
        let pooled = poolsAccumulators ? 0 : ScratchCarver.bytes(bandPixels * geometry.outputChannels, of: Int8.self)
        return ScratchCarver.bytes(bandPixels * depth, of: UInt8.self) + ScratchCarver.bytes(bandPixels * npad, of: Int32.self) + pooled
    }

    /// Runs `batches` images: `input` `[batches, H, W, C]`, `output` `[batches, outputHeight, outputWidth, O]`.
    ///
    /// Allocates nothing; `scratch` holds at least ``scratchByteCount(batches:threads:)`` bytes. With
    /// `threads > 1` the output rows are split across threads; the results do not depend on `threads`.
    public func run(input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry
        precondition(input.count >= batches * g.inputHeight * g.inputWidth * g.inputChannels,
                     "FastConv2DInt8.run: input has \(input.count) values for \(batches) images")
        precondition(output.count >= outputCount(batches: batches),
                     "FastConv2DInt8.run: output has \(output.count) values, needs \(outputCount(batches: batches))")
        let threads = max(1, threads)
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastConv2DInt8")
        guard batches > 0, g.outputChannels > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let slots = UncheckedSlot(carver.take(threads * slotBytes, of: UInt8.self), stride: slotBytes, count: threads)
        if fusedMaxPool == nil {
            runUnpooled(x, y, batches: batches, slots: slots)
        } else {
            runPooled(x, y, batches: batches, slots: slots)
        }
    }

    // MARK: - Without a pool

    private func runUnpooled(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, batches: Int, slots: UncheckedSlot) {
        let g = geometry
        let n = g.outputChannels, npad = weights.paddedOutputCount
        let total = batches * g.outputHeight * g.outputWidth
        // At least one tile per thread (smaller tiles fit in the same scratch).
        let tilePixels = min(self.tilePixels, max(4, (total + slots.count - 1) / slots.count))
        let tiles = (total + tilePixels - 1) / tilePixels
        let activation = parameters.activation
        FastInt8.forEachSlice(tiles, threads: slots.count) { slot, range in
            let a = slots[slot]
            let c = (a + ScratchCarver.bytes(readsInputDirectly ? 0 : tilePixels * depth, of: UInt8.self))
                .withMemoryRebound(to: Int32.self, capacity: tilePixels * npad) { $0 }
            for t in range {
                let first = t * tilePixels, count = min(tilePixels, total - first)
                if readsInputDirectly {
                    Int8GEMM.multiply(a: x + first * depth, rowStride: depth, rows: count, activations: .signed,
                                      weights: weights, blocks: 0..<weights.blockCount, c: c, cRowStride: npad, backend: backend)
                } else {
                    patches.gatherRows(input: x, first: first, count: count, padByte: padByte, into: a)
                    Int8GEMM.multiply(a: a, rowStride: depth, rows: count, activations: .unsigned,
                                      weights: weights, blocks: 0..<weights.blockCount, c: c, cRowStride: npad, backend: backend)
                }
                stage.run(acc: c, accRowStride: npad, rows: count, channelRange: 0..<n, out: y + first * n, outRowStride: n,
                          lo: activation.min, hi: activation.max)
            }
        }
    }

    // MARK: - With a fused pool

    private func runPooled(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, batches: Int, slots: UncheckedSlot) {
        guard let pool = fusedMaxPool, outputHeight > 0, outputWidth > 0 else { return }
        let g = geometry
        let n = g.outputChannels, npad = weights.paddedOutputCount
        // At least one band per thread (smaller bands fit in the same scratch).
        let bandsPerImageNeeded = (slots.count + batches - 1) / batches
        let bandRows = min(self.bandRows, max(1, (outputHeight + bandsPerImageNeeded - 1) / bandsPerImageNeeded))
        let bandsPerImage = (outputHeight + bandRows - 1) / bandRows
        let units = batches * bandsPerImage
        let direct = readsInputDirectly && usedWidth == g.outputWidth
        let convClamp = parameters.activation
        let fusedClamp = composedClamp(convClamp, then: pool.activation)
        let pw = outputWidth, sw = pool.strideWidth, fw = pool.filterWidth, fh = pool.filterHeight
        if let implicit, let poolWindow {
            runImplicit(implicit, window: poolWindow, x, y, batches: batches, bandRows: bandRows, slots: slots, clamp: fusedClamp)
            return
        }
        FastInt8.forEachSlice(units, threads: slots.count) { slot, range in
            let a = slots[slot]
            let cBase = a + ScratchCarver.bytes(bandPixels * depth, of: UInt8.self)
            let c = UnsafeMutableRawPointer(cBase).bindMemory(to: Int32.self, capacity: bandPixels * npad)
            let tail = cBase + ScratchCarver.bytes(bandPixels * npad, of: Int32.self)
            for unit in range {
                let b = unit / bandsPerImage, p0 = (unit % bandsPerImage) * bandRows
                let p1 = min(outputHeight, p0 + bandRows)
                let cy0 = p0 * pool.strideHeight
                let convRows = (p1 - p0 - 1) * pool.strideHeight + fh
                let pixels = convRows * usedWidth
                if direct {
                    Int8GEMM.multiply(a: x + ((b * g.outputHeight + cy0) * g.outputWidth) * depth, rowStride: depth,
                                      rows: pixels, activations: .signed, weights: weights, blocks: 0..<weights.blockCount,
                                      c: c, cRowStride: npad, backend: backend)
                } else {
                    let image = x + b * g.inputHeight * g.inputWidth * g.inputChannels
                    for r in 0..<convRows {
                        patches.gatherSpan(image: image, oy: cy0 + r, ox0: 0, count: usedWidth, padByte: padByte,
                                           into: a + r * usedWidth * depth)
                    }
                    if let fusedWindow {
                        for pr in p0..<p1 {
                            stage.convPool(rows: a + (pr - p0) * pool.strideHeight * usedWidth * depth, outputStride: sw * depth,
                                           outputs: pw, window: fusedWindow, weights: weights,
                                           out: y + ((b * outputHeight + pr) * pw) * n, outRowStride: n,
                                           lo: fusedClamp.min, hi: fusedClamp.max)
                        }
                        continue
                    }
                    Int8GEMM.multiply(a: a, rowStride: depth, rows: pixels, activations: .unsigned, weights: weights,
                                      blocks: 0..<weights.blockCount, c: c, cRowStride: npad, backend: backend)
                }
                if let poolWindow {
                    // Pooled output pixel px of row pr reads the window's accumulator rows around
                    // conv pixel (rowBase, px * sw); the requantization takes their maximum.
                    for pr in p0..<p1 {
                        let rowBase = (pr - p0) * pool.strideHeight
                        stage.run(acc: c + rowBase * usedWidth * npad, accRowStride: sw * npad, rows: pw, channelRange: 0..<n,
                                  window: poolWindow, out: y + ((b * outputHeight + pr) * pw) * n, outRowStride: n,
                                  lo: fusedClamp.min, hi: fusedClamp.max)
                    }
                } else {
                    let conv = UnsafeMutableRawPointer(tail).bindMemory(to: Int8.self, capacity: pixels * n)
                    stage.run(acc: c, accRowStride: npad, rows: pixels, channelRange: 0..<n, out: conv, outRowStride: n,
                              lo: convClamp.min, hi: convClamp.max)
                    for pr in p0..<p1 {
                        let rowBase = (pr - p0) * pool.strideHeight
                        for px in 0..<pw {
                            let dst = y + ((b * outputHeight + pr) * pw + px) * n
                            for j in 0..<n {
                                var m = Int8.min
                                for fy in 0..<fh {
                                    for fx in 0..<fw {
                                        m = Swift.max(m, conv[((rowBase + fy) * usedWidth + px * sw + fx) * n + j])
                                    }
                                }
                                dst[j] = Int8(truncatingIfNeeded: pool.activation.clamp(Int32(m)))
                            }
                        }
                    }
                }
            }
        }
    }
}

extension FastConv2DInt8 {
    /// ``runPooled`` as implicit GEMMs: per band, the padded input rows, the AMX tiles, then the
    /// window maximum and requantization of the pooled pixels (accumulator rows `paddedWidth` apart).
    private func runImplicit(_ implicit: Int8ImplicitConv, window: AlignedArray<Int>, _ x: UnsafePointer<Int8>,
                             _ y: UnsafeMutablePointer<Int8>, batches: Int, bandRows: Int, slots: UncheckedSlot,
                             clamp: ActivationRange<Int32>) {
        guard let pool = fusedMaxPool else { return }
        let g = geometry
        let n = g.outputChannels, npad = weights.paddedOutputCount
        let bandsPerImage = (outputHeight + bandRows - 1) / bandRows
        let wp = implicit.paddedWidth, pw = outputWidth
        let paddedBytes = ScratchCarver.bytes(implicit.paddedBytes(convRows: convRowsPerBand), of: UInt8.self)
        let imageSize = g.inputHeight * g.inputWidth * g.inputChannels
        FastInt8.forEachSlice(batches * bandsPerImage, threads: slots.count) { slot, range in
            let a = slots[slot]
            let c = UnsafeMutableRawPointer(a + paddedBytes).bindMemory(
                to: Int32.self, capacity: implicit.accumulatorRows(convRows: convRowsPerBand) * npad)
            for unit in range {
                let b = unit / bandsPerImage, p0 = (unit % bandsPerImage) * bandRows
                let p1 = min(outputHeight, p0 + bandRows)
                let convRows = (p1 - p0 - 1) * pool.strideHeight + pool.filterHeight
                implicit.pad(image: x + b * imageSize, cy0: p0 * pool.strideHeight, convRows: convRows, padByte: padByte, into: a)
                implicit.multiply(padded: a, convRows: convRows, weights: weights, c: c, cRowStride: npad)
                for pr in p0..<p1 {
                    stage.run(acc: c + (pr - p0) * pool.strideHeight * wp * npad, accRowStride: pool.strideWidth * npad, rows: pw,
                              channelRange: 0..<n, window: window, out: y + ((b * outputHeight + pr) * pw) * n, outRowStride: n,
                              lo: clamp.min, hi: clamp.max)
                }
            }
        }
    }
}

/// Per-thread scratch slices handed into concurrently running closures (slice `i` is used by one
/// thread only).
struct UncheckedSlot: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    let stride: Int
    let count: Int
    init(_ base: UnsafeMutablePointer<UInt8>, stride: Int, count: Int) {
        self.base = base
        self.stride = stride
        self.count = count
    }
    subscript(i: Int) -> UnsafeMutablePointer<UInt8> { base + i * stride }
}
