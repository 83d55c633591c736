import TensorCore

/// Float32 CONV_2D as an indirect GEMM (XNNPACK's scheme): each output pixel is a GEMM row whose
/// depth is read through `filterHeight × filterWidth` taps, each the offset of an input pixel's
/// channels in the sample (or -1: a zero vector, for a padded tap), so no im2col copy is made. The
/// offset table depends only on the geometry and is built once at init; the filter is packed once
/// into 16-channel blocks; the micro-kernel adds the bias, clamps and stores.
///
///     out[p][o] = clamp(Σ_{tap, i} in[tap(p)][i] · filter[o][tap][i]  +  bias[o])
///
/// With ``FusedMaxPool`` the kernel writes `MAX_POOL_2D(VALID)` of that output instead: the rows of
/// each pool window are consecutive GEMM rows and the kernel keeps their maximum. Since `+ bias` and
/// the clamps are monotone, `max(clamp(a + b), clamp(c + b)) = clamp(max(a, c) + b)`: the result is the
/// unfused pair's, value for value, and the convolution's full-size output is never stored.
///
/// Results are within float rounding of ``ReferenceKernels/conv2D(input:filter:bias:output:geometry:activation:)``:
/// the same products summed in (tap, channel) order with FMA (the portable backend: multiply, then
/// add), bias added last. Outputs do not depend on `threads` or on how many samples run together.
///
/// Backends: `.avx512vnni` runs the AVX-512F kernel (every CPU with VNNI has it), `.avx2` the AVX2+FMA
/// kernel, `.portable` plain Swift.
public final class FastFloatConv2D: @unchecked Sendable {
    /// A MAX_POOL_2D with VALID padding applied to the convolution's output.
    ///
    /// Each window's convolution pixels are computed for that window, so overlapping windows
    /// (stride < filter) compute the shared pixels more than once: fuse those only when the saved
    /// store and pool pass outweigh it. Non-overlapping windows (the usual 2×2/2) cost nothing extra.
    public struct FusedMaxPool: Sendable, Hashable {
        public var filterHeight: Int
        public var filterWidth: Int
        public var strideHeight: Int
        public var strideWidth: Int
        /// The pool's own fused activation clamp.
        public var activation: ActivationRange<Float>

        public init(filterHeight: Int, filterWidth: Int, strideHeight: Int, strideWidth: Int,
                    activation: ActivationRange<Float> = FusedActivation.none.floatRange) {
            precondition(filterHeight > 0 && filterWidth > 0 && strideHeight > 0 && strideWidth > 0,
                         "FastFloatConv2D.FusedMaxPool: filter and strides must be positive")
            self.filterHeight = filterHeight
            self.filterWidth = filterWidth
            self.strideHeight = strideHeight
            self.strideWidth = strideWidth
            self.activation = activation
        }
    }

    /// The geometry of one sample (`batches` is ignored; `run` takes the sample count).
    public let geometry: Conv2DGeometry
    public let activation: ActivationRange<Float>
    public let fusedMaxPool: FusedMaxPool?
    public let backend: SIMDBackend
    /// The packed filter and bias.
    public let weights: PackedFloatWeights
    /// Output height and width of the kernel: the pool's when one is fused, else the convolution's.
    public let outputHeight: Int
    public let outputWidth: Int

    private let taps: Int
    /// GEMM rows per output value (the pool window size; 1 without a pool).
    private let rowsPerOutput: Int
    /// Outputs pixels per sample, `outputHeight * outputWidth`.
    private let outputsPerSample: Int
    /// For each GEMM row of one sample and each tap, the input offset of the tap's channels within
    /// the sample, or -1 for a padded tap. Empty when the input rows are read directly.
    private let tapOffsets: [Int32]
    /// 1×1, stride 1, unpadded, no pool: the input is the GEMM's A matrix.
    private let readsInputDirectly: Bool
    /// `inputChannels` zeros, for padded taps.
    private let zeros: [Float]
    /// The clamp applied at the store: the convolution's, then the pool's.
    private let lo: Float, hi: Float
    /// Outputs per unit-of-work quantum (a multiple of the 6-row tile when the pool allows) and the
    /// most quanta in one unit.
    private let quantum: Int
    private let maxQuantaPerUnit: Int

