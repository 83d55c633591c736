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
    /// int8 CONV_2D operators whose output feeds only a VALID int8 MAX_POOL_2D (and is not a graph
    /// output), by convolution index → pool index. The fused kernel pools before writing, so the
    /// convolution's full-size output is never stored.
    static func fusableConvolutionPools(_ graph: Graph, executed: [Int]) -> [Int: Int] {
        var readers: [Int: [Int]] = [:]
        for j in executed { for i in graph.operators[j].inputs where i >= 0 { readers[i, default: []].append(j) } }
        var pairs: [Int: Int] = [:]
        for j in executed {
            let op = graph.operators[j]
            guard op.kind == .conv2D, let y = op.outputs.first, !graph.outputs.contains(y),
                  graph.tensors[op.inputs[0]].elementType == .int8, graph.tensors[op.inputs[1]].elementType == .int8,
                  let r = readers[y], r.count == 1, case .maxPool2D(let p) = graph.operators[r[0]].options,
                  p.padding == .valid, graph.tensors[graph.operators[r[0]].outputs[0]].elementType == .int8
            else { continue }
            pairs[j] = r[0]
        }
        return pairs
    }

    /// The fast kernel for operator `j`, or nil when the fast set has none for it (the reference
    /// kernel then runs it: the fast set is the reference set with faster kernels where they exist).
    mutating func compileFast(_ j: Int, _ op: GraphOperator, scratchBytes: inout Int) throws(InterpreterError) -> StepKernel? {
        let x = op.inputs[0], y = op.outputs[0]
        let bias: Int? = op.inputs.count > 2 && op.inputs[2] >= 0 ? op.inputs[2] : nil
        let threads = max(1, options.threadCount)
        switch op.options {
        case .conv2D(let p) where type(x) == .float32 && type(op.inputs[1]) == .float32:
            let geometry = convolutionGeometry(j, depthwise: false, padding: p.padding, strides: (p.strideHeight, p.strideWidth),
                                               dilations: (p.dilationHeight, p.dilationWidth))
            let filter = try floatConstant(j, op.inputs[1], role: "filter")
            let biasValues = try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") }
            guard let kernel = try fastKernels.kernel(j, { () throws(InterpreterError) -> FastFloatConv2D? in
                FastFloatConv2D(filter: filter, bias: biasValues, geometry: geometry, activation: p.fusedActivation.floatRange)
            }) else { return nil }
            scratchBytes = max(scratchBytes, kernel.scratchByteCount(threads: threads))
            return .fastConv2D(FastStep(input: operand(x), output: operand(y), kernel: kernel))

        case .fullyConnected(let p) where type(x) == .float32 && type(op.inputs[1]) == .float32:
            let w = op.inputs[1]
            let k = graph.tensors[w].shape[1], units = graph.tensors[w].shape[0]
            let geometry = FullyConnectedGeometry(batches: (graph.tensors[x].elementCount ?? 0) / k, accumDepth: k, outputDepth: units)
            let weights = try floatConstant(j, w, role: "weights")
            let biasValues = try bias.map { (b) throws(InterpreterError) in try floatConstant(j, b, role: "bias") }
            guard let kernel = try fastKernels.kernel(j, { () throws(InterpreterError) -> FastFloatFullyConnected? in
                FastFloatFullyConnected(weights: weights, bias: biasValues, geometry: geometry, activation: p.fusedActivation.floatRange)
            }) else { return nil }
            return .fastFullyConnected(FastStep(input: operand(x), output: operand(y), kernel: kernel))

        case .conv2D(let p) where type(x) == .int8 && type(op.inputs[1]) == .int8:
            let w = op.inputs[1]
            let geometry = convolutionGeometry(j, depthwise: false, padding: p.padding, strides: (p.strideHeight, p.strideWidth),
                                               dilations: (p.dilationHeight, p.dilationWidth))
            let parameters = QuantizedConvParameters.convolution(
                input: affine(x), weightScales: graph.tensors[w].quantization!.scales, output: affine(y),
                activation: p.fusedActivation, mode: .gemmlowpDouble)
            var pool: FastConv2DInt8.FusedMaxPool?
            var out = y
            if let k = fusedPools[j], case .maxPool2D(let pp) = graph.operators[k].options {
                out = graph.operators[k].outputs[0]
                pool = FastConv2DInt8.FusedMaxPool(filterHeight: pp.filterHeight, filterWidth: pp.filterWidth,
                                                   strideHeight: pp.strideHeight, strideWidth: pp.strideWidth,
                                                   activation: pp.fusedActivation.int8Range(output: affine(out)))
            }
            let filter = try int8Constant(j, w, role: "filter")
            let biasValues = try bias.map { (b) throws(InterpreterError) in try int32Constant(j, b, role: "bias") }
            guard let kernel = try fastKernels.kernel(j, { () throws(InterpreterError) -> FastConv2DInt8? in
                FastConv2DInt8(filter: filter, bias: biasValues, geometry: geometry, parameters: parameters, fusedMaxPool: pool)
            }) else { return nil }
            if let k = fusedPools[j] { fusedAway.insert(k) }
            scratchBytes = max(scratchBytes, kernel.scratchByteCount(batches: batchCapacity, threads: threads))
            return .fastConv2DInt8(FastStep(input: operand(x), output: operand(out), kernel: kernel))

        case .fullyConnected(let p) where type(x) == .int8 && type(op.inputs[1]) == .int8:
            let w = op.inputs[1]
            let k = graph.tensors[w].shape[1], units = graph.tensors[w].shape[0]
            let geometry = FullyConnectedGeometry(batches: (graph.tensors[x].elementCount ?? 0) / k, accumDepth: k, outputDepth: units)
            let q = graph.tensors[w].quantization!
            let parameters = QuantizedConvParameters.fullyConnected(
                input: affine(x), weightScales: q.scales, weightZeroPoint: Int32(q.zeroPoints[0]),
                output: affine(y), activation: p.fusedActivation)
            let weights = try int8Constant(j, w, role: "weights")
            let biasValues = try bias.map { (b) throws(InterpreterError) in try int32Constant(j, b, role: "bias") }
            guard let kernel = try fastKernels.kernel(j, { () throws(InterpreterError) -> FastFullyConnectedInt8? in
                FastFullyConnectedInt8(weights: weights, bias: biasValues, geometry: geometry, parameters: parameters)
            }) else { return nil }
            scratchBytes = max(scratchBytes, kernel.scratchByteCount(batches: geometry.batches * batchCapacity, threads: threads))
            return .fastFullyConnectedInt8(FastStep(input: operand(x), output: operand(y), kernel: kernel))

        case .maxPool2D, .averagePool2D:
            guard case .some(let reference) = try? compileOperator(j, op, scratchBytes: &scratchBytes) else { return nil }
            switch reference {
            case .maxPool2D(let s): return .fastMaxPool2D(s)
            case .maxPool2DInt8(let s): return .fastMaxPool2DInt8(s)
            case .averagePool2D(let s): return .fastAveragePool2D(s)
            case .averagePool2DInt8(let s):
                scratchBytes = max(scratchBytes, s.geometry.inputChannels * MemoryLayout<Int32>.stride)
                return .fastAveragePool2DInt8(s)
            default: return nil
            }

        default:
            return nil
        }
    }
}
