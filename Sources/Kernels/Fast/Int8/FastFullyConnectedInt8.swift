
/// Int8 FULLY_CONNECTED as one GEMM over the input rows, read in place.
///
///     acc = Σ_k (x[b,k] + 128) * w[n,k]  +  bias[n] - (128 + inputZeroPoint) * Σ_k w[n,k]
///     out = clamp(requantize(acc, n) + outputZeroPoint, activationMin, activationMax)
///
/// equals ``ReferenceKernels/fullyConnected(input:weights:bias:output:geometry:parameters:)`` value for
/// value in every `RequantMode` (`.refFloatFC`, the default, is vectorized:
/// `round_half_away(double(acc) * scale)`). Weight zero points other than 0 (legacy per-tensor
/// models) are refused: `init` returns nil.
///
/// Work is split by blocks of 16 output channels, across threads too, since the weights are what
/// is read from memory. `run(reversed:)` walks the blocks last to first: callers alternate it between
/// consecutive calls (the interpreter does, per replica), so the weights read last by one call are still
/// in L2 when the next call starts with them.
public final class FastFullyConnectedInt8: @unchecked Sendable {
    /// The shape; `batches` is ignored (``run(input:output:batches:scratch:threads:reversed:)`` takes it).
    public let geometry: FullyConnectedGeometry
    /// The constants the kernel was prepared with.
    public let parameters: QuantizedConvParameters
    /// The instruction set the kernel runs on.
    public let backend: SIMDBackend
    /// The packed weights `[outputDepth][accumDepth]`.
    public let weights: PackedInt8Weights
    private let stage: Int8OutputStage

    /// Prepares the kernel from row-major weights `[outputDepth, accumDepth]` and an optional int32 bias.
    ///
    /// Returns nil when `parameters.weightZeroPoint != 0`. `backend` must be supported by this CPU.
    public init?(weights w: UnsafeBufferPointer<Int8>, bias: UnsafeBufferPointer<Int32>?, geometry g: FullyConnectedGeometry,
                 parameters p: QuantizedConvParameters, backend: SIMDBackend = .best) {
        guard p.weightZeroPoint == 0 else { return nil }
        precondition(backend.isSupported, "FastFullyConnectedInt8: backend \(backend) not supported by this CPU")
        precondition(w.count == g.outputDepth * g.accumDepth,
                     "FastFullyConnectedInt8: weights have \(w.count) values, geometry needs \(g.outputDepth * g.accumDepth)")
        precondition(bias == nil || bias!.count == g.outputDepth, "FastFullyConnectedInt8: bias has \(bias!.count) values for \(g.outputDepth) outputs")
        geometry = g
        parameters = p
        self.backend = backend
        let packed = PackedInt8Weights(weights: w, outputCount: g.outputDepth, depth: g.accumDepth)
        weights = packed
        let correction = 128 &+ p.inputZeroPoint
        let offsets = (0..<g.outputDepth).map { (bias?[$0] ?? 0) &- correction &* packed.rowSums[$0] }
        stage = Int8OutputStage(parameters: p, channels: g.outputDepth, offsets: offsets, backend: backend)
    }

    /// Scratch bytes ``run(input:output:batches:scratch:threads:reversed:)`` needs: the int32 accumulators.
    public func scratchByteCount(batches: Int, threads: Int = 1) -> Int {
        ScratchCarver.slack + ScratchCarver.bytes(batches * weights.paddedOutputCount, of: Int32.self)
    }

    /// Runs `batches` rows: `input` `[batches, accumDepth]`, `output` `[batches, outputDepth]`.
    ///
    /// Allocates nothing. With `threads > 1` the output channels are split across threads; the
    /// results do not depend on `threads`.
    public func run(input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>, batches: Int,
                    scratch: UnsafeMutableRawBufferPointer, threads: Int = 1, reversed: Bool = false) {
        let g = geometry
        precondition(input.count >= batches * g.accumDepth, "FastFullyConnectedInt8.run: input has \(input.count) values for \(batches) rows")
        precondition(output.count >= batches * g.outputDepth, "FastFullyConnectedInt8.run: output has \(output.count) values for \(batches) rows")
        var carver = ScratchCarver(scratch, needs: scratchByteCount(batches: batches, threads: threads), kernel: "FastFullyConnectedInt8")
        guard batches > 0, g.outputDepth > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        let npad = weights.paddedOutputCount
        let c = carver.take(batches * npad, of: Int32.self)
        let activation = parameters.activation
        FastInt8.forEachSlice(weights.blockCount, threads: threads) { _, blocks in
            Int8GEMM.multiply(a: x, rowStride: g.accumDepth, rows: batches, activations: .signed, weights: weights,
                              blocks: blocks, reversed: reversed, c: c, cRowStride: npad, backend: backend)
            let channels = (16 * blocks.lowerBound)..<min(g.outputDepth, 16 * blocks.upperBound)
            stage.run(acc: c, accRowStride: npad, rows: batches, channelRange: channels, out: y, outRowStride: g.outputDepth,
                      lo: activation.min, hi: activation.max)
        }
    }
}
