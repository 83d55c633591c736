
/// Dynamic-range (hybrid) FULLY_CONNECTED: float input quantized per row at run time, int8 weights,
/// exact int8 × int8 dot products on the ``Int8GEMM`` engine, then the reference's float expression.
///
///     (q, sf, zp) = HybridInputQuantization(row b)          exactly as the reference
///     dot  = Σ_k w[n,k] * q[k] - zp * rowSum[n]               (wrapping int32, exact)
///     out  = bias[n];  out += float(dot) * (per-channel ? w_scale[n] * sf : sf);  out = act(out)
///
/// so the outputs are bit-identical to ``ReferenceKernels/hybridFullyConnected(input:weights:bias:output:geometry:parameters:scratch:)``.
public final class FastHybridFullyConnected: @unchecked Sendable {
    /// The shape; `batches` is ignored (``run(input:output:batches:scratch:threads:reversed:)`` takes it).
    public let geometry: FullyConnectedGeometry
    /// The constants the kernel was prepared with.
    public let parameters: HybridFullyConnectedParameters
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The packed weights (filter rows in (ky, kx, i) order for convolutions).
    public let weights: PackedInt8Weights
    private let bias: AlignedArray<Float>?

    /// Prepares the kernel from row-major weights `[outputDepth, accumDepth]` and an optional float bias.
    public init(weights w: UnsafeBufferPointer<Int8>, bias b: UnsafeBufferPointer<Float>?, geometry g: FullyConnectedGeometry,
                parameters p: HybridFullyConnectedParameters, backend: SIMDBackend = .best) {
        precondition(backend.isSupported, "FastHybridFullyConnected: backend \(backend) not supported by this CPU")
        precondition(w.count == g.outputDepth * g.accumDepth,
                     "FastHybridFullyConnected: weights have \(w.count) values, geometry needs \(g.outputDepth * g.accumDepth)")
        precondition(b == nil || b!.count == g.outputDepth, "FastHybridFullyConnected: bias has \(b!.count) values for \(g.outputDepth) outputs")
        precondition(p.rowSums.count == g.outputDepth && (p.weightScales.count == 1 || p.weightScales.count == g.outputDepth),
                     "FastHybridFullyConnected: parameters are for \(p.rowSums.count) rows, \(p.weightScales.count) scales")
        geometry = g
        parameters = p
        self.backend = backend
        weights = PackedInt8Weights(weights: w, outputCount: g.outputDepth, depth: g.accumDepth)
        bias = b.map { b in
            let array = AlignedArray<Float>(repeating: 0, count: b.count)
            for i in 0..<b.count { array[i] = b[i] }
            return array
        }
    }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:reversed:)`` needs: quantized rows, their
    /// factors, zero points and ranges, and the int32 dot products.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + ScratchCarver.bytes(batches * geometry.accumDepth, of: Int8.self)
            + ScratchCarver.bytes(batches, of: Float.self) + ScratchCarver.bytes(batches, of: Int32.self)
            + ScratchCarver.bytes(2 * batches, of: Float.self)
            + ScratchCarver.bytes(batches * weights.paddedOutputCount, of: Int32.self)
    }

    /// Runs `batches` rows. Allocates nothing; with `threads > 1` the output channels are split
    /// across threads (the input rows are quantized first, on the calling thread).
    public func run(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1, reversed: Bool = false) {
        let g = geometry, p = parameters
        let k = g.accumDepth, n = g.outputDepth
        precondition(input.count >= batches * k, "FastHybridFullyConnected.run: input has \(input.count) values for \(batches) rows")
        precondition(output.count >= batches * n, "FastHybridFullyConnected.run: output has \(output.count) values for \(batches) rows")
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastHybridFullyConnected")
        guard batches > 0, n > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let out = UnsafeMutableBufferPointer(start: y, count: batches * n)
        for b in 0..<batches {
            for j in 0..<n { out[b * n + j] = bias?[j] ?? 0 }
        }
        let rows = UnsafeBufferPointer(start: x, count: batches * k)
        let q = carver.take(batches * k, of: Int8.self)
        let factors = carver.take(batches, of: Float.self)
        let zeroPoints = carver.take(batches, of: Int32.self)
        let npad = weights.paddedOutputCount
        let c = carver.take(batches * npad, of: Int32.self)
        let ranges = carver.take(2 * batches, of: Float.self)
        let perChannel = p.weightScales.count > 1
        // The range of every row first. A row with a nonzero range has a nonzero value; when no row
        // has one, only NaNs can still make the input "not all zero", which the scalar test decides
        // as the reference does.
        var anyNonzero = false
        for b in 0..<batches {
            let (lo, hi) = HybridInputQuantization.range(UnsafeBufferPointer(rebasing: rows[(b * k)..<((b + 1) * k)]), backend: backend)
            ranges[2 * b] = lo
            ranges[2 * b + 1] = hi
            if lo != hi { anyNonzero = true }
        }
        if !anyNonzero && !rows.contains(where: { $0 != 0 }) {
            ReferenceKernels.applyHybridActivation(out, p.activation)
            return
        }
        for b in 0..<batches {
            let row = UnsafeBufferPointer(rebasing: rows[(b * k)..<((b + 1) * k)])
            let quantized = UnsafeMutableBufferPointer(start: q + b * k, count: k)
            let range = (min: ranges[2 * b], max: ranges[2 * b + 1])
            if p.asymmetricInputs {
                (factors[b], zeroPoints[b]) = HybridInputQuantization.asymmetric(
                    row, range: range, into: quantized, laneRounding: p.laneRounding, backend: backend)
            } else {
                factors[b] = HybridInputQuantization.symmetric(
                    row, range: range, into: quantized, laneRounding: p.laneRounding, backend: backend)
                zeroPoints[b] = 0
            }
            if !perChannel { factors[b] *= p.weightScales[0] }
        }
        p.rowSums.withUnsafeBufferPointer { rowSums in p.weightScales.withUnsafeBufferPointer { scales in
            weights.rowSums.withUnsafeBufferPointer { sums in
                FastInt8.forEachSlice(weights.blockCount, threads: threads) { _, blocks in
                    Int8GEMM.multiply(a: q, rowStride: k, rows: batches, activations: .signed, weights: weights, blocks: blocks,
                                      reversed: reversed, c: c, cRowStride: npad, backend: backend)
                    let channels = (16 * blocks.lowerBound)..<min(n, 16 * blocks.upperBound)
                    for b in 0..<batches {
                        let sf = factors[b], zp = zeroPoints[b]
                        let acc = c + b * npad, o = y + b * n
                        for j in channels {
                            // The GEMM read q + 128: remove 128 Σw, then the input zero point as the reference does.
                            let dot = (acc[j] &- 128 &* sums[j]) &- zp &* rowSums[j]
                            let rowScale = perChannel ? scales[j] * sf : sf
                            o[j] += Float(dot) * rowScale
                        }
                    }
                }
            }
        } }
        ReferenceKernels.applyHybridActivation(out, p.activation)
    }
}
