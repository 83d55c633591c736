import Kernels
import TensorCore

/// Decoded constants in typed, aligned memory, freed with the interpreter.
final class ConstantPool {
    private(set) var allocations: [UnsafeMutableRawPointer] = []
    private(set) var byteCount = 0
    /// Tensor index → decoded memory.
    var addresses: [Int: UnsafeMutableRawPointer] = [:]
    /// Outputs of folded DEQUANTIZE operators, as float32.
    var folded: [Int: [Float]] = [:]

    /// Copies `values` into fresh aligned memory for `tensor` and returns it.
    @discardableResult
    func store<T: BitwiseCopyable>(_ values: [T], for tensor: Int) -> UnsafeMutableBufferPointer<T> {
        let bytes = max(values.count * MemoryLayout<T>.stride, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: MemoryPlan.alignment)
        allocations.append(raw)
        byteCount += bytes
        let typed = raw.bindMemory(to: T.self, capacity: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { typed.initialize(from: base, count: values.count) }
        }
        addresses[tensor] = raw
        return UnsafeMutableBufferPointer(start: typed, count: values.count)
    }

    deinit {
        for p in allocations { p.deallocate() }
    }
}

/// Everything `Interpreter.init` computes, step by step.
struct Preparation {
    let graph: Graph
    let options: InterpreterOptions
    let constants = ConstantPool()
    /// Operators folded at prepare time.
    var folded: Set<Int> = []
    /// Operators that run, in order.
    var executed: [Int] = []
    var batchCapacity = 1
    var plan: MemoryPlan
    var arena: RawAllocation
    var scratch = RawAllocation(byteCount: 0)
    var addresses: [Int: UnsafeMutableRawPointer] = [:]
    var steps: [Step] = []
    /// Prepared fast kernels, shared with the other replicas of the same interpreter.
    let fastKernels: FastKernelCache
    /// Operators a fused fast kernel of an earlier operator already computes.
    var fusedAway: Set<Int> = []
    /// int8 CONV_2D → MAX_POOL_2D pairs the fast set runs as one kernel (convolution → pool operator).
    var fusedPools: [Int: Int] = [:]

    init(graph: Graph, options: InterpreterOptions, validated: Bool = false,
         fastKernels: FastKernelCache = FastKernelCache()) throws(InterpreterError) {
        self.fastKernels = fastKernels
        if !validated {
            do {
                try graph.validate()
            } catch {
                throw InterpreterError(.invalidGraph, error.description, operator: error.operatorIndex, tensor: error.tensorIndex)
            }
        }
        self.graph = graph
        self.options = options
        guard options.batchCapacity >= 1 else {
            throw InterpreterError(.invalidArgument, "batch capacity \(options.batchCapacity) must be at least 1")
        }
        let tensors = graph.tensors

        // 1. Fold DEQUANTIZE of constants (float16 weights, int8 weights behind a DEQUANTIZE).
        for (j, op) in graph.operators.enumerated() where op.kind == .dequantize {
            let x = op.inputs[0]
            guard tensors[x].isConstant else { continue }
            constants.folded[op.outputs[0]] = try Preparation.dequantizedConstant(graph, x, operator: j)
            folded.insert(j)
        }
        let foldedOperators = folded
        executed = graph.operators.indices.filter { !foldedOperators.contains($0) }

        // 2. Which tensors live in the arena.
        var isComputed = Set(graph.inputs)
        for j in executed { isComputed.formUnion(graph.operators[j].outputs) }
        for i in graph.outputs where !isComputed.contains(i) {
            throw InterpreterError(.unsupported, "graph output \(graph.describeTensor(i)) is a constant; QuantKit runs only computed outputs", tensor: i)
        }

        // 3. Can the leading dimension carry a batch of samples?
        let foldedValues = constants.folded
        let batchable = Preparation.isBatchable(graph, executed: executed, computed: isComputed, folded: foldedValues)
        batchCapacity = options.batchCapacity > 1 && batchable ? options.batchCapacity : 1

        // 4. Lifetimes and the plan.
        var first: [Int: Int] = [:], last: [Int: Int] = [:]
        for i in graph.inputs { first[i] = -1; last[i] = -1 }
        for (s, j) in executed.enumerated() {
            let op = graph.operators[j]
            for i in op.inputs where i >= 0 && isComputed.contains(i) { last[i] = max(last[i] ?? s, s) }
            for i in op.outputs { first[i] = s; last[i] = max(last[i] ?? s, s) }
        }
        for i in graph.outputs { last[i] = Int.max }
        // A fused pair writes the pool's output during the convolution's step: its life starts there,
        // so it cannot share memory with the convolution's input.
        fusedPools = options.kernels == .fast && !options.preservesIntermediates
            ? Preparation.fusableConvolutionPools(graph, executed: executed) : [:]
        for (conv, pool) in fusedPools {
            let out = graph.operators[pool].outputs[0]
            first[out] = min(first[out] ?? Int.max, first[graph.operators[conv].outputs[0]] ?? Int.max)
        }
        var requests: [(tensor: Int, byteCount: Int, firstStep: Int, lastStep: Int)] = []
        for i in isComputed.sorted() {
            let (bytes, overflow) = (tensors[i].byteCount ?? 0).multipliedReportingOverflow(by: batchCapacity)
            if overflow {
                throw InterpreterError(.invalidArgument, "\(graph.describeTensor(i)) × batch capacity \(batchCapacity) overflows", tensor: i)
            }
            requests.append((i, bytes, first[i] ?? -1, last[i] ?? -1))
        }
        plan = MemoryPlan(requests, reuse: !options.preservesIntermediates)
        arena = RawAllocation(byteCount: plan.arenaByteCount)
        for e in plan.entries { addresses[e.tensor] = arena.base + e.offset }
        for (i, values) in constants.folded {
            addresses[i] = UnsafeMutableRawPointer(constants.store(values, for: i).baseAddress!)
        }
    }

