import TensorCore

/// Float32 FULLY_CONNECTED through OpenBLAS: `sgemm` for several rows, `sgemv` over blocks of
/// output units for one row, then bias and the fused activation.
///
/// One row reads every weight once, so it is bound by memory bandwidth when the weights do not fit
/// in L2. `run(reversed:)` lets the caller alternate the order of the unit blocks between calls: the
/// blocks read last by one call are read first by the next, while they are still cached.
///
/// Results are within float rounding of the reference (different summation order, FMA); bias last.
public final class FastFloatFullyConnected: @unchecked Sendable {
    public let geometry: FullyConnectedGeometry
    public let activation: ActivationRange<Float>
    private let weights: [Float]
    private let bias: [Float]
    /// Output units per `sgemv` block (about 64 KB of weights).
    private let unitsPerBlock: Int

    public init(weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, geometry g: FullyConnectedGeometry,
                activation: ActivationRange<Float>) {
        precondition(weights.count == g.accumDepth * g.outputDepth, "FastFloatFullyConnected: weights length")
        precondition(bias == nil || bias!.count == g.outputDepth, "FastFloatFullyConnected: bias length")
        geometry = g
        self.activation = activation
        self.weights = Array(weights)
        self.bias = bias.map(Array.init) ?? [Float](repeating: 0, count: g.outputDepth)
        unitsPerBlock = max(8, (16_384 / max(g.accumDepth, 1) + 7) / 8 * 8)
    }

    /// Runs `rows` input rows (`geometry.accumDepth` values each). With one row, `reversed` walks the
    /// unit blocks last to first.
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, rows: Int,
                    threads: Int = 1, reversed: Bool = false) {
        let g = geometry
        let k = g.accumDepth, n = g.outputDepth
        precondition(input.count >= rows * k && output.count >= rows * n, "FastFloatFullyConnected.run: buffers too small")
        if rows == 0 || n == 0 { return }
        weights.withUnsafeBufferPointer { w in
            let x = input.baseAddress!, y = output.baseAddress!
            if rows == 1 {
                let blocks = (n + unitsPerBlock - 1) / unitsPerBlock
                FastFloat.forEachSlice(blocks, threads: threads) { _, range in
                    for i in range {
                        let block = reversed ? blocks - 1 - i : i
                        let lo = block * self.unitsPerBlock, hi = min(n, lo + self.unitsPerBlock)
                        BLAS.sgemv(m: hi - lo, n: k, a: w.baseAddress! + lo * k, x: x, y: y + lo)
                    }
                }
            } else {
                FastFloat.forEachSlice(rows, threads: threads) { _, range in
                    BLAS.sgemm(transposeB: true, m: range.count, n: n, k: k, a: x + range.lowerBound * k,
                               b: w.baseAddress!, c: y + range.lowerBound * n)
                }
            }
            FastFloat.addBiasAndClamp(y, rows: rows, bias: self.bias, activation: self.activation)
        }
    }
}
