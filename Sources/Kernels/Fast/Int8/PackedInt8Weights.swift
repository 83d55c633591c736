/// Int8 weights `[N][K]` packed once for ``Int8GEMM``, with their row sums.
///
/// Layout: `[ceil(N / 16) blocks][ceil(K / 4)][16 channels][4 k]`, zeros in the padding, 64-byte
/// aligned: one 64-byte vector holds 4 consecutive k of 16 channels, what `vpdpbusd` consumes.
///
/// The GEMM multiplies unsigned activations `x + 128`, so the signed sum is recovered with the row sums:
///
///     Σ_k (x - zp) * w  =  Σ_k (x + 128) * w  -  (128 + zp) * Σ_k w        (mod 2^32)
///
/// Padded taps of a convolution are filled with the input zero point, so they contribute exactly 0
/// after the correction.
public final class PackedInt8Weights: @unchecked Sendable {
    /// N, the number of output channels (rows of the unpacked matrix).
    public let outputCount: Int
    /// K, the number of values each output channel sums over.
    public let depth: Int
    /// `ceil(N / 16)`.
    public let blockCount: Int
    /// Bytes per block of 16 channels: `ceil(K / 4) * 64`.
    public let blockStride: Int
    /// `Σ_k w[n][k]` for each of the N channels (wrapping; |sum| <= 128 K).
    public let rowSums: [Int32]
    /// The packed bytes (`blockCount * blockStride`), owned by this object.
    public let baseAddress: UnsafePointer<Int8>
    private let storage: UnsafeMutableRawPointer

    /// Packs row-major `weights` (`outputCount × depth` values).
    public init(weights: UnsafeBufferPointer<Int8>, outputCount n: Int, depth k: Int) {
        precondition(n >= 0 && k >= 0 && weights.count == n * k,
                     "PackedInt8Weights: \(weights.count) weights for \(n) × \(k)")
        outputCount = n
        depth = k
        blockCount = (n + 15) / 16
        blockStride = (k + 3) / 4 * 64
        let bytes = max(blockCount * blockStride, 64)
        storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        storage.initializeMemory(as: Int8.self, repeating: 0, count: bytes)
        let packed = storage.assumingMemoryBound(to: Int8.self)
        var sums = [Int32](repeating: 0, count: n)
        for row in 0..<n {
            let block = packed + (row / 16) * blockStride + (row % 16) * 4
            var sum: Int32 = 0
            for d in 0..<k {
                let w = weights[row * k + d]
                block[(d / 4) * 64 + d % 4] = w
                sum &+= Int32(w)
            }
            sums[row] = sum
        }
        rowSums = sums
        baseAddress = UnsafePointer(packed)
    }

    deinit { storage.deallocate() }

    /// N rounded up to a multiple of 16: the row stride (in int32) GEMM outputs need.
    public var paddedOutputCount: Int { blockCount * 16 }
}
