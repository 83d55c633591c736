import CKernels

/// The per-channel constants that turn GEMM accumulators into int8 outputs, and the loop that does it.
///
///     x   = acc[n] + offset[n]                          (wrapping; offset = bias - (128 + zp_in) * Σw)
///     out = clamp(requantize_n(x) + outputZeroPoint, lo, hi)
///
/// `.gemmlowpDouble` and `.refFloatFC` run vectorized on AVX-512 / AVX2; every other mode (and the
/// portable backend) runs ``ChannelRequantizer/requantize(_:outputZeroPoint:activationMin:activationMax:)``
/// itself, so the outputs are the reference's in every mode.
final class Int8OutputStage: @unchecked Sendable {
    enum Arithmetic { case gemmlowp, double, scalar }

    let channels: Int
    let arithmetic: Arithmetic
    let backend: SIMDBackend
    let outputZeroPoint: Int32
    /// Per-channel arrays, padded to a multiple of 16 (padding: multiplier 0, shifts 0, scale 0).
    let offsets: AlignedArray<Int32>
    let multipliers: AlignedArray<Int32>
    let leftShifts: AlignedArray<Int32>
    let rightShifts: AlignedArray<Int32>
    let scales: AlignedArray<Double>
    /// The AVX-512 gemmlowp kernels' derived constants (`qk_gemmlowp_channels`).
    let oddMultipliers: AlignedArray<Int32>
    let remainderMasks: AlignedArray<Int32>
    let thresholds: AlignedArray<Int32>
    let hasLeftShifts: Bool
    /// One requantizer per channel (broadcast expanded), for the scalar path.
    let requantizers: [ChannelRequantizer]

    /// `offsets[n]` is added to every accumulator of channel `n` before requantizing.
    init(parameters p: QuantizedConvParameters, channels: Int, offsets: [Int32], backend: SIMDBackend) {
        precondition(p.requantizers.count == 1 || p.requantizers.count == channels,
                     "Int8OutputStage: \(p.requantizers.count) requantizers for \(channels) channels")
        precondition(offsets.count == channels, "Int8OutputStage: \(offsets.count) offsets for \(channels) channels")
        self.channels = channels
        self.backend = backend
        outputZeroPoint = p.outputZeroPoint
        requantizers = (0..<channels).map { p.requantizer(forChannel: $0) }
        let padded = max((channels + 15) / 16 * 16, 16)
        self.offsets = AlignedArray(repeating: 0, count: padded)
        multipliers = AlignedArray(repeating: 0, count: padded)
        leftShifts = AlignedArray(repeating: 0, count: padded)
        rightShifts = AlignedArray(repeating: 0, count: padded)
        scales = AlignedArray(repeating: 0, count: padded)
        oddMultipliers = AlignedArray(repeating: 0, count: padded)
        remainderMasks = AlignedArray(repeating: 0, count: padded)
        thresholds = AlignedArray(repeating: 0, count: padded)
        for n in 0..<channels {
            let r = requantizers[n]
            self.offsets[n] = offsets[n]
            multipliers[n] = r.quantizedMultiplier.multiplier
            leftShifts[n] = Int32(clamping: max(r.quantizedMultiplier.shift, 0))
            rightShifts[n] = Int32(clamping: max(-r.quantizedMultiplier.shift, 0))
            scales[n] = r.doubleScale
        }
        for n in 0..<padded {
            if n % 2 == 0 { oddMultipliers[n] = multipliers[n + 1] }
            let right = rightShifts[n]
            remainderMasks[n] = right >= 31 ? Int32.max : (1 << right) - 1
            thresholds[n] = remainderMasks[n] >> 1
        }
        var anyLeftShift = false
        for n in 0..<padded where leftShifts[n] != 0 { anyLeftShift = true }
        hasLeftShifts = anyLeftShift
        let modes = Set(requantizers.map(\.mode))
        if backend == .portable || modes.count != 1 {
            arithmetic = .scalar
        } else if modes.first == .gemmlowpDouble,
                  requantizers.allSatisfy({ $0.quantizedMultiplier.multiplier >= 0 && $0.quantizedMultiplier.shift >= -31 }) {
            arithmetic = .gemmlowp
        } else if modes.first == .refFloatFC {
            arithmetic = .double
        } else {
            arithmetic = .scalar
        }
    }

    /// The window of a plain requantization: each output row is its own accumulator row.
    private let singleRow = AlignedArray<Int>(repeating: 0, count: 1)

