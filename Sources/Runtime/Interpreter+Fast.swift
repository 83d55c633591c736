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
