/// Int8 DEPTHWISE_CONV_2D: channel-vectorized multiply-adds over the taps, then the shared
/// vectorized requantization.
///
///     acc[o] = Σ_{existing taps} filter[ky, kx, o] * (in[iy, ix, o / M] - inputZeroPoint)  +  bias[o]
///     out[o] = clamp(requantize(acc, o) + outputZeroPoint, activationMin, activationMax)
///
/// equals ``ReferenceKernels/depthwiseConv2D(input:filter:bias:output:geometry:parameters:)`` value for
/// value. Each product fits in int16 (`|w| <= 128`, `|x - zp| <= 255`), so the channel loop multiplies
/// int16 lanes (SSE2 `pmullw`) and widens once per product into the int32 sum.
///
/// Input zero points outside -128...127 are not handled (`init` returns nil).
public final class FastDepthwiseConv2DInt8: @unchecked Sendable {
    /// The geometry; `batches` is ignored (``run(input:output:batches:scratch:threads:)`` takes it).
    public let geometry: Conv2DGeometry
    /// The constants the kernel was prepared with.
    public let parameters: QuantizedConvParameters
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The filter widened to int16, `[filterHeight × filterWidth][outputChannels]`.
    private let filter: AlignedArray<Int16>
    private let stage: Int8OutputStage
    private let paddedChannels: Int

    /// Prepares the kernel from a `[1, KH, KW, O]` filter and an optional int32 bias.
    public init?(filter f: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?, geometry g: Conv2DGeometry,
                 parameters p: QuantizedConvParameters, backend: SIMDBackend = .best) {
        guard (-128...127).contains(p.inputZeroPoint), g.inputChannels > 0, g.outputChannels % g.inputChannels == 0 else { return nil }
        precondition(backend.isSupported, "FastDepthwiseConv2DInt8: backend \(backend) not supported by this CPU")
        precondition(f.count == g.depthwiseFilterCount,
                     "FastDepthwiseConv2DInt8: filter has \(f.count) values, geometry needs \(g.depthwiseFilterCount)")
        precondition(bias == nil || bias!.count == g.outputChannels,
                     "FastDepthwiseConv2DInt8: bias has \(bias!.count) values for \(g.outputChannels) channels")
        geometry = g
        parameters = p
        self.backend = backend
        paddedChannels = max((g.outputChannels + 15) / 16 * 16, 16)
        filter = AlignedArray(repeating: 0, count: f.count)
        for i in 0..<f.count { filter[i] = Int16(f[i]) }
        stage = Int8OutputStage(parameters: p, channels: g.outputChannels,
                                offsets: (0..<g.outputChannels).map { bias?[$0] ?? 0 }, backend: backend)
    }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:)`` needs: one row of int32 sums per thread.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + max(1, threads) * ScratchCarver.bytes(geometry.outputWidth * paddedChannels, of: Int32.self)
    }

    /// Runs `batches` images. Allocates nothing; with `threads > 1` output rows are split across
    /// threads, and the results do not depend on `threads`.
    public func run(input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        let g = geometry
        precondition(input.count >= batches * g.inputHeight * g.inputWidth * g.inputChannels,
                     "FastDepthwiseConv2DInt8.run: input has \(input.count) values for \(batches) images")
        precondition(output.count >= batches * g.outputHeight * g.outputWidth * g.outputChannels,
                     "FastDepthwiseConv2DInt8.run: output has \(output.count) values for \(batches) images")
        let threads = max(1, threads)
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastDepthwiseConv2DInt8")
        guard batches > 0, g.outputChannels > 0, g.outputWidth > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let rowInts = ScratchCarver.bytes(g.outputWidth * paddedChannels, of: Int32.self) / 4
        let sums = carver.take(threads * rowInts, of: Int32.self)
        let activation = parameters.activation
        let cin = g.inputChannels, cout = g.outputChannels, m = g.depthMultiplier
        let zp = Int16(parameters.inputZeroPoint)
        let w = filter.pointer
        let npad = paddedChannels
        FastInt8.forEachSlice(batches * g.outputHeight, threads: threads) { slot, rows in
            let accRow = sums + slot * rowInts
            for row in rows {
                let b = row / g.outputHeight, oy = row % g.outputHeight
                let image = x + b * g.inputHeight * g.inputWidth * cin
                let iy0 = oy * g.strideHeight - g.padTop
                for ox in 0..<g.outputWidth {
                    let acc = accRow + ox * npad
                    acc.update(repeating: 0, count: cout)
                    let ix0 = ox * g.strideWidth - g.padLeft
                    for ky in 0..<g.filterHeight {
                        let iy = iy0 + ky * g.dilationHeight
                        if iy < 0 || iy >= g.inputHeight { continue }
                        for kx in 0..<g.filterWidth {
                            let ix = ix0 + kx * g.dilationWidth
                            if ix < 0 || ix >= g.inputWidth { continue }
                            let pixel = image + (iy * g.inputWidth + ix) * cin
                            let taps = w + (ky * g.filterWidth + kx) * cout
                            // Headroom: |w * (x - zp)| <= 128 * 255 < 2^15; the int32 sum wraps as the reference's.
                            if m == 1 {
                                for c in 0..<cout {
                                    acc[c] &+= Int32(taps[c] &* (Int16(pixel[c]) &- zp))
                                }
                            } else {
                                for i in 0..<cin {
                                    let v = Int16(pixel[i]) &- zp
                                    let o = i &* m
                                    for j in 0..<m { acc[o &+ j] &+= Int32(taps[o &+ j] &* v) }
                                }
                            }
                        }
                    }
                }
                stage.run(acc: accRow, accRowStride: npad, rows: g.outputWidth, channelRange: 0..<cout,
                          out: y + row * g.outputWidth * cout, outRowStride: cout, lo: activation.min, hi: activation.max)
            }
        }
    }
}
