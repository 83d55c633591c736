import CKernels

/// The int8 matrix engine: `C[m][n] = Σ_k a(m, k) · B[n][k]` in int32, dispatched to a ``SIMDBackend``.
///
/// `a(m, k)` is an unsigned byte: row `m` of A as stored (``Activations/unsigned``), or an int8 value
/// `x` read as `x + 128` (``Activations/signed``, flipping the sign bit on the fly). B is a
/// ``PackedInt8Weights``. Every backend computes the same wrapping int32 sums (no saturation
/// anywhere: `tdpbusd`/`tdpbssd` never saturate; `vpdpbusd`, not `vpdpbusds`; `vpmaddwd`, not `vpmaddubsw`).
public enum Int8GEMM {
    /// How the bytes of A are read.
    public enum Activations: Sendable, Hashable {
        /// Bytes are unsigned values 0...255 (activations already offset by +128).
        case unsigned
        /// Bytes are int8 values `x`, used as `x + 128` (`x ^ 0x80`).
        case signed
    }

    /// Computes the blocks `blocks` (16 output channels each) of `C = A · Bᵀ` for `rows` rows.
    ///
    ///     C[m * cRowStride + n] = Σ_{k < depth} a(m, k) * B[n][k]      for 16 * blocks.lowerBound <= n < 16 * blocks.upperBound
    ///
    /// - Parameters:
    ///   - a: row `m` starts at `a + m * rowStride` and holds `weights.depth` bytes (nothing past them is read).
    ///   - blocks: a sub-range of `0..<weights.blockCount`, so callers can split channels across threads.
    ///   - reversed: visit the blocks last to first (the results are the same; the weights read last by
    ///     one call are still in cache for the next one when calls alternate).
    ///   - c: `cRowStride >= 16 * blocks.upperBound`; padding channels (n >= N) receive 0.
    public static func multiply(
        a: UnsafeRawPointer, rowStride: Int, rows: Int, activations: Activations,
        weights: PackedInt8Weights, blocks: Range<Int>, reversed: Bool = false,
        c: UnsafeMutablePointer<Int32>, cRowStride: Int, backend: SIMDBackend
    ) {
        precondition(blocks.lowerBound >= 0 && blocks.upperBound <= weights.blockCount,
                     "Int8GEMM.multiply: blocks \(blocks) outside 0..<\(weights.blockCount)")
        precondition(cRowStride >= 16 * blocks.upperBound, "Int8GEMM.multiply: C row stride \(cRowStride) too small")
        if rows <= 0 || blocks.isEmpty { return }
        let flip: UInt8 = activations == .signed ? 0x80 : 0
        let a8 = a.assumingMemoryBound(to: UInt8.self)
        switch backend {
        case .avx512amx:
            precondition(backend.isSupported, "Int8GEMM.multiply: this CPU (or OS) has no AMX-INT8")
            weights.rowSums.withUnsafeBufferPointer { sums in
                qk_gemm_u8s8_amx(a8, rowStride, rows, weights.depth, flip, weights.baseAddress, weights.blockStride,
                                 sums.baseAddress, weights.outputCount, blocks.lowerBound, blocks.upperBound,
                                 reversed ? 1 : 0, c, cRowStride)
            }
        case .avx512vnni:
            precondition(backend.isSupported, "Int8GEMM.multiply: this CPU has no AVX-512 VNNI")
            qk_gemm_u8s8_avx512vnni(a8, rowStride, rows, weights.depth, flip, weights.baseAddress, weights.blockStride,
                                    blocks.lowerBound, blocks.upperBound, reversed ? 1 : 0, c, cRowStride)
        case .avx2:
            precondition(backend.isSupported, "Int8GEMM.multiply: this CPU has no AVX2")
            qk_gemm_u8s8_avx2(a8, rowStride, rows, weights.depth, flip, weights.baseAddress, weights.blockStride,
                              blocks.lowerBound, blocks.upperBound, reversed ? 1 : 0, c, cRowStride)
        case .portable:
            portable(a: a8, rowStride: rowStride, rows: rows, flip: flip, weights: weights, blocks: blocks,
                     c: c, cRowStride: cRowStride)
        }
    }

    /// The plain-Swift backend, reading the same packed layout.
    ///
    /// The 64 bytes of a group (16 channels × 4 k) are multiplied lane by lane with the row's 4 values
    /// repeated (`[a0 a1 a2 a3 a0 a1 a2 a3]`) and summed into 64 int32 lanes; channel `c` is the sum of
    /// lanes `4c ..< 4c + 4` at the end. The loops are plain so LLVM vectorizes them for baseline
    /// x86-64 (int16 `pmullw`, no int32 multiply). Headroom: every product fits in int16 (`|a| <= 255`,
    /// `|w| <= 128`, so `|a·w| <= 32640`); int32 sums wrap exactly as the SIMD kernels' lanes do.
    static func portable(
        a: UnsafePointer<UInt8>, rowStride: Int, rows: Int, flip: UInt8, weights: PackedInt8Weights,
        blocks: Range<Int>, c: UnsafeMutablePointer<Int32>, cRowStride: Int
    ) {
        let k = weights.depth
        let quads = (k + 3) / 4
        let b = weights.baseAddress
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { lanesBuffer in
            withUnsafeTemporaryAllocation(of: Int16.self, capacity: 8) { patternBuffer in
                let lanes = lanesBuffer.baseAddress!, pattern = patternBuffer.baseAddress!
                for m in 0..<rows {
                    let row = a + m &* rowStride
                    for j in blocks {
                        let block = b + j &* weights.blockStride
                        lanes.update(repeating: 0, count: 64)
                        for q in 0..<quads {
                            let k0 = 4 &* q
                            for t in 0..<4 {
                                let v: Int16 = k0 &+ t < k ? Int16(row[k0 &+ t] ^ flip) : 0
                                pattern[t] = v
                                pattern[t &+ 4] = v
                            }
                            let group = block + q &* 64
                            for h in 0..<8 {
                                let w = group + 8 &* h, sums = lanes + 8 &* h
                                for l in 0..<8 { sums[l] &+= Int32(Int16(w[l]) &* pattern[l]) }
                            }
                        }
                        let out = c + (m &* cRowStride &+ 16 &* j)
                        for ch in 0..<16 {
                            let p = lanes + 4 &* ch
                            out[ch] = p[0] &+ p[1] &+ p[2] &+ p[3]
                        }
                    }
                }
            }
        }
    }
}
