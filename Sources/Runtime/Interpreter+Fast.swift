import Kernels
import TensorCore

/// Fast kernel objects (packed weights and precomputed constants) by operator index, prepared by the
/// first replica and shared by the others: weights are packed once per interpreter, not per thread.
final class FastKernelCache {
    private var kernels: [Int: AnyObject] = [:]

    /// The kernel of operator `j`, made by `make` the first time (replicas are prepared one after another).
    func kernel<K: AnyObject>(_ j: Int, _ make: () throws(InterpreterError) -> K?) throws(InterpreterError) -> K? {
        if let k = kernels[j] { return k as? K }
        guard let k = try make() else { return nil }
        kernels[j] = k
        return k
    }
}

extension Preparation {
    /// CONV_2D operators (int8, float or hybrid) whose output feeds only a VALID MAX_POOL_2D (and is not a
    /// graph output), by convolution index → pool index. The fused kernel pools before writing, so the
    /// convolution's full-size output is never stored.
    static func fusableConvolutionPools(_ graph: Graph, executed: [Int]) -> [Int: Int] {
        var readers: [Int: [Int]] = [:]
        for j in executed { for i in graph.operators[j].inputs where i >= 0 { readers[i, default: []].append(j) } }
        var pairs: [Int: Int] = [:]
        for j in executed {
            let op = graph.operators[j]
            guard op.kind == .conv2D, let y = op.outputs.first, !graph.outputs.contains(y),
                  let r = readers[y], r.count == 1, case .maxPool2D(let p) = graph.operators[r[0]].options, p.padding == .valid
            else { continue }
            // int8 → int8 or float → float throughout, or hybrid: float input and output, int8 filter.
            let types = [op.inputs[0], op.inputs[1], y, graph.operators[r[0]].outputs[0]].map { graph.tensors[$0].elementType }
            guard types.allSatisfy({ $0 == .int8 }) || types.allSatisfy({ $0 == .float32 })
                    || types == [.float32, .int8, .float32, .float32] else { continue }
            pairs[j] = r[0]
        }
        return pairs
    }

