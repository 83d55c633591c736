import CKernels

/// One call of the float GEMM micro-kernel: the Swift image of `qk_f32_gemm` in
/// `Sources/CKernels/include/CKernelsFloat.h`, field for field (see the header for the contract).
///
/// Every field is 8 bytes wide except `lo`/`hi`, which share one 8-byte slot, so Swift lays the
/// struct out exactly as C does (144 bytes; `FastFloatKernelTests` checks every offset).
///
/// The portable path reads this Swift struct; the SIMD kernels get the same bytes as a `qk_f32_gemm`
/// (the layout test in `FastFloatKernelTests` guards the correspondence).
struct FloatGEMMCall {
    var offsets: UnsafePointer<Int32>?
    var a: UnsafePointer<Float>?
    var zero: UnsafePointer<Float>?
    var lda: Int
    var rows: Int
    var taps: Int
    var channels: Int
    var weights: UnsafePointer<Float>?
    var blockStride: Int
    var blockBegin: Int
    var blockEnd: Int
    var bias: UnsafePointer<Float>?
    var lo: Float
    var hi: Float
    var pool: Int
    var c: UnsafeMutablePointer<Float>?
    var ldc: Int
    var columns: Int
    var reverse: Int

    init(offsets: UnsafePointer<Int32>?, a: UnsafePointer<Float>?, zero: UnsafePointer<Float>? = nil, lda: Int, rows: Int, taps: Int,
         channels: Int, weights: PackedFloatWeights, blocks: Range<Int>, lo: Float, hi: Float, pool: Int,
         c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, reverse: Bool) {
        self.offsets = offsets
        self.a = a
        self.zero = zero
        self.lda = lda
        self.rows = rows
        self.taps = taps
        self.channels = channels
        self.weights = UnsafePointer(weights.values)
        self.blockStride = weights.blockStride
        self.blockBegin = blocks.lowerBound
        self.blockEnd = blocks.upperBound
        self.bias = UnsafePointer(weights.bias)
        self.lo = lo
        self.hi = hi
        self.pool = pool
        self.c = c
        self.ldc = ldc
        self.columns = columns
        self.reverse = reverse ? 1 : 0
    }
}

/// The float GEMM on one backend.
enum FloatGEMM {
    /// Output channels per packed block (`QK_F32_BLOCK`).
    static let blockWidth = 16
    /// Rows per register tile of the SIMD kernels; units of work are cut at multiples of it.
    static let tileRows = 6

    /// Runs `call` on `backend` (which this CPU must support; `.avx512vnni` runs the AVX-512F kernel).
    static func run(_ call: FloatGEMMCall, backend: SIMDBackend) {
        var call = call
        switch backend {
        case .avx512vnni, .avx512amx: withUnsafePointer(to: &call) { $0.withMemoryRebound(to: qk_f32_gemm.self, capacity: 1, qk_f32_gemm_avx512) }
        case .avx2: withUnsafePointer(to: &call) { $0.withMemoryRebound(to: qk_f32_gemm.self, capacity: 1, qk_f32_gemm_avx2) }
        case .portable: portable(call)
        }
    }

    /// The contract of `qk_f32_gemm` in plain Swift: 4 rows × one 16-channel block at a time,
    /// separate multiply and add (no FMA on baseline x86-64), pool groups reduced as the rows go by.
    static func portable(_ g: FloatGEMMCall) {
        let rows = g.rows, taps = g.taps, channels = g.channels, pool = max(1, g.pool)
        let blocks = g.blockEnd - g.blockBegin
        guard rows > 0, blocks > 0, let weights = g.weights, let biasBase = g.bias, let c = g.c else { return }
        let lo = SIMD16<Float>(repeating: g.lo), hi = SIMD16<Float>(repeating: g.hi)
        for bi in 0..<blocks {
            let j = g.blockBegin + (g.reverse != 0 ? blocks - 1 - bi : bi)
            let columns = min(16, max(0, g.columns - 16 * j))
            let w = weights + j &* g.blockStride
            let bias = UnsafeRawPointer(biasBase + 16 * j).loadUnaligned(as: SIMD16<Float>.self)
            var q = 0, rem = 0
            var m = SIMD16<Float>()
            var r0 = 0
            while r0 < rows {
                let mr = min(4, rows - r0)
                var acc = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
                if mr == 1 {
                    // One row (FULLY_CONNECTED at batch 1): no repeated rows.
                    for t in 0..<taps {
                        let x0 = rowPointer(g, r0, t)
                        var wp = UnsafeRawPointer(w + t &* channels &* 16)
                        for i in 0..<channels {
                            acc.0 += SIMD16(repeating: x0[i]) * wp.loadUnaligned(as: SIMD16<Float>.self)
                            wp += 64
                        }
                    }
                } else {
                    for t in 0..<taps {
                        // Rows past the end repeat the tile's first row; their sums are dropped.
                        let x0 = rowPointer(g, r0, t)
                        let x1 = mr > 1 ? rowPointer(g, r0 + 1, t) : x0
                        let x2 = mr > 2 ? rowPointer(g, r0 + 2, t) : x0
                        let x3 = mr > 3 ? rowPointer(g, r0 + 3, t) : x0
                        var wp = UnsafeRawPointer(w + t &* channels &* 16)
                        for i in 0..<channels {
                            let wv = wp.loadUnaligned(as: SIMD16<Float>.self)
                            acc.0 += SIMD16(repeating: x0[i]) * wv
                            acc.1 += SIMD16(repeating: x1[i]) * wv
                            acc.2 += SIMD16(repeating: x2[i]) * wv
                            acc.3 += SIMD16(repeating: x3[i]) * wv
                            wp += 64
                        }
                    }
                }
                for r in 0..<mr {
                    let v = r == 0 ? acc.0 : r == 1 ? acc.1 : r == 2 ? acc.2 : acc.3
                    // max as `m < v ? v : m`, lane by lane
                    m = rem == 0 ? v : m.replacing(with: v, where: m .< v)
                    rem += 1
                    if rem == pool {
                        var y = m + bias
                        y.replace(with: lo, where: y .< lo)          // x < lo ? lo : x
                        y.replace(with: hi, where: hi .< y)          // hi < x ? hi : x
                        let dst = c + q &* g.ldc + 16 * j
                        if columns == 16 {
                            UnsafeMutableRawPointer(dst).storeBytes(of: y, as: SIMD16<Float>.self)
                        } else {
                            for lane in 0..<columns { dst[lane] = y[lane] }
                        }
                        rem = 0
                        q += 1
                    }
                }
                r0 += mr
            }
        }
    }

    @inline(__always)
    private static func rowPointer(_ g: FloatGEMMCall, _ r: Int, _ t: Int) -> UnsafePointer<Float> {
        if let offsets = g.offsets {
            let o = Int(offsets[r &* g.taps &+ t])
            return o < 0 ? g.zero! : g.a! + o
        }
        return g.a! + (r &* g.lda &+ t &* g.channels)
    }
}
