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
public final class FastHybridConv2D: @unchecked Sendable {
    /// The geometry; `batches` is ignored (``run(input:output:batches:scratch:threads:)`` takes it).
    public let geometry: Conv2DGeometry
    /// The constants the kernel was prepared with.
    public let parameters: HybridConvParameters
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The packed weights (filter rows in (ky, kx, i) order for convolutions).
    public let weights: PackedInt8Weights
    private let bias: AlignedArray<Float>?
    private let patches: Int8Patches
    private let tilePixels: Int

    /// Prepares the kernel from an OHWI filter and an optional float bias.
    public init?(filter: UnsafeBufferPointer<Int8>, bias b: UnsafeBufferPointer<Float>?, geometry g: Conv2DGeometry,
                 parameters p: HybridConvParameters, backend: SIMDBackend = .best) {
        guard g.filterInputChannels == g.inputChannels else { return nil }
        precondition(backend.isSupported, "FastHybridConv2D: backend \(backend) not supported by this CPU")
        precondition(filter.count == g.convFilterCount, "FastHybridConv2D: filter has \(filter.count) values, geometry needs \(g.convFilterCount)")
        precondition(b == nil || b!.count == g.outputChannels, "FastHybridConv2D: bias has \(b!.count) values for \(g.outputChannels) channels")
        precondition(p.weightScales.count == 1 || p.weightScales.count == g.outputChannels,
                     "FastHybridConv2D: \(p.weightScales.count) scales for \(g.outputChannels) channels")
        geometry = g
        parameters = p
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
    }

    private var imageSize: Int { geometry.inputHeight * geometry.inputWidth * geometry.inputChannels }

    private var slotBytes: Int {
        ScratchCarver.bytes(tilePixels * patches.depth, of: UInt8.self)
            + ScratchCarver.bytes(tilePixels * weights.paddedOutputCount, of: Int32.self)
    }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:)`` needs: one quantized image and,
    /// per thread, im2col rows and int32 sums.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + ScratchCarver.bytes(imageSize, of: Int8.self) + max(1, threads) * slotBytes
    }

    /// Runs `batches` images. Allocates nothing; with `threads > 1` each image's output pixels are
    /// split across threads (the image is quantized first, on the calling thread).
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry, p = parameters
        let n = g.outputChannels, npad = weights.paddedOutputCount, depth = patches.depth
        let pixels = g.outputHeight * g.outputWidth
        precondition(input.count >= batches * imageSize, "FastHybridConv2D.run: input has \(input.count) values for \(batches) images")
        precondition(output.count >= batches * pixels * n, "FastHybridConv2D.run: output has \(output.count) values for \(batches) images")
        let threads = max(1, threads)
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastHybridConv2D")
        guard batches > 0, n > 0, pixels > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let q = carver.take(imageSize, of: Int8.self)
        let slots = UncheckedSlot(carver.take(threads * slotBytes, of: UInt8.self), stride: slotBytes, count: threads)
        let activation = p.activation.floatRange
        let perChannel = p.isPerChannel
        let biasValues = bias
        let tilePixels = min(self.tilePixels, max(4, (pixels + threads - 1) / threads))
        let tiles = (pixels + tilePixels - 1) / tilePixels
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
            let padByte = UInt8(truncatingIfNeeded: zp) ^ 0x80
            let correction = 128 &+ zp
            let scaling = sf
            p.weightScales.withUnsafeBufferPointer { scales in weights.rowSums.withUnsafeBufferPointer { sums in
                FastInt8.forEachSlice(tiles, threads: threads) { slot, range in
                    let a = slots[slot]
                    let c = UnsafeMutableRawPointer(a + ScratchCarver.bytes(tilePixels * depth, of: UInt8.self))
                        .bindMemory(to: Int32.self, capacity: tilePixels * npad)
                    for t in range {
                        let first = t * tilePixels, count = min(tilePixels, pixels - first)
                        patches.gatherRows(input: q, first: first, count: count, padByte: padByte, into: a)
                        Int8GEMM.multiply(a: a, rowStride: depth, rows: count, activations: .unsigned, weights: weights,
                                          blocks: 0..<weights.blockCount, c: c, cRowStride: npad, backend: backend)
                        if backend != .portable {
                            // The same expression in C, a vector of channels at a time.
                            let o = y + (b * pixels + first) * n
                            let s = perChannel ? scales.baseAddress : nil, bp = biasValues.map { UnsafePointer($0.pointer) }
                            if backend == .avx512vnni {
                                qk_hybrid_conv_output_avx512(c, npad, count, n, correction, sums.baseAddress, s, scaling, bp,
                                                             activation.min, activation.max, o, n)
                            } else {
                                qk_hybrid_conv_output_avx2(c, npad, count, n, correction, sums.baseAddress, s, scaling, bp,
                                                           activation.min, activation.max, o, n)
                            }
                            continue
                        }
                        for r in 0..<count {
                            let acc = c + r * npad, o = y + (b * pixels + first + r) * n
                            // Σ (q + 128 or zp + 128) w - (128 + zp) Σ w = Σ_{existing taps} (q - zp) w;
                            // then the reference's float expression, branches hoisted out of the channel loop.
                            switch (perChannel, biasValues) {
                            case (true, let bias?):
                                for j in 0..<n {
                                    var value = Float(acc[j] &- correction &* sums[j]) * scales[j] * scaling
                                    value += bias[j]
                                    o[j] = activation.clamp(value)
                                }
                            case (true, nil):
                                for j in 0..<n {
                                    o[j] = activation.clamp(Float(acc[j] &- correction &* sums[j]) * scales[j] * scaling)
                                }
                            case (false, let bias?):
                                for j in 0..<n {
                                    var value: Float = 0
                                    value += Float(acc[j] &- correction &* sums[j]) * scaling
                                    o[j] = activation.clamp(value + bias[j])
                                }
                            case (false, nil):
                                for j in 0..<n {
                                    var value: Float = 0
                                    value += Float(acc[j] &- correction &* sums[j]) * scaling
                                    o[j] = activation.clamp(value + 0)
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}