    /// The fast kernel for operator `j`, or nil when the fast set has none for it (the reference
    /// kernel then runs it: the fast set is the reference set with faster kernels where they exist).
    ///
    /// The reference compilation supplies the operands, geometry and kernel parameters, so both sets
    /// read the model the same way; the fast kernel objects are made once and shared by all replicas.
    mutating func compileFast(_ j: Int, _ op: GraphOperator, scratchBytes: inout Int) throws(InterpreterError) -> StepKernel? {
        var referenceScratch = 0
        let reference = try compileOperator(j, op, scratchBytes: &referenceScratch)
        let threads = max(1, options.threadCount)
        let capacity = batchCapacity
        let cache = fastKernels
        let backend = options.simdBackend ?? .best
        guard backend.isSupported else {
            throw InterpreterError(.invalidArgument, "the \(backend) SIMD backend is not supported by this CPU")
        }

        /// The kernel of operator `j` (made once), with its scratch need recorded.
        func shared<K: AnyObject>(_ make: () -> K?, scratch: (K) -> Int) throws(InterpreterError) -> K? {
            guard let k = try cache.kernel(j, { () throws(InterpreterError) -> K? in make() }) else { return nil }
            scratchBytes = max(scratchBytes, scratch(k))
            return k
        }
        // The MAX_POOL_2D planned to fuse into operator `j` (see `fusableConvolutionPools`): its output and options.
        let fusable: (output: Int, options: GraphOperator.Pool2DOptions)? = fusedPools[j].flatMap { p in
            guard case .maxPool2D(let options) = graph.operators[p].options else { return nil }
            return (graph.operators[p].outputs[0], options)
        }
        /// The step's output: the pool's when the kernel took it in (the pool is then fused away), else `own`.
        func output(_ own: Operand, pooled: Bool) -> Operand {
            guard pooled, let p = fusedPools[j], let f = fusable else { return own }
            fusedAway.insert(p)
            return operand(f.output)
        }

        switch reference {
        case .conv2D(let s):
            let pool = fusable.map { FastFloatConv2D.FusedMaxPool($0.options) }
            guard let k = try shared({ FastFloatConv2D(filter: s.filter, bias: s.bias, geometry: s.geometry, activation: s.parameters,
                                                       fusedMaxPool: pool, backend: backend) },
                                     scratch: { $0.scratchByteCount(threads: threads) }) else { return nil }
            return .fastConv2D(FastStep(input: s.input, output: output(s.output, pooled: k.fusedMaxPool != nil), kernel: k))

        case .conv2DInt8(let s):
            let pool = fusable.map { f in
                FastConv2DInt8.FusedMaxPool(filterHeight: f.options.filterHeight, filterWidth: f.options.filterWidth,
                                            strideHeight: f.options.strideHeight, strideWidth: f.options.strideWidth,
                                            activation: f.options.fusedActivation.int8Range(output: affine(f.output)))
            }
            guard let k = try shared({ FastConv2DInt8(filter: s.filter, bias: s.bias, geometry: s.geometry, parameters: s.parameters,
                                                      fusedMaxPool: pool, backend: backend) },
                                     scratch: { $0.scratchByteCount(batches: capacity, threads: threads) }) else { return nil }
            return .fastConv2DInt8(FastStep(input: s.input, output: output(s.output, pooled: k.fusedMaxPool != nil), kernel: k))

        case .conv2DHybrid(let s):
            let pool = fusable.map { FastHybridConv2D.FusedMaxPool($0.options) }
            guard let k = try shared({ FastHybridConv2D(filter: s.filter, bias: s.bias, geometry: s.geometry, parameters: s.parameters,
                                                        fusedMaxPool: pool, backend: backend) },
                                     scratch: { $0.scratchByteCount(batches: capacity, threads: threads) }) else { return nil }
            return .fastConv2DHybrid(FastStep(input: s.input, output: output(s.output, pooled: k.fusedMaxPool != nil), kernel: k))

        case .depthwiseConv2DInt8(let s):
            guard let k = try shared({ FastDepthwiseConv2DInt8(filter: s.filter, bias: s.bias, geometry: s.geometry, parameters: s.parameters, backend: backend) },
                                     scratch: { $0.scratchByteCount(batches: capacity, threads: threads) }) else { return nil }
            return .fastDepthwiseConv2DInt8(FastStep(input: s.input, output: s.output, kernel: k))

        case .fullyConnected(let s):
            guard let k = try shared({ FastFloatFullyConnected(weights: s.weights, bias: s.bias, geometry: s.geometry, activation: s.parameters, backend: backend) },
                                     scratch: { _ in 0 }) else { return nil }
            return .fastFullyConnected(FastStep(input: s.input, output: s.output, kernel: k))

        case .fullyConnectedInt8(let s):
            let rows = s.geometry.batches * capacity
            guard let k = try shared({ FastFullyConnectedInt8(weights: s.weights, bias: s.bias, geometry: s.geometry, parameters: s.parameters, backend: backend) },
                                     scratch: { $0.scratchByteCount(batches: rows, threads: threads) }) else { return nil }
            return .fastFullyConnectedInt8(FastStep(input: s.input, output: s.output, kernel: k))

        case .fullyConnectedHybrid(let s):
            let rows = s.geometry.batches * capacity
            guard let k = try shared({ FastHybridFullyConnected(weights: s.weights, bias: s.bias, geometry: s.geometry, parameters: s.parameters, backend: backend) },
                                     scratch: { $0.scratchByteCount(batches: rows, threads: threads) }) else { return nil }
            return .fastFullyConnectedHybrid(FastStep(input: s.input, output: s.output, kernel: k))

        case .maxPool2D(let s): return .fastMaxPool2D(s)
        case .maxPool2DInt8(let s): return .fastMaxPool2DInt8(s)
        case .averagePool2D(let s): return .fastAveragePool2D(s)
        case .averagePool2DInt8(let s):
            scratchBytes = max(scratchBytes, s.geometry.inputChannels * MemoryLayout<Int32>.stride)
            return .fastAveragePool2DInt8(s)

        default:
            return nil
        }
    }
}

extension Interpreter {
    /// The SIMD instruction set the fast kernels run with on this CPU (chosen at run time; see
    /// ``SIMDBackend``), or nil with the reference kernels.
    public var simdBackend: SIMDBackend? { options.kernels == .fast ? options.simdBackend ?? SIMDBackend.best : nil }
}

extension FastFloatConv2D.FusedMaxPool {
    /// The float (or hybrid) convolution's fused pool for a MAX_POOL_2D with these options.
    init(_ options: GraphOperator.Pool2DOptions) {
        self.init(filterHeight: options.filterHeight, filterWidth: options.filterWidth, strideHeight: options.strideHeight,
                  strideWidth: options.strideWidth, activation: options.fusedActivation.floatRange)
    }
}