    /// The tensor as the caller sees it.
    func describe(_ i: Int) -> TensorDescription {
        let t = graph.tensors[i]
        return TensorDescription(index: i, name: t.name, shape: t.shape, elementType: t.elementType, quantization: t.quantization)
    }

    // MARK: - Folding and batching

    /// The float32 values of DEQUANTIZE applied to constant `x`: float16 widened exactly, integers as
    /// `float(double(scale[c]) × (q − zp[c]))` along the quantized dimension.
    static func dequantizedConstant(_ graph: Graph, _ x: Int, operator j: Int) throws(InterpreterError) -> [Float] {
        let t = graph.tensors[x]
        let data = t.data!
        switch t.elementType {
        case .float16:
            return data.float16Values()
        case .int8, .uint8, .int16:
            let q = t.quantization!
            let values: [Int32] = switch t.elementType {
            case .int8: data.int8Values().map(Int32.init)
            case .uint8: data.uint8Values().map(Int32.init)
            default: data.int16Values().map(Int32.init)
            }
            let axis = q.quantizedDimension
            let inner = q.scales.count == 1 ? 1 : t.shape[(axis + 1)...].reduce(1, *)
            let channels = q.scales.count
            return values.indices.map { e in
                let c = channels == 1 ? 0 : (e / inner) % channels
                return Float(Double(q.scales[c]) * Double(values[e] - Int32(q.zeroPoints[c])))
            }
        default:
            throw InterpreterError(.unsupported, "\(graph.describeOperator(j)): DEQUANTIZE of a \(t.elementType) constant is not supported",
                                   operator: j, tensor: x)
        }
    }

    /// `true` when scaling the leading dimension of every computed tensor by `n` computes `n` samples:
    /// every computed tensor has the graph inputs' leading dimension, MEAN does not reduce it, and no
    /// elementwise operator reads a constant (which would not scale).
    static func isBatchable(_ graph: Graph, executed: [Int], computed: Set<Int>, folded: [Int: [Float]]) -> Bool {
        guard let firstInput = graph.inputs.first, let batch = graph.tensors[firstInput].shape.first, batch >= 1 else { return false }
        for i in computed {
            guard graph.tensors[i].shape.first == batch else { return false }
        }
        for j in executed {
            let op = graph.operators[j]
            let dataInputs: [Int] = switch op.kind {
            case .conv2D, .depthwiseConv2D, .fullyConnected, .mean, .reshape: [op.inputs[0]]
            default: op.inputs
            }
            for i in dataInputs where i >= 0 && !computed.contains(i) { return false }
            if case .mean = op.options, let axes = graph.tensors[op.inputs[1]].data?.int32Values(),
               axes.contains(where: { $0 == 0 || Int($0) == -graph.tensors[op.inputs[0]].shape.count }) {
                return false
            }
        }
        return true
    }

