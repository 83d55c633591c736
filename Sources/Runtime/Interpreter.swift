import Kernels
import TensorCore

/// How an ``Interpreter`` is built.
public struct InterpreterOptions: Sendable, Equatable {
    /// Which implementation of the kernels runs the operators.
    ///
    /// `.reference` is the specification: plain loops, bit-exact with LiteRT's `BUILTIN_REF`
    /// (CONV_2D / DEPTHWISE_CONV_2D requantize with gemmlowp double rounding, FULLY_CONNECTED with
    /// the float-scale `round_half_away(double(acc) × scale)`, SOFTMAX int8 in gemmlowp fixed point).
    /// `.fast` runs packed-weight SIMD kernels (AVX-512 VNNI or AVX2 when the CPU has them, chosen at run
    /// time, with a portable path elsewhere). Int8 results equal the reference value for value; float
    /// results are within float rounding of it (different summation order).
    public enum KernelSet: String, Sendable, Hashable, CaseIterable {
        case reference
        case fast
    }

    /// The kernels to run.
    public var kernels: KernelSet
    /// The most samples one pass through the graph computes at once.
    ///
    /// The graph's leading (batch) dimension is scaled by this at prepare time, and the arena is
    /// sized for it; `run` with more samples loops over chunks of this size, reusing the same memory.
    /// When the graph cannot be batched this way (a non-batch leading dimension, a constant operand of
    /// an elementwise op, several inputs with different batch sizes) the interpreter uses 1; see
    /// ``Interpreter/batchCapacity``.
    public var batchCapacity: Int
    /// Give every tensor its own memory, so that ``Interpreter/intermediate(_:)`` can return any
    /// tensor of the last chunk after a run. Costs the sum of all tensor sizes instead of the planned
    /// arena.
    public var preservesIntermediates: Bool
    /// How hybrid (dynamic-range) kernels round the SIMD lanes when they quantize their float input.
    /// The default (`.addHalfAndTruncate`, NEON_2_SSE's `RoundToNearest`) reproduces LiteRT 2.3's
    /// x86 wheel on the golden `seed_dynamic` model.
    public var hybridLaneRounding: HybridInputQuantization.LaneRounding
    /// Threads a run uses. A run of several chunks is split across threads by contiguous ranges of
    /// samples; a run of one chunk (batch-1 latency) lets each fast kernel split its own work across
    /// the threads instead. Each thread has its own
    /// replica of the prepared interpreter (arena, scratch and decoded constants), so memory grows
    /// with the thread count, not with the sample count. Samples are independent, so the results do
    /// not depend on it. With ``preservesIntermediates`` there is one replica, and the operators split
    /// their own work.
    public var threadCount: Int
    /// The instruction set of the fast kernels: nil (the default) picks the best this CPU supports
    /// (``SIMDBackend/best``); naming one forces it, e.g. `.portable` to check the plain-Swift path
    /// on a CPU that has AVX-512. Must be supported by the CPU. Ignored by the reference kernels.
    public var simdBackend: SIMDBackend?

    public init(kernels: KernelSet = .reference, batchCapacity: Int = 16, preservesIntermediates: Bool = false,
                hybridLaneRounding: HybridInputQuantization.LaneRounding = .addHalfAndTruncate, threadCount: Int = 1,
                simdBackend: SIMDBackend? = nil) {
        self.simdBackend = simdBackend
        self.kernels = kernels
        self.batchCapacity = batchCapacity
        self.preservesIntermediates = preservesIntermediates
        self.hybridLaneRounding = hybridLaneRounding
        self.threadCount = threadCount
    }
}

/// A graph input or output as the caller sees it: one sample's shape, element type and quantization.
public struct TensorDescription: Sendable, Equatable {
    /// The tensor's index in ``Graph/tensors``.
    public var index: Int
    public var name: String
    /// The shape of one sample (the graph's own shape, batch dimension included).
    public var shape: [Int]
    public var elementType: ElementType
    public var quantization: GraphTensor.Quantization?

