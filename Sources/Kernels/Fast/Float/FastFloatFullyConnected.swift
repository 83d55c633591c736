/// Float32 FULLY_CONNECTED on the packed float GEMM: weights packed once into 16-unit blocks, bias and
/// the fused activation applied as the results are stored.
///
///     out[r][o] = clamp(Σ_k in[r][k] · weights[o][k]  +  bias[o])
///
/// One row reads every weight once, so it is bound by memory bandwidth when the weights do not fit in
/// L2: the kernel streams them one panel (≤ 1 MB) at a time. `run(reversed:)` lets the caller alternate
/// the panel order between calls: the panel read last by one call is read first by the next, while it
/// is still in L2. With several threads each thread keeps the same blocks from call to call (its L2).
///
/// Results are within float rounding of the reference (k ascending, FMA; bias last) and do not depend
/// on `threads` or `reversed`.
public final class FastFloatFullyConnected: @unchecked Sendable {
    public let geometry: FullyConnectedGeometry
    public let activation: ActivationRange<Float>
    public let backend: SIMDBackend
    /// The packed weights and bias.
    public let weights: PackedFloatWeights

    /// Packs the weights (`[outputDepth][accumDepth]`). `backend` must be supported by this CPU.
    public init(weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, geometry g: FullyConnectedGeometry,
                activation: ActivationRange<Float>, backend: SIMDBackend = .best) {
        precondition(backend.isSupported, "FastFloatFullyConnected: backend \(backend) not supported by this CPU")
        precondition(weights.count == g.accumDepth * g.outputDepth,
                     "FastFloatFullyConnected: \(weights.count) weights for \(g.outputDepth) × \(g.accumDepth)")
        precondition(bias == nil || bias!.count == g.outputDepth,
                     "FastFloatFullyConnected: bias has \(bias!.count) values for \(g.outputDepth) units")
        geometry = g
        self.activation = activation
        self.backend = backend
        self.weights = PackedFloatWeights(weights: weights, bias: bias, outputCount: g.outputDepth, depth: g.accumDepth)
    }

    /// Runs `rows` input rows (`geometry.accumDepth` values each). Allocates nothing and needs no scratch.
    ///
    /// Threads split the 16-unit blocks (rows when there are fewer blocks than threads). Up to 6 rows
    /// (one register tile) stream the weights once, and `reversed` walks each thread's blocks last to first.
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, rows: Int,
                    threads: Int = 1, reversed: Bool = false) {
        let g = geometry
        let k = g.accumDepth, n = g.outputDepth
        precondition(input.count >= rows * k && output.count >= rows * n,
                     "FastFloatFullyConnected.run: buffers too small for \(rows) rows")
        guard rows > 0, n > 0, let y = output.baseAddress else { return }
        // A zero-depth layer still writes clamp(bias); the kernel never reads A then.
        let x = input.baseAddress ?? UnsafePointer(weights.values)
        let blocks = weights.blockCount
        let lo = activation.min, hi = activation.max
        if rows <= FloatGEMM.tileRows || blocks >= threads {
            // Each thread reads only its blocks' weights (a batch of 16 rows on 2 threads: 1.4x faster
            // than splitting the rows, which makes both threads stream all the weights).
            FastFloat.forEachSlice(blocks, threads: threads) { _, range in
                FloatGEMM.run(FloatGEMMCall(offsets: nil, a: x, lda: k, rows: rows, taps: 1, channels: k,
                                            weights: self.weights, blocks: range, lo: lo, hi: hi, pool: 1,
                                            c: y, ldc: n, columns: n, reverse: reversed), backend: self.backend)
            }
        } else {
            // Whole 6-row tiles per thread.
            let tiles = (rows + FloatGEMM.tileRows - 1) / FloatGEMM.tileRows
            FastFloat.forEachSlice(tiles, threads: threads) { _, range in
                let first = range.lowerBound * FloatGEMM.tileRows
                let count = min(rows, range.upperBound * FloatGEMM.tileRows) - first
                FloatGEMM.run(FloatGEMMCall(offsets: nil, a: x + first * k, lda: k, rows: count, taps: 1, channels: k,
                                            weights: self.weights, blocks: 0..<blocks, lo: lo, hi: hi, pool: 1,
                                            c: y + first * n, ldc: n, columns: n, reverse: reversed), backend: self.backend)
            }
        }
    }
}