    // MARK: - Operands

    func unsupported(_ j: Int, _ message: String, tensor: Int? = nil) -> InterpreterError {
        InterpreterError(.unsupported, "\(graph.describeOperator(j)): \(message)", operator: j, tensor: tensor)
    }

    /// An activation operand (a computed tensor, or a constant that does not scale with the batch).
    func operand(_ i: Int) -> Operand {
        let t = graph.tensors[i]
        if let base = addresses[i] {
            return Operand(base: base, count: t.elementCount ?? 0, scales: !t.isConstant && constants.folded[i] == nil)
        }
        // A constant read as data: decode it (its raw little-endian bytes are the host layout).
        let base = constants.addresses[i] ?? UnsafeMutableRawPointer(constants.store(t.data!.bytes, for: i).baseAddress!)
        return Operand(base: base, count: t.elementCount ?? 0, scales: false)
    }

    /// Constant float32 weights or bias (a float32 constant, or a folded DEQUANTIZE output).
    func floatConstant(_ j: Int, _ i: Int, role: String) throws(InterpreterError) -> UnsafeBufferPointer<Float> {
        if let values = constants.folded[i], let base = constants.addresses[i] {
            return UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: values.count)
        }
        let t = graph.tensors[i]
        guard let data = t.data, t.elementType == .float32 else {
            throw unsupported(j, "\(role) \(graph.describeTensor(i)) must be a constant (QuantKit runs constant weights only)", tensor: i)
        }
        if let base = constants.addresses[i] {
            return UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: t.elementCount ?? 0)
        }
        return UnsafeBufferPointer(constants.store(data.float32Values(), for: i))
    }

    func int8Constant(_ j: Int, _ i: Int, role: String) throws(InterpreterError) -> UnsafeBufferPointer<Int8> {
        let t = graph.tensors[i]
        guard let data = t.data, t.elementType == .int8 else {
            throw unsupported(j, "\(role) \(graph.describeTensor(i)) must be an int8 constant", tensor: i)
        }
        if let base = constants.addresses[i] {
            return UnsafeBufferPointer(start: base.assumingMemoryBound(to: Int8.self), count: t.elementCount ?? 0)
        }
        return UnsafeBufferPointer(constants.store(data.int8Values(), for: i))
    }

    func int32Constant(_ j: Int, _ i: Int, role: String) throws(InterpreterError) -> UnsafeBufferPointer<Int32> {
        let t = graph.tensors[i]
        guard let data = t.data, t.elementType == .int32 else {
            throw unsupported(j, "\(role) \(graph.describeTensor(i)) must be an int32 constant", tensor: i)
        }
        if let base = constants.addresses[i] {
            return UnsafeBufferPointer(start: base.assumingMemoryBound(to: Int32.self), count: t.elementCount ?? 0)
        }
        return UnsafeBufferPointer(constants.store(data.int32Values(), for: i))
    }

    /// Per-tensor parameters of an int8 activation.
    func affine(_ i: Int) -> AffineQuantization {
        let q = graph.tensors[i].quantization!
        return AffineQuantization(scale: q.scales[0], zeroPoint: Int32(q.zeroPoints[0]))
    }

    /// The element type a tensor has at run time (folded DEQUANTIZE outputs are float32).
    func type(_ i: Int) -> ElementType { graph.tensors[i].elementType }

    // MARK: - Compiling the operators

    mutating func compile() throws(InterpreterError) {
        var scratchBytes = 0
        for j in executed where !fusedAway.contains(j) {
            let op = graph.operators[j]
            let kernel: StepKernel
            if options.kernels == .fast, let fast = try compileFast(j, op, scratchBytes: &scratchBytes) {
                kernel = fast
            } else {
                kernel = try compileOperator(j, op, scratchBytes: &scratchBytes)
            }
            steps.append(Step(operatorIndex: j, kernel: kernel, multiplyAccumulates: multiplyAccumulates(op)))
        }
        scratch = RawAllocation(byteCount: scratchBytes)
    }

    /// Multiply-accumulates of one sample of `op` (from the static shapes; 0 for operators without weights).
    func multiplyAccumulates(_ op: GraphOperator) -> Int {
        guard op.inputs.count > 1, op.inputs[1] >= 0, let out = op.outputs.first else { return 0 }
        let outputShape = graph.tensors[out].shape, w = graph.tensors[op.inputs[1]].shape
        let perSample = (Shape.elementCount(outputShape) ?? 0) / max(1, outputShape.first ?? 1)
        switch op.kind {
        case .conv2D where w.count == 4: return perSample &* w[1] &* w[2] &* w[3]
        case .depthwiseConv2D where w.count == 4: return perSample &* w[1] &* w[2]
        case .fullyConnected where w.count == 2: return perSample &* w[1]
        default: return 0
        }
    }

    func convolutionGeometry(_ j: Int, depthwise: Bool, padding: PaddingType, strides: (Int, Int), dilations: (Int, Int)) -> Conv2DGeometry {
        let op = graph.operators[j]
        let sx = graph.tensors[op.inputs[0]].shape, sw = graph.tensors[op.inputs[1]].shape
        return Conv2DGeometry(batches: sx[0], inputHeight: sx[1], inputWidth: sx[2], inputChannels: sx[3],
                              filterHeight: sw[1], filterWidth: sw[2], filterInputChannels: depthwise ? nil : sw[3],
                              outputChannels: depthwise ? sw[3] : sw[0],
                              strideHeight: strides.0, strideWidth: strides.1,
                              dilationHeight: dilations.0, dilationWidth: dilations.1, padding: padding)
    }

    func compileOperator(_ j: Int, _ op: GraphOperator, scratchBytes: inout Int) throws(InterpreterError) -> StepKernel {
        let x = op.inputs[0], y = op.outputs[0]
        let bias: Int? = op.inputs.count > 2 && op.inputs[2] >= 0 ? op.inputs[2] : nil
        switch op.options {
        case .conv2D(let p):
            return try compileConvolution(j, op, p, scratchBytes: &scratchBytes)
        case .depthwiseConv2D(let p):
            return try compileConvolution(j, op, p, scratchBytes: &scratchBytes)
        case .fullyConnected(let p):
            let w = op.inputs[1]
            let k = graph.tensors[w].shape[1], units = graph.tensors[w].shape[0]
            let rows = (graph.tensors[x].elementCount ?? 0) / k
            let geometry = FullyConnectedGeometry(batches: rows, accumDepth: k, outputDepth: units)
            switch (type(x), type(w)) {
            case (.float32, .float32):
                return .fullyConnected(FullyConnectedStep(
                    input: operand(x), weights: try floatConstant(j, w, role: "weights"),
                    bias: try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") },
                    output: operand(y), geometry: geometry, parameters: p.fusedActivation.floatRange))
            case (.int8, .int8):
                let q = graph.tensors[w].quantization!
                let parameters = QuantizedConvParameters.fullyConnected(
                    input: affine(x), weightScales: q.scales, weightZeroPoint: Int32(q.zeroPoints[0]),
                    output: affine(y), activation: p.fusedActivation)
                return .fullyConnectedInt8(FullyConnectedStep(
                    input: operand(x), weights: try int8Constant(j, w, role: "weights"),
                    bias: try bias.map { (b) throws(InterpreterError) in try int32Constant(j, b, role: "bias") },
                    output: operand(y), geometry: geometry, parameters: parameters))
            case (.float32, .int8):
                let weights = try int8Constant(j, w, role: "weights")
                let parameters = HybridFullyConnectedParameters(
                    weights: weights, geometry: geometry, weightScales: graph.tensors[w].quantization!.scales,
                    asymmetricInputs: p.asymmetricQuantizeInputs, activation: p.fusedActivation,
                    laneRounding: options.hybridLaneRounding)
                scratchBytes = max(scratchBytes, k)
                return .fullyConnectedHybrid(FullyConnectedStep(
                    input: operand(x), weights: weights,
                    bias: try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") },
                    output: operand(y), geometry: geometry, parameters: parameters))
            default:
                throw unsupported(j, "\(type(x)) input with \(type(w)) weights")
            }
        case .maxPool2D(let p), .averagePool2D(let p):
            let sx = graph.tensors[x].shape
            let geometry = Conv2DGeometry(batches: sx[0], inputHeight: sx[1], inputWidth: sx[2], inputChannels: sx[3],
                                          filterHeight: p.filterHeight, filterWidth: p.filterWidth, outputChannels: sx[3],
                                          strideHeight: p.strideHeight, strideWidth: p.strideWidth, padding: p.padding)
            let isMax = op.kind == .maxPool2D
            if type(x) == .float32 {
                let s = PoolStep(input: operand(x), output: operand(y), geometry: geometry, activation: p.fusedActivation.floatRange)
                return isMax ? .maxPool2D(s) : .averagePool2D(s)
            }
            let s = PoolStep(input: operand(x), output: operand(y), geometry: geometry,
                             activation: p.fusedActivation.int8Range(output: affine(y)))
            return isMax ? .maxPool2DInt8(s) : .averagePool2DInt8(s)
        case .mean:
            let sx = graph.tensors[x].shape
            let axes = Set(graph.tensors[op.inputs[1]].data!.int32Values().map { Int($0) < 0 ? Int($0) + sx.count : Int($0) })
            guard sx.count == 4, axes == [1, 2] else {
                throw unsupported(j, "MEAN over axes \(axes.sorted()) of a rank-\(sx.count) tensor; QuantKit computes MEAN over axes 1 and 2 of NHWC tensors")
            }
            if type(x) == .float32 {
                return .mean(MeanStep(input: operand(x), output: operand(y), batches: sx[0], height: sx[1], width: sx[2],
                                      channels: sx[3], parameters: ()))
            }
            return .meanInt8(MeanStep(input: operand(x), output: operand(y), batches: sx[0], height: sx[1], width: sx[2],
                                      channels: sx[3],
                                      parameters: QuantizedMeanParameters(input: affine(x), output: affine(y), count: sx[1] * sx[2])))
        case .add(let p):
            let b = op.inputs[1]
            guard graph.tensors[x].shape == graph.tensors[b].shape else {
                throw unsupported(j, "broadcasting ADD (\(Shape.describe(graph.tensors[x].shape)) + \(Shape.describe(graph.tensors[b].shape))); the reference kernel adds tensors of the same shape")
            }
            if type(x) == .float32 {
                return .add(BinaryStep(input1: operand(x), input2: operand(b), output: operand(y), parameters: p.fusedActivation.floatRange))
            }
            return .addInt8(BinaryStep(input1: operand(x), input2: operand(b), output: operand(y),
                                       parameters: QuantizedAddParameters(input1: affine(x), input2: affine(b), output: affine(y),
                                                                          activation: p.fusedActivation)))
        case .reshape:
            return .copy(UnaryStep(input: operand(x), output: operand(y), parameters: type(x).byteSize))
        case .softmax(let p):
            let depth = graph.tensors[x].shape.last ?? 1
            guard depth > 0 else { throw unsupported(j, "SOFTMAX over an empty last axis") }
            if type(x) == .float32 {
                return .softmax(UnaryStep(input: operand(x), output: operand(y), parameters: SoftmaxSetup(depth: depth, parameters: p.beta)))
            }
            let real = Double(p.beta) * Double(affine(x).scale) * Double(1 << 26)
            guard real >= 1 else {
                throw unsupported(j, "int8 SOFTMAX with beta × input scale \(Double(p.beta) * Double(affine(x).scale)) below 2^-26")
            }
            return .softmaxInt8(UnaryStep(input: operand(x), output: operand(y), parameters: SoftmaxSetup(
                depth: depth, parameters: QuantizedSoftmaxParameters(inputScale: affine(x).scale, beta: p.beta))))
        case .quantize:
            guard type(y) == .int8, graph.tensors[y].quantization!.isPerTensor else {
                throw unsupported(j, "QUANTIZE to \(type(y))\(type(y) == .int8 ? " per axis" : ""); QuantKit quantizes to per-tensor int8", tensor: y)
            }
            switch type(x) {
            case .float32:
                return .quantize(UnaryStep(input: operand(x), output: operand(y), parameters: affine(y)))
            case .int8:
                return .requantize(UnaryStep(input: operand(x), output: operand(y),
                                             parameters: RequantizeParameters(input: affine(x), output: affine(y))))
            default:
                throw unsupported(j, "QUANTIZE from \(type(x))", tensor: x)
            }
        case .dequantize:
            guard type(x) == .int8, graph.tensors[x].quantization!.isPerTensor else {
                throw unsupported(j, "DEQUANTIZE of a computed \(type(x)) tensor\(type(x) == .int8 ? " quantized per axis" : "")", tensor: x)
            }
            return .dequantize(UnaryStep(input: operand(x), output: operand(y), parameters: affine(x)))
        }
    }

    func compileConvolution(_ j: Int, _ op: GraphOperator, _ p: any ConvolutionOptions,
                            scratchBytes: inout Int) throws(InterpreterError) -> StepKernel {
        let (x, w, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        let bias: Int? = op.inputs.count > 2 && op.inputs[2] >= 0 ? op.inputs[2] : nil
        let depthwise = op.kind == .depthwiseConv2D
        let geometry = convolutionGeometry(j, depthwise: depthwise, padding: p.padding, strides: (p.strideHeight, p.strideWidth),
                                           dilations: (p.dilationHeight, p.dilationWidth))
        switch (type(x), type(w)) {
        case (.float32, .float32):
            let s = ConvolutionStep(input: operand(x), filter: try floatConstant(j, w, role: "filter"),
                                    bias: try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") },
                                    output: operand(y), geometry: geometry, parameters: p.fusedActivation.floatRange)
            return depthwise ? .depthwiseConv2D(s) : .conv2D(s)
        case (.int8, .int8):
            // BUILTIN_REF: reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel, gemmlowp double rounding.
            let parameters = QuantizedConvParameters.convolution(
                input: affine(x), weightScales: graph.tensors[w].quantization!.scales, output: affine(y),
                activation: p.fusedActivation, mode: .gemmlowpDouble)
            let s = ConvolutionStep(input: operand(x), filter: try int8Constant(j, w, role: "filter"),
                                    bias: try bias.map { (b) throws(InterpreterError) in try int32Constant(j, b, role: "bias") },
                                    output: operand(y), geometry: geometry, parameters: parameters)
            return depthwise ? .depthwiseConv2DInt8(s) : .conv2DInt8(s)
        case (.float32, .int8):
            if depthwise {
                throw unsupported(j, "hybrid (float input, int8 filter) DEPTHWISE_CONV_2D has no reference kernel in QuantKit yet", tensor: w)
            }
            let parameters = HybridConvParameters(weightScales: graph.tensors[w].quantization!.scales,
                                                  activation: p.fusedActivation, laneRounding: options.hybridLaneRounding)
            scratchBytes = max(scratchBytes, geometry.inputHeight * geometry.inputWidth * geometry.inputChannels)
            return .conv2DHybrid(ConvolutionStep(
                input: operand(x), filter: try int8Constant(j, w, role: "filter"),
                bias: try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") },
                output: operand(y), geometry: geometry, parameters: parameters))
        default:
            throw unsupported(j, "\(type(x)) input with \(type(w)) filter")
        }
    }
}

/// The options CONV_2D and DEPTHWISE_CONV_2D share.
protocol ConvolutionOptions {
    var padding: PaddingType { get }
    var strideWidth: Int { get }
    var strideHeight: Int { get }
    var dilationWidth: Int { get }
    var dilationHeight: Int { get }
    var fusedActivation: FusedActivation { get }
}
extension GraphOperator.Conv2DOptions: ConvolutionOptions {}
extension GraphOperator.DepthwiseConv2DOptions: ConvolutionOptions {}