    /// Elements in one sample.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes in one sample.
    public var byteCount: Int { elementCount * elementType.byteSize }
}

/// Element types the typed conveniences of ``Interpreter`` accept.
public protocol InterpreterElement: BitwiseCopyable {
    static var elementType: ElementType { get }
}
extension Float: InterpreterElement { public static var elementType: ElementType { .float32 } }
extension Int8: InterpreterElement { public static var elementType: ElementType { .int8 } }
extension UInt8: InterpreterElement { public static var elementType: ElementType { .uint8 } }
extension Int32: InterpreterElement { public static var elementType: ElementType { .int32 } }

/// Runs a validated ``Graph`` on batches of samples.
///
/// ## Prepare (in `init`), once
///
/// - The graph is validated; every operator is matched to a kernel of ``InterpreterOptions/kernels``
///   or rejected with an ``InterpreterError`` of kind `.unsupported` that names it.
/// - Constants are decoded once into typed, aligned memory: int8 weights stay int8, int32 biases
///   int32; a DEQUANTIZE of a constant (float16 weights, or int8 weights behind a DEQUANTIZE) is
///   folded: its float32 output is computed here and the operator never runs.
/// - Each operator's kernel parameters are computed once: requantization multipliers from the
///   float32 scales, activation clamps, geometry and padding, hybrid weight row sums, softmax
///   fixed-point constants.
/// - Memory is planned once (``MemoryPlan``): all non-constant tensors for a batch of
///   ``batchCapacity`` samples share one arena with lifetime-based reuse, plus one int8 scratch
///   buffer for hybrid kernels.
///
/// ## Run
///
/// ``run(inputs:count:outputs:progress:)`` takes `count` samples (raw little-endian bytes of the
/// input type), copies up to ``batchCapacity`` of them into the arena, runs every step, copies the
/// outputs out, and repeats. Nothing is allocated per inference; memory does not grow with `count`.
///
/// Not thread-safe: one interpreter runs one call at a time (build one per thread).
public final class Interpreter {
    /// The graph this interpreter runs.
    public let graph: Graph
    /// The options it was built with.
    public let options: InterpreterOptions
    /// Samples computed per pass (``InterpreterOptions/batchCapacity``, or 1 when the graph cannot be
    /// batched along its leading dimension).
    public let batchCapacity: Int
    /// Where every non-constant tensor lives in the arena.
    public let memoryPlan: MemoryPlan
    /// The graph inputs, in ``Graph/inputs`` order.
    public let inputTensors: [TensorDescription]
    /// The graph outputs, in ``Graph/outputs`` order.
    public let outputTensors: [TensorDescription]
    /// Operators folded at prepare time (DEQUANTIZE of constants), by index.
    public let foldedOperators: [Int]
    /// Bytes of decoded constant memory of one replica (weights as the kernels read them, folded
    /// tensors included).
    public var constantByteCount: Int { replicas[0].constants.byteCount }
    /// Bytes of run-time memory of one replica: the arena and the hybrid scratch buffer.
    public var workingByteCount: Int { replicas[0].arena.byteCount + replicas[0].scratch.byteCount }
    /// Threads a large run uses (``InterpreterOptions/threadCount``, 1 with preserved intermediates).
    public var threadCount: Int { replicas.count }

    /// One prepared copy per thread; `replicas[0]` serves single-threaded runs and intermediates.
    let replicas: [Replica]
    /// Samples in the last chunk of the last run (0 before any run).
    public var lastChunkCount: Int { replicas[0].lastChunkCount }

    /// The only input (precondition: the graph has exactly one).
    public var inputTensor: TensorDescription {
        precondition(inputTensors.count == 1, "Interpreter.inputTensor: the graph has \(inputTensors.count) inputs")
        return inputTensors[0]
    }

    /// The only output (precondition: the graph has exactly one).
    public var outputTensor: TensorDescription {
        precondition(outputTensors.count == 1, "Interpreter.outputTensor: the graph has \(outputTensors.count) outputs")
        return outputTensors[0]
    }