    /// GEMM rows in one unit of work, at most (about 1024).
    static let targetRowsPerUnit = 1024

    /// Prepares the kernel: packs the filter (OHWI) and builds the tap offset table.
    ///
    /// Returns nil for grouped convolutions (the caller runs the reference). `backend` must be
    /// supported by this CPU.
    public init?(filter: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, geometry g: Conv2DGeometry,
                 activation: ActivationRange<Float>, fusedMaxPool pool: FusedMaxPool? = nil, backend: SIMDBackend = .best) {
        guard g.filterInputChannels == g.inputChannels else { return nil }
        precondition(backend.isSupported, "FastFloatConv2D: backend \(backend) not supported by this CPU")
        precondition(filter.count == g.convFilterCount, "FastFloatConv2D: filter has \(filter.count) values, expected \(g.convFilterCount)")
        precondition(bias == nil || bias!.count == g.outputChannels,
                     "FastFloatConv2D: bias has \(bias!.count) values for \(g.outputChannels) channels")
        precondition(g.inputHeight * g.inputWidth * g.inputChannels < Int(Int32.max),
                     "FastFloatConv2D: one sample's input must have fewer than 2^31 values")
        geometry = g
        self.activation = activation
        fusedMaxPool = pool
        self.backend = backend
        taps = g.filterHeight * g.filterWidth
        weights = PackedFloatWeights(weights: filter, bias: bias, outputCount: g.outputChannels,
                                     depth: taps * g.inputChannels)
        zeros = [Float](repeating: 0, count: max(1, g.inputChannels))

        if let pool {
            outputHeight = g.outputHeight >= pool.filterHeight ? (g.outputHeight - pool.filterHeight) / pool.strideHeight + 1 : 0
            outputWidth = g.outputWidth >= pool.filterWidth ? (g.outputWidth - pool.filterWidth) / pool.strideWidth + 1 : 0
            rowsPerOutput = pool.filterHeight * pool.filterWidth
            lo = pool.activation.clamp(activation.min)
            hi = pool.activation.clamp(activation.max)
        } else {
            outputHeight = g.outputHeight
            outputWidth = g.outputWidth
            rowsPerOutput = 1
            lo = activation.min
            hi = activation.max
        }
        outputsPerSample = outputHeight * outputWidth
        readsInputDirectly = pool == nil && g.filterHeight == 1 && g.filterWidth == 1 && g.strideHeight == 1
            && g.strideWidth == 1 && g.padTop == 0 && g.padLeft == 0
            && g.outputHeight == g.inputHeight && g.outputWidth == g.inputWidth

        // Units of work are whole multiples of `quantum` outputs, so most of them split into full tiles.
        let tile = FloatGEMM.tileRows
        quantum = tile % rowsPerOutput == 0 ? tile / rowsPerOutput
            : (rowsPerOutput % tile == 0 ? 1 : tile / Self.gcd(tile, rowsPerOutput))
        maxQuantaPerUnit = max(1, Self.targetRowsPerUnit / (quantum * rowsPerOutput))

        if readsInputDirectly {
            tapOffsets = []
        } else {
            var offsets = [Int32]()
            offsets.reserveCapacity(outputsPerSample * rowsPerOutput * taps)
            func append(oy: Int, ox: Int) {
                let iy0 = oy * g.strideHeight - g.padTop, ix0 = ox * g.strideWidth - g.padLeft
                for ky in 0..<g.filterHeight {
                    let iy = iy0 + ky * g.dilationHeight
                    for kx in 0..<g.filterWidth {
                        let ix = ix0 + kx * g.dilationWidth
                        let inside = iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth
                        offsets.append(inside ? Int32((iy * g.inputWidth + ix) * g.inputChannels) : -1)
                    }
                }
            }
            for y in 0..<outputHeight {
                for x in 0..<outputWidth {
                    if let pool {
                        for fy in 0..<pool.filterHeight {
                            for fx in 0..<pool.filterWidth {
                                append(oy: y * pool.strideHeight + fy, ox: x * pool.strideWidth + fx)
                            }
                        }
                    } else {
                        append(oy: y, ox: x)
                    }
                }
            }
            tapOffsets = offsets
        }
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Output elements for `batches` samples.
    public func outputCount(batches: Int) -> Int { batches * outputsPerSample * geometry.outputChannels }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:)`` needs with `threads` threads: none
    /// (the offset table is built at init); kept so callers size scratch the same way for every kernel.
    public func scratchByteCount(threads: Int = 1) -> Int { 0 }

