/// Float weights packed for the float GEMM kernels, once at prepare time.
///
///     values[j][k][l] = weights[16j + l][k]     (0 where 16j + l >= outputCount)
///     bias[16j + l]   = bias[16j + l]            (0 in the padding, or everywhere without a bias)
///
/// for blocks j of 16 output channels, k < depth: each step over k reads one 64-byte line per block,
/// so a register tile's weights are one contiguous stream. 64-byte aligned.
public final class PackedFloatWeights: @unchecked Sendable {
    public let outputCount: Int
    public let depth: Int
    /// Blocks of 16 output channels, the last one zero-padded.
    public let blockCount: Int
    /// Floats from one block to the next (`depth * 16`).
    public let blockStride: Int
    let values: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>

    /// Packs `weights`, `outputCount` rows of `depth` values (OHWI filters, FULLY_CONNECTED weights).
    public init(weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, outputCount: Int, depth: Int) {
        precondition(weights.count == outputCount * depth,
                     "PackedFloatWeights: \(weights.count) weights for \(outputCount) × \(depth)")
        precondition(bias == nil || bias!.count == outputCount,
                     "PackedFloatWeights: \(bias!.count) biases for \(outputCount) outputs")
        self.outputCount = outputCount
        self.depth = depth
        blockCount = (outputCount + 15) / 16
        blockStride = depth * 16
        let count = max(blockCount * blockStride, 16)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        values = raw.initializeMemory(as: Float.self, repeating: 0, count: count)
        let biasRaw = UnsafeMutableRawPointer.allocate(byteCount: max(blockCount, 1) * 64, alignment: 64)
        self.bias = biasRaw.initializeMemory(as: Float.self, repeating: 0, count: max(blockCount, 1) * 16)
        for o in 0..<outputCount {
            if let w = weights.baseAddress, depth > 0 {
                let block = values + (o / 16) * blockStride + o % 16
                let row = w + o * depth
                for k in 0..<depth { block[k &* 16] = row[k] }
            }
            if let bias { self.bias[o] = bias[o] }
        }
    }

    deinit {
        UnsafeMutableRawPointer(values).deallocate()
        UnsafeMutableRawPointer(bias).deallocate()
    }
}