    /// Prepares `graph` for running: validation, kernel choice, constant decoding, parameters and memory plan.
    ///
    /// - Throws: ``InterpreterError`` `.invalidGraph` when the graph fails validation, `.unsupported`
    ///   naming the operator when no kernel computes it.
    public init(graph: Graph, options: InterpreterOptions = InterpreterOptions()) throws(InterpreterError) {
        let fastKernels = FastKernelCache()
        var preparation = try Preparation(graph: graph, options: options, fastKernels: fastKernels)
        try preparation.compile()
        self.graph = graph
        self.options = options
        self.batchCapacity = preparation.batchCapacity
        self.memoryPlan = preparation.plan
        self.inputTensors = graph.inputs.map { preparation.describe($0) }
        self.outputTensors = graph.outputs.map { preparation.describe($0) }
        self.foldedOperators = preparation.folded.sorted()
        var replicas = [Replica(preparation)]
        let threads = options.preservesIntermediates ? 1 : max(1, options.threadCount)
        for _ in 1..<threads {
            var copy = try Preparation(graph: graph, options: options, validated: true, fastKernels: fastKernels)
            try copy.compile()
            replicas.append(Replica(copy))
        }
        self.replicas = replicas
    }

    // MARK: - Running

    /// Runs `count` samples of a single-input, single-output graph.
    ///
    /// `input` holds `count × inputTensor.byteCount` bytes: the samples back to back, little-endian,
    /// of the input's element type; `output` receives `count × outputTensor.byteCount` bytes.
    /// `progress`, if given, is called after each chunk with the number of samples done.
    public func run(input: UnsafeRawBufferPointer, count: Int, output: UnsafeMutableRawBufferPointer,
                    progress: ((Int) -> Void)? = nil) throws(InterpreterError) {
        guard inputTensors.count == 1, outputTensors.count == 1 else {
            throw InterpreterError(.invalidArgument,
                                   "the graph has \(inputTensors.count) inputs and \(outputTensors.count) outputs; use run(inputs:count:outputs:)")
        }
        try run(inputs: [input], count: count, outputs: [output], progress: progress)
    }

    /// Runs `count` samples; one buffer per graph input and output, in graph order.
    public func run(inputs: [UnsafeRawBufferPointer], count: Int, outputs: [UnsafeMutableRawBufferPointer],
                    progress: ((Int) -> Void)? = nil) throws(InterpreterError) {
        guard count >= 0 else { throw InterpreterError(.invalidArgument, "sample count \(count) is negative") }
        guard inputs.count == inputTensors.count else {
            throw InterpreterError(.invalidArgument, "\(inputs.count) input buffers for \(inputTensors.count) graph inputs")
        }
        guard outputs.count == outputTensors.count else {
            throw InterpreterError(.invalidArgument, "\(outputs.count) output buffers for \(outputTensors.count) graph outputs")
        }
        for (k, (buffer, t)) in zip(inputs, inputTensors).enumerated() {
            let (needed, overflow) = count.multipliedReportingOverflow(by: t.byteCount)
            if overflow || buffer.count != needed {
                throw InterpreterError(.inputSize, """
                    input \(k) (\(graph.describeTensor(t.index)), \(t.elementType) \(Shape.describe(t.shape))) \
                    needs \(count) × \(t.byteCount) = \(overflow ? "too many" : String(needed)) bytes for \(count) samples, \
                    but the buffer has \(buffer.count)
                    """, tensor: t.index)
            }
        }
        for (k, (buffer, t)) in zip(outputs, outputTensors).enumerated() where buffer.count != count * t.byteCount {
            throw InterpreterError(.outputSize, """
                output \(k) (\(graph.describeTensor(t.index)), \(t.elementType) \(Shape.describe(t.shape))) \
                needs \(count) × \(t.byteCount) = \(count * t.byteCount) bytes, but the buffer has \(buffer.count)
                """, tensor: t.index)
        }
        // No kernel here calls OpenBLAS, so its thread count is left alone: setting it on every run woke
        // OpenBLAS's worker threads, whose spin-wait then took a core from single-thread runs (1.5x slower
        // in a process that had trained or calibrated before).
        let threads = min(replicas.count, (count + batchCapacity - 1) / batchCapacity)
        if threads <= 1 {
            // One chunk (or one thread): the operators themselves may split their work across the threads.
            replicas[0].run(inputs: inputs, outputs: outputs, range: 0..<count, interpreter: self, progress: progress,
                            threads: max(1, options.threadCount))
            return
        }
        // Contiguous ranges of whole chunks, one per replica; only the first replica reports progress.
        let chunks = (count + batchCapacity - 1) / batchCapacity
        let ranges = (0..<threads).map { k in
            min(count, chunks * k / threads * batchCapacity)..<min(count, chunks * (k + 1) / threads * batchCapacity)
        }
        let job = ParallelRun(replicas: replicas, inputs: inputs, outputs: outputs, ranges: ranges, interpreter: self)
        let first = ranges[0].count
        Parallel.run(threads) { k in
            job.run(k, progress: k == 0 ? progress : nil, scale: Double(count) / Double(max(first, 1)))
        }
        progress?(count)
    }