    /// Runs `batches` samples: `input` `[batches, H, W, C]`, `output` `[batches, outputHeight, outputWidth, O]`.
    ///
    /// Allocates nothing and does not touch `scratch`. With
    /// `threads > 1` the output pixels are split across threads; the results do not depend on `threads`.
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry
        let inPerSample = g.inputHeight * g.inputWidth * g.inputChannels
        let n = g.outputChannels
        precondition(input.count >= batches * inPerSample && output.count >= outputCount(batches: batches),
                     "FastFloatConv2D.run: buffers too small for \(batches) samples")
        guard batches > 0, n > 0, outputsPerSample > 0, let x = input.baseAddress, let y = output.baseAddress else { return }

        // Units: runs of whole quanta inside one sample; at least `threads` of them in all.
        let quantaPerSample = (outputsPerSample + quantum - 1) / quantum
        let unitsPerSample = min(quantaPerSample, max((quantaPerSample + maxQuantaPerUnit - 1) / maxQuantaPerUnit,
                                                      (max(1, threads) + batches - 1) / batches))
        let units = batches * unitsPerSample
        let rowsPerOutput = self.rowsPerOutput, taps = self.taps, quantum = self.quantum
        let outputsPerSample = self.outputsPerSample
        zeros.withUnsafeBufferPointer { zeros in
            tapOffsets.withUnsafeBufferPointer { offsets in
                FastFloat.forEachSlice(units, threads: threads) { _, range in
                    for unit in range {
                        let b = unit / unitsPerSample, u = unit % unitsPerSample
                        let first = min(outputsPerSample, (quantaPerSample * u / unitsPerSample) * quantum)
                        let last = min(outputsPerSample, (quantaPerSample * (u + 1) / unitsPerSample) * quantum)
                        if first >= last { continue }
                        let rows = (last - first) * rowsPerOutput
                        let sample = x + b * inPerSample
                        let out = y + (b * outputsPerSample + first) * n
                        let call: FloatGEMMCall
                        if self.readsInputDirectly {
                            call = FloatGEMMCall(offsets: nil, a: sample + first * g.inputChannels, lda: g.inputChannels,
                                                 rows: rows, taps: 1, channels: g.inputChannels, weights: self.weights,
                                                 blocks: 0..<self.weights.blockCount, lo: self.lo, hi: self.hi, pool: 1,
                                                 c: out, ldc: n, columns: n, reverse: false)
                        } else {
                            call = FloatGEMMCall(offsets: offsets.baseAddress! + first * rowsPerOutput * taps, a: sample,
                                                 zero: zeros.baseAddress!, lda: 0, rows: rows, taps: taps,
                                                 channels: g.inputChannels, weights: self.weights,
                                                 blocks: 0..<self.weights.blockCount, lo: self.lo, hi: self.hi,
                                                 pool: rowsPerOutput, c: out, ldc: n, columns: n, reverse: false)
                        }
                        FloatGEMM.run(call, backend: self.backend)
                    }
                }
            }
        }
    }
}

/// Float helpers the fast float kernels share.
public enum FastFloat {
    /// Calls `body(slot, range)` for `threads` contiguous slices of `0..<count`, on `threads`
    /// threads (the caller's included) when `threads > 1`. `slot` is the slice number, so each
    /// thread can own its part of a scratch buffer; slice `t` always runs on the same pool thread.
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
}
