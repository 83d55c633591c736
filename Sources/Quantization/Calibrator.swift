import Runtime
import TensorCore

/// The calibration statistic of one tensor: global min and max over every representative sample.
public struct MinMax: Sendable, Equatable {
    public var min: Float
    public var max: Float

    public init(min: Float = .infinity, max: Float = -.infinity) {
        self.min = min
        self.max = max
    }

    /// `true` once a value has been observed.
    public var isEmpty: Bool { min > max }
}

/// Runs a float graph on representative batches and records the global min/max of every computed
/// float32 tensor and graph input, the TFLite calibrator's statistic
/// (`calibration_logger.cc`: no averaging).
///
/// Samples go through the ``Runtime/Interpreter`` (fast kernels on the portable backend, all cores: its float
/// sums are the reference kernels' bit for bit — separate multiply and add in the reference order — so the
/// ranges, and the scales TensorFlow's converter agrees with, do not move with the CPU's FMA) in chunks of at most
/// `batchSize`, with intermediates preserved, so memory is bounded by one chunk whatever the
/// dataset's length. Unlike TFLite's logger, which skips NaNs, a non-finite sample or activation
/// is an error: it would silently poison the ranges.
struct Calibrator {
    let graph: Graph
    let interpreter: Interpreter
    /// Tensors observed: graph inputs and every operator output that is computed at run time.
    let observed: [Int]

    init(graph: Graph, batchSize: Int) throws(QuantizationError) {
        self.graph = graph
        guard graph.inputs.count == 1 else {
            throw QuantizationError(.invalidGraph, "the graph has \(graph.inputs.count) inputs; calibration takes single-input models")
        }
        do {
            interpreter = try Interpreter(graph: graph, options: InterpreterOptions(
                kernels: .fast, batchCapacity: max(1, batchSize), preservesIntermediates: true, threadCount: Parallel.threadCount,
                simdBackend: .portable))
        } catch {
            throw QuantizationError(.calibrationFailed, "cannot run the float graph to calibrate it: \(error)",
                                    operator: error.operatorIndex, tensor: error.tensorIndex)
        }
        let folded = Set(interpreter.foldedOperators)
        var observed = graph.inputs
        for (j, op) in graph.operators.enumerated() where !folded.contains(j) {
            for y in op.outputs where graph.tensors[y].elementType == .float32 && !observed.contains(y) { observed.append(y) }
        }
        self.observed = observed
    }

    struct Statistics {
        var ranges: [Int: MinMax]
        var samples: Int
    }

    func calibrate(_ data: some Sequence<[Float]>) throws(QuantizationError) -> Statistics {
        let input = interpreter.inputTensor
        let perSample = input.elementCount
        let outputBytes = interpreter.outputTensors.map(\.byteCount)
        var ranges: [Int: MinMax] = [:]
        for t in observed { ranges[t] = MinMax() }
        var samples = 0
        // Scratch for the graph outputs of one chunk (the ranges come from the preserved intermediates).
        let outputs = outputBytes.map {
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, $0 * interpreter.batchCapacity), alignment: 16)
        }
        defer { outputs.forEach { $0.deallocate() } }
        for (b, batch) in data.enumerated() {
            guard perSample > 0, !batch.isEmpty, batch.count % perSample == 0 else {
                throw QuantizationError(.malformedSample, """
                    representative batch \(b) has \(batch.count) values, not a whole number of samples of \
                    \(graph.describeTensor(input.index)) \(Shape.describe(input.shape)) (\(perSample) values each)
                    """, tensor: input.index)
            }
            if let bad = batch.firstIndex(where: { !$0.isFinite }) {
                throw QuantizationError(.nonFiniteValue, """
                    representative batch \(b), sample \(bad / perSample) (sample \(samples + bad / perSample) overall) \
                    has a non-finite value \(batch[bad]) at element \(bad % perSample)
                    """, tensor: input.index)
            }
            let count = batch.count / perSample
            var done = 0
            while done < count {
                let n = min(interpreter.batchCapacity, count - done)
                var failure: InterpreterError?
                batch.withUnsafeBytes { raw in
                    let slice = UnsafeRawBufferPointer(rebasing: raw[(done * perSample * 4)..<((done + n) * perSample * 4)])
                    let buffers = outputs.indices.map { k in
                        UnsafeMutableRawBufferPointer(rebasing: outputs[k][0..<(n * outputBytes[k])])
                    }
                    do throws(InterpreterError) {
                        try interpreter.run(inputs: [slice], count: n, outputs: buffers)
                    } catch {
                        failure = error
                    }
                }
                if let error = failure {
                    throw QuantizationError(.calibrationFailed, "running the float graph on representative batch \(b) failed: \(error)",
                                            operator: error.operatorIndex, tensor: error.tensorIndex)
                }
                for t in observed {
                    let values: [Float]
                    do {
                        values = try interpreter.intermediate(t).data!.float32Values()
                    } catch {
                        throw QuantizationError(.calibrationFailed, "cannot read \(graph.describeTensor(t)) after a calibration run: \(error)", tensor: t)
                    }
                    var r = ranges[t]!
                    for v in values {
                        guard v.isFinite else {
                            throw QuantizationError(.nonFiniteValue, """
                                \(graph.describeTensor(t)) is \(v) on representative batch \(b) (samples \(samples + done)..<\(samples + done + n)); \
                                its range cannot be calibrated
                                """, tensor: t)
                        }
                        r.min = Swift.min(r.min, v)
                        r.max = Swift.max(r.max, v)
                    }
                    ranges[t] = r
                }
                done += n
            }
            samples += count
        }
        guard samples > 0 else {
            throw QuantizationError(.emptyRepresentativeData, "the representative dataset is empty: full-integer quantization needs at least one sample to calibrate activation ranges")
        }
        return Statistics(ranges: ranges, samples: samples)
    }
}