    /// Runs the samples in `input` (a whole number of them) and returns the outputs.
    ///
    /// `Input` must be the input's element type and `Output` the output's (`Float`, `Int8`, ...).
    public func run<Input: InterpreterElement, Output: InterpreterElement>(
        _ input: [Input], as _: Output.Type = Output.self
    ) throws(InterpreterError) -> [Output] {
        guard inputTensors.count == 1, outputTensors.count == 1 else {
            throw InterpreterError(.invalidArgument,
                                   "the graph has \(inputTensors.count) inputs and \(outputTensors.count) outputs; use run(inputs:count:outputs:)")
        }
        let (i, o) = (inputTensors[0], outputTensors[0])
        guard Input.elementType == i.elementType else {
            throw InterpreterError(.typeMismatch, "the model's input \(graph.describeTensor(i.index)) is \(i.elementType), not \(Input.elementType)", tensor: i.index)
        }
        guard Output.elementType == o.elementType else {
            throw InterpreterError(.typeMismatch, "the model's output \(graph.describeTensor(o.index)) is \(o.elementType), not \(Output.elementType)", tensor: o.index)
        }
        let perSample = i.elementCount
        guard perSample > 0, input.count % perSample == 0 else {
            throw InterpreterError(.inputSize, """
                \(input.count) \(i.elementType) values are not a whole number of samples of \(Shape.describe(i.shape)) \
                (\(perSample) values each)
                """, tensor: i.index)
        }
        let count = input.count / perSample
        let total = count * o.elementCount
        var failure: InterpreterError?
        let result = [Output](unsafeUninitializedCapacity: total) { buffer, initialized in
            let outBytes = UnsafeMutableRawBufferPointer(buffer)
            if !outBytes.isEmpty { outBytes.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: outBytes.count) }
            initialized = total
            input.withUnsafeBytes { inBytes in
                do throws(InterpreterError) {
                    try run(input: inBytes, count: count, output: outBytes)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        return result
    }

    // MARK: - Intermediates

    /// The value of tensor `index` after the last run, for the samples of its last chunk
    /// (``lastChunkCount`` of them, leading dimension scaled accordingly), as a ``GraphTensor`` whose
    /// `data` holds the values.
    ///
    /// Constants (and folded tensors) are always available; graph outputs too. Any other tensor needs
    /// ``InterpreterOptions/preservesIntermediates``, because the arena reuses its memory.
    public func intermediate(_ index: Int) throws(InterpreterError) -> GraphTensor {
        guard graph.tensors.indices.contains(index) else {
            throw InterpreterError(.invalidArgument, "tensor \(index) is not in the graph (\(graph.tensors.count) tensors)", tensor: index)
        }
        let t = graph.tensors[index]
        if let folded = replicas[0].constants.folded[index] {
            var copy = t
            copy.elementType = .float32
            copy.quantization = nil
            copy.data = ConstantData(float32: folded)
            return copy
        }
        if t.isConstant { return t }
        guard let entry = memoryPlan.entry(for: index), let base = replicas[0].addresses[index] else {
            throw InterpreterError(.notPreserved, "\(graph.describeTensor(index)) is not computed by this graph", tensor: index)
        }
        guard lastChunkCount > 0 else {
            throw InterpreterError(.notPreserved, "\(graph.describeTensor(index)): nothing has run yet", tensor: index)
        }
        guard options.preservesIntermediates || entry.lastStep == Int.max else {
            throw InterpreterError(.notPreserved, """
                \(graph.describeTensor(index)) shares memory with later tensors; build the interpreter with \
                preservesIntermediates to read it after a run
                """, tensor: index)
        }
        let samples = batchCapacity == 1 ? 1 : lastChunkCount
        let bytes = (t.byteCount ?? 0) * samples
        var copy = t
        if samples > 1, !copy.shape.isEmpty { copy.shape[0] *= samples }
        copy.data = ConstantData(bytes: [UInt8](UnsafeRawBufferPointer(start: base, count: bytes)))
        copy.shapeSignature = nil
        return copy
    }

    /// Every non-constant tensor after the last run (needs ``InterpreterOptions/preservesIntermediates``),
    /// by tensor index.
    public func intermediates() throws(InterpreterError) -> [Int: GraphTensor] {
        var result: [Int: GraphTensor] = [:]
        for entry in memoryPlan.entries { result[entry.tensor] = try intermediate(entry.tensor) }
        return result
    }
}

/// One prepared copy of the interpreter's run-time state: arena, scratch, decoded constants and the
/// compiled steps that point into them.
final class Replica {
    let arena: RawAllocation
    let constants: ConstantPool
    let scratch: RawAllocation
    let steps: [Step]
    /// Base address of every tensor the steps touch (arena slot or constant memory).
    let addresses: [Int: UnsafeMutableRawPointer]
    var lastChunkCount = 0
    /// Passes run so far (see ``ExecutionContext/pass``).
    var passes = 0

    init(_ p: Preparation) {
        arena = p.arena
        constants = p.constants
        scratch = p.scratch
        steps = p.steps
        addresses = p.addresses
    }

    /// Runs samples `range` (buffers already checked), a chunk of at most `batchCapacity` at a time.
    func run(inputs: [UnsafeRawBufferPointer], outputs: [UnsafeMutableRawBufferPointer], range: Range<Int>,
             interpreter: Interpreter, progress: ((Int) -> Void)?, threads: Int = 1) {
        var done = range.lowerBound
        while done < range.upperBound {
            let n = min(interpreter.batchCapacity, range.upperBound - done)
            for (buffer, t) in zip(inputs, interpreter.inputTensors) where t.byteCount > 0 {
                addresses[t.index]!.copyMemory(from: buffer.baseAddress! + done * t.byteCount, byteCount: n * t.byteCount)
            }
            invoke(samples: n, threads: threads)
            for (buffer, t) in zip(outputs, interpreter.outputTensors) where t.byteCount > 0 {
                (buffer.baseAddress! + done * t.byteCount).copyMemory(from: addresses[t.index]!, byteCount: n * t.byteCount)
            }
            lastChunkCount = n
            done += n
            progress?(done - range.lowerBound)
        }
    }
}

/// The pieces of a multi-threaded run; each thread touches only its own replica and output range.
struct ParallelRun: @unchecked Sendable {
    let replicas: [Replica]
    let inputs: [UnsafeRawBufferPointer]
    let outputs: [UnsafeMutableRawBufferPointer]
    let ranges: [Range<Int>]
    let interpreter: Interpreter

    func run(_ k: Int, progress: ((Int) -> Void)?, scale: Double) {
        var report: ((Int) -> Void)? = nil
        if let progress {
            report = { done in progress(Int(Double(done) * scale)) }
        }
        replicas[k].run(inputs: inputs, outputs: outputs, range: ranges[k], interpreter: interpreter, progress: report)
    }
}

/// An aligned, zero-initialized raw allocation freed with its owner.
final class RawAllocation {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: MemoryPlan.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { base.deallocate() }
}