    /// Requantizes channels `channelRange` of `rows` accumulator rows into int8 rows.
    ///
    /// `acc` and `out` point at channel 0 of row 0; accumulator rows must be readable up to
    /// `channelRange.upperBound` rounded up to 16. `lo`/`hi` is the output clamp.
    ///
    /// With a `window` (offsets in int32 elements from a row's start), output row `r` requantizes the
    /// per-channel maximum of the accumulator rows at `acc + r * accRowStride + window[w]`: a max pool
    /// fused before requantization (valid only where ``isMonotone(forAccumulatorBounds:)`` holds).
    func run(acc: UnsafePointer<Int32>, accRowStride: Int, rows: Int, channelRange: Range<Int>,
             window: AlignedArray<Int>? = nil,
             out: UnsafeMutablePointer<Int8>, outRowStride: Int, lo: Int32, hi: Int32) {
        let n0 = channelRange.lowerBound, count = channelRange.count
        if rows <= 0 || count <= 0 { return }
        let window = window ?? singleRow
        let w = UnsafePointer(window.pointer), windowCount = window.count
        switch (arithmetic, backend) {
        case (.gemmlowp, .avx512vnni), (.gemmlowp, .avx512amx):
            withUnsafePointer(to: gemmlowpChannels(from: n0)) { channels in
                qk_requant_gemmlowp_avx512(acc + n0, accRowStride, rows, count, w, windowCount, channels,
                                           outputZeroPoint, lo, hi, out + n0, outRowStride)
            }
        case (.gemmlowp, .avx2):
            qk_requant_gemmlowp_avx2(acc + n0, accRowStride, rows, count, w, windowCount, offsets.pointer + n0,
                                     multipliers.pointer + n0, leftShifts.pointer + n0, rightShifts.pointer + n0,
                                     outputZeroPoint, lo, hi, out + n0, outRowStride)
        case (.double, .avx512vnni), (.double, .avx512amx):
            qk_requant_double_avx512(acc + n0, accRowStride, rows, count, w, windowCount, offsets.pointer + n0,
                                     scales.pointer + n0, outputZeroPoint, lo, hi, out + n0, outRowStride)
        case (.double, .avx2):
            qk_requant_double_avx2(acc + n0, accRowStride, rows, count, w, windowCount, offsets.pointer + n0,
                                   scales.pointer + n0, outputZeroPoint, lo, hi, out + n0, outRowStride)
        default:
            requantizers.withUnsafeBufferPointer { rq in
                for r in 0..<rows {
                    let a = acc + r &* accRowStride, o = out + r &* outRowStride
                    for n in channelRange {
                        var x = a[w[0] &+ n]
                        for i in 1..<max(windowCount, 1) { x = Swift.max(x, a[w[i] &+ n]) }
                        o[n] = Int8(truncatingIfNeeded: rq[n].requantize(
                            x &+ offsets[n], outputZeroPoint: outputZeroPoint, activationMin: lo, activationMax: hi))
                    }
                }
            }
        }
    }

    /// The AVX-512 gemmlowp constants from channel `n0` on (`n0` a multiple of 16, so the odd-lane
    /// multipliers stay paired).
    private func gemmlowpChannels(from n0: Int) -> qk_gemmlowp_channels {
        qk_gemmlowp_channels(offset: offsets.pointer + n0, multiplier: multipliers.pointer + n0,
                             multiplier_odd: oddMultipliers.pointer + n0, left_shift: hasLeftShifts ? leftShifts.pointer + n0 : nil,
                             right_shift: rightShifts.pointer + n0, remainder_mask: remainderMasks.pointer + n0,
                             threshold: thresholds.pointer + n0)
    }

    /// Whether ``convPool(rows:outputStride:outputs:window:weights:out:outRowStride:lo:hi:)`` can run:
    /// the gemmlowp arithmetic on an AVX-512 backend.
    var fusesConvPool: Bool { arithmetic == .gemmlowp && (backend == .avx512vnni || backend == .avx512amx) }

    /// GEMM, window maximum and requantization in one pass (`qk_conv_pool_gemmlowp_avx512`): output `o`
    /// requantizes the per-channel maximum over `w` of `Σ_k rows[o * outputStride + window[w] + k] * W[n][k]`
    /// (u8 im2col rows, byte offsets), the same values as ``Int8GEMM/multiply`` then ``run`` with the
    /// window. Only where ``fusesConvPool``.
    func convPool(rows: UnsafePointer<UInt8>, outputStride: Int, outputs: Int, window: AlignedArray<Int>,
                  weights: PackedInt8Weights, out: UnsafeMutablePointer<Int8>, outRowStride: Int, lo: Int32, hi: Int32) {
        precondition(fusesConvPool, "Int8OutputStage.convPool: needs the gemmlowp arithmetic on AVX-512")
        withUnsafePointer(to: gemmlowpChannels(from: 0)) { constants in
            qk_conv_pool_gemmlowp_avx512(rows, outputStride, outputs, UnsafePointer(window.pointer), window.count, weights.depth,
                                         weights.baseAddress, weights.blockStride, channels, constants,
                                         outputZeroPoint, lo, hi, out, outRowStride)
        }
    }

    /// Whether `requantize_n` is non-decreasing for every accumulator `acc + offset` with
    /// `|acc + offset| <= bound[n]` and nothing wraps on the way: then max-pooling the accumulators
    /// before requantizing gives the same outputs as pooling the int8 outputs.
    ///
    /// gemmlowp: `bound * 2^left + 1 + |zp| < 2^31` (no wrap in the left shift or the zero point);
    /// double: `bound * scale + 1 + |zp| < 2^31` (no out-of-range conversion). Multipliers are >= 0.
    func isMonotone(forAccumulatorBounds bounds: [Int64]) -> Bool {
        let limit: Int64 = (1 << 31) - 2 - Int64(outputZeroPoint.magnitude)
        for n in 0..<channels {
            let r = requantizers[n], bound = bounds[n]
            switch r.mode {
            case .gemmlowpDouble:
                let left = max(r.quantizedMultiplier.shift, 0)
                guard r.quantizedMultiplier.multiplier >= 0, left < 31, bound < limit >> Int64(left) else { return false }
            case .refFloatFC:
                guard r.doubleScale >= 0, bound < limit, Double(bound) * r.doubleScale < Double(limit) else { return false }
            default:
                return false
            }
        }
        return true
    }
}

/// The clamp `[min(max(lo1, lo2), hi2), min(max(hi1, lo2), hi2)]`, i.e. `clamp2(clamp1(x))` as one clamp.
func composedClamp(_ first: ActivationRange<Int32>, then second: ActivationRange<Int32>) -> ActivationRange<Int32> {
    ActivationRange(min: second.clamp(first.min), max: second.clamp(first.max))
}
