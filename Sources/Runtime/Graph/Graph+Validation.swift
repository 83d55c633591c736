import Kernels
import TensorCore

extension Graph {
    /// The largest element count a tensor may have: 2³¹ − 1, TFLite's int32 sizes.
    public static let maxElementCount = Int(Int32.max)

    /// Checks every structural rule a kernel relies on; throws the first violation found.
    ///
    /// - Tensors: dimensions ≥ 0, at most ``maxElementCount`` elements, constant data of exactly
    ///   `elementCount × byteSize` bytes, `shapeSignature` compatible with `shape`; quantization as the
    ///   TFLite interpreter loads it (as many zero points as scales, `quantizedDimension < rank`,
    ///   1 or `shape[quantizedDimension]` scales), scales finite and positive, zero points within the
    ///   storage type.
    /// - Graph: input/output indices in range; operators in execution order (every operand is a
    ///   graph input, a constant or the output of an earlier operator; no tensor written twice).
    /// - Operators: operand counts; shapes (conv filter vs input channels, FC `K` vs input size,
    ///   bias lengths, pool/conv output sizes from the padding arithmetic, MEAN axes, ADD broadcasting,
    ///   RESHAPE element counts); element types (float, hybrid = float input with int8 weights, or
    ///   int8 with int32 bias); quantization (per-channel weights along the op's axis with zero points
    ///   0, SOFTMAX int8 output (1/256, −128), MAX/AVERAGE_POOL and RESHAPE output parameters equal to
    ///   the input's, per-tensor FC bias scale within 2 % of input × weight scale).
    public func validate() throws(GraphError) {
        try GraphValidator(graph: self).run()
    }
}

/// The rules behind ``Graph/validate()``, one method per concern.
struct GraphValidator {
    let g: Graph

    init(graph: Graph) { self.g = graph }

    // MARK: - Messages

    func tensor(_ i: Int) -> String { g.describeTensor(i) }
    func op(_ j: Int) -> String { g.describeOperator(j) }

    func error(_ kind: GraphError.Kind, op j: Int, tensor i: Int? = nil, _ message: String) -> GraphError {
        GraphError(kind, "\(op(j)): \(message)", operator: j, tensor: i)
    }

    func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    func describe(_ q: GraphTensor.Quantization?) -> String {
        guard let q else { return "no quantization" }
        if q.scales.count == 1, q.zeroPoints.count == 1 { return "scale \(q.scales[0]), zero point \(q.zeroPoints[0])" }
        return "\(q.scales.count) scales along dimension \(q.quantizedDimension)"
    }

    // MARK: - Driver

    func run() throws(GraphError) {
        for i in g.tensors.indices { try checkTensor(i) }
        for (role, list) in [("input", g.inputs), ("output", g.outputs)] {
            for (k, i) in list.enumerated() where !g.tensors.indices.contains(i) {
                throw GraphError(.indexOutOfRange,
                                 "graph \(role) \(k) refers to tensor \(i), but the graph has \(g.tensors.count) tensors",
                                 tensor: i)
            }
        }
        var defined = g.tensors.map { $0.isConstant || $0.isVariable }
        for i in g.inputs { defined[i] = true }
        for j in g.operators.indices {
            try checkOperands(j)
            let o = g.operators[j]
            for i in o.inputs where i >= 0 && !defined[i] {
                throw error(.invalidDataflow, op: j, tensor: i,
                            "reads \(tensor(i)) before any operator writes it (not a graph input nor a constant)")
            }
            for i in o.outputs {
                if g.tensors[i].isConstant {
                    throw error(.invalidDataflow, op: j, tensor: i, "writes \(tensor(i)), which is a constant")
                }
                if defined[i] {
                    throw error(.invalidDataflow, op: j, tensor: i,
                                "writes \(tensor(i)), which is already a graph input or written by an earlier operator")
                }
                defined[i] = true
            }
            try checkOperator(j)
        }
        for i in g.outputs where !defined[i] {
            throw GraphError(.invalidDataflow, "graph output \(tensor(i)) is never written", tensor: i)
        }
    }

    // MARK: - Tensors

    func checkTensor(_ i: Int) throws(GraphError) {
        let t = g.tensors[i]
        func fail(_ kind: GraphError.Kind, _ message: String) -> GraphError {
            GraphError(kind, "\(tensor(i)): \(message)", tensor: i)
        }
        if let d = t.shape.first(where: { $0 < 0 }) {
            throw fail(.invalidShape, "shape \(describe(t.shape)) has a negative dimension \(d)")
        }
        guard let count = t.elementCount, count <= Graph.maxElementCount else {
            throw fail(.invalidShape, "shape \(describe(t.shape)) has more than \(Graph.maxElementCount) elements")
        }
        if let signature = t.shapeSignature {
            let compatible = signature.count == t.shape.count
                && zip(signature, t.shape).allSatisfy { $0 == -1 || $0 == $1 }
            if !compatible {
                throw fail(.invalidShape, "shape signature \(describe(signature)) does not fit shape \(describe(t.shape))")
            }
        }
        if let data = t.data {
            let needed = count * t.elementType.byteSize  // count ≤ 2^31, size ≤ 8: no overflow
            if data.byteCount != needed {
                throw fail(.invalidConstantData,
                           "constant data has \(data.byteCount) bytes, but \(count) \(t.elementType) elements need \(needed)")
            }
        }
        guard let q = t.quantization else { return }
        if q.scales.isEmpty {
            throw fail(.invalidQuantization, "quantization has no scales")
        }
        if q.zeroPoints.count != q.scales.count {
            throw fail(.invalidQuantization, "quantization has \(q.scales.count) scales but \(q.zeroPoints.count) zero points")
        }
        if q.quantizedDimension < 0 || (!t.shape.isEmpty && q.quantizedDimension >= t.shape.count) {
            throw fail(.invalidQuantization,
                       "quantized dimension \(q.quantizedDimension) is outside rank \(t.shape.count)")
        }
        if q.scales.count != 1 && (t.shape.isEmpty || q.scales.count != t.shape[q.quantizedDimension]) {
            throw fail(.invalidQuantization,
                       "\(q.scales.count) scales along dimension \(q.quantizedDimension) of shape \(describe(t.shape)); need 1 or the dimension's size")
        }
        if let bad = q.scales.first(where: { !($0.isFinite && $0 > 0) }) {
            throw fail(.invalidQuantization, "scale \(bad) is not a positive finite number")
        }
        let range: ClosedRange<Int64>? = switch t.elementType {
        case .int8: -128...127
        case .uint8: 0...255
        case .int16: -32768...32767
        default: nil
        }
        if let range, let bad = q.zeroPoints.first(where: { !range.contains($0) }) {
            throw fail(.invalidQuantization, "zero point \(bad) is outside the \(t.elementType) range \(range)")
        }
    }

    // MARK: - Operands

    /// (minimum inputs, maximum inputs, input positions that may be -1)
    func arity(_ kind: GraphOperator.Kind) -> (min: Int, max: Int, optional: Set<Int>) {
        switch kind {
        case .conv2D, .depthwiseConv2D, .fullyConnected: (2, 3, [2])
        case .maxPool2D, .averagePool2D, .softmax, .quantize, .dequantize: (1, 1, [])
        case .mean, .add: (2, 2, [])
        case .reshape: (1, 2, [1])
        }
    }

    func checkOperands(_ j: Int) throws(GraphError) {
        let o = g.operators[j]
        let (lo, hi, optional) = arity(o.kind)
        if o.inputs.count < lo || o.inputs.count > hi {
            let expected = lo == hi ? "\(lo)" : "\(lo) to \(hi)"
            throw error(.invalidOperands, op: j, "has \(o.inputs.count) inputs; \(o.kind.tfliteName) takes \(expected)")
        }
        if o.outputs.count != 1 {
            throw error(.invalidOperands, op: j, "has \(o.outputs.count) outputs; \(o.kind.tfliteName) has 1")
        }
        for (k, i) in o.inputs.enumerated() {
            if i == -1 && optional.contains(k) { continue }
            if i == -1 {
                throw error(.invalidOperands, op: j, "input \(k) is absent (-1) but required")
            }
            if !g.tensors.indices.contains(i) {
                throw error(.indexOutOfRange, op: j, tensor: i,
                            "input \(k) refers to tensor \(i), but the graph has \(g.tensors.count) tensors")
            }
        }
        for (k, i) in o.outputs.enumerated() where !g.tensors.indices.contains(i) {
            throw error(.indexOutOfRange, op: j, tensor: i,
                        "output \(k) refers to tensor \(i), but the graph has \(g.tensors.count) tensors")
        }
    }

    /// The tensor index of input `k`, or `nil` when absent.
    func input(_ j: Int, _ k: Int) -> Int? {
        let inputs = g.operators[j].inputs
        return k < inputs.count && inputs[k] >= 0 ? inputs[k] : nil
    }

    // MARK: - Operators

    func checkOperator(_ j: Int) throws(GraphError) {
        let o = g.operators[j]
        let x = o.inputs[0], y = o.outputs[0]
        switch o.options {
        case .conv2D(let p):
            try checkConvolution(j, depthwise: false, padding: p.padding, strides: (p.strideHeight, p.strideWidth),
                                 dilations: (p.dilationHeight, p.dilationWidth), depthMultiplier: 0)
        case .depthwiseConv2D(let p):
            try checkConvolution(j, depthwise: true, padding: p.padding, strides: (p.strideHeight, p.strideWidth),
                                 dilations: (p.dilationHeight, p.dilationWidth), depthMultiplier: p.depthMultiplier)
        case .fullyConnected(let p):
            try checkFullyConnected(j, p)
        case .maxPool2D(let p), .averagePool2D(let p):
            try checkPool(j, p)
        case .mean(let p):
            try checkMean(j, p)
        case .add:
            try checkAdd(j)
        case .reshape(let p):
            try checkReshape(j, p)
        case .softmax(let p):
            if !p.beta.isFinite { throw error(.invalidOptions, op: j, "beta \(p.beta) is not finite") }
            try requireSameShape(j, x, y)
            try requireTypes(j, [x, y], allowed: [[.float32, .float32], [.int8, .int8]])
            if g.tensors[y].elementType == .int8 {
                try requireQuantized(j, x, role: "input", perTensor: true)
                try requireQuantized(j, y, role: "output", perTensor: true)
                let q = g.tensors[y].quantization!
                if abs(q.scales[0] - 1.0 / 256) > 0.001 / 256 || q.zeroPoints[0] != -128 {
                    throw error(.invalidQuantization, op: j, tensor: y,
                                "int8 output \(tensor(y)) has \(describe(q)); SOFTMAX requires scale 1/256, zero point -128")
                }
            }
        case .quantize:
            try requireSameShape(j, x, y)
            let (tx, ty) = (g.tensors[x], g.tensors[y])
            guard [.float32, .int8, .uint8, .int16].contains(tx.elementType),
                  [.int8, .uint8, .int16].contains(ty.elementType) else {
                throw error(.typeMismatch, op: j,
                            "converts \(tx.elementType) to \(ty.elementType); QUANTIZE takes float32 (or int8/uint8/int16 to requantize) to int8, uint8 or int16")
            }
            try requireQuantized(j, y, role: "output", perTensor: false)
            if tx.elementType != .float32 { try requireQuantized(j, x, role: "input", perTensor: true) }
        case .dequantize:
            try requireSameShape(j, x, y)
            let (tx, ty) = (g.tensors[x], g.tensors[y])
            guard [.int8, .uint8, .int16, .float16].contains(tx.elementType), ty.elementType == .float32 else {
                throw error(.typeMismatch, op: j,
                            "converts \(tx.elementType) to \(ty.elementType); DEQUANTIZE takes int8, uint8, int16 or float16 to float32")
            }
            if tx.elementType != .float16 { try requireQuantized(j, x, role: "input", perTensor: false) }
        }
    }

    // MARK: - Shared checks

    func requireRank(_ j: Int, _ i: Int, role: String, _ rank: Int) throws(GraphError) {
        let s = g.tensors[i].shape
        if s.count != rank {
            throw error(.shapeMismatch, op: j, tensor: i, "\(role) \(tensor(i)) has shape \(describe(s)); expected rank \(rank)")
        }
    }

    func requireSameShape(_ j: Int, _ a: Int, _ b: Int) throws(GraphError) {
        let (sa, sb) = (g.tensors[a].shape, g.tensors[b].shape)
        if sa != sb {
            throw error(.shapeMismatch, op: j, tensor: b,
                        "output \(tensor(b)) has shape \(describe(sb)), but input \(tensor(a)) has \(describe(sa))")
        }
    }

    func requireTypes(_ j: Int, _ operands: [Int], allowed: [[ElementType]]) throws(GraphError) {
        let types = operands.map { g.tensors[$0].elementType }
        if !allowed.contains(types) {
            let got = types.map { "\($0)" }.joined(separator: "/")
            let options = allowed.map { $0.map { "\($0)" }.joined(separator: "/") }.joined(separator: " or ")
            throw error(.typeMismatch, op: j, "operand types \(got) are not supported; expected \(options)")
        }
    }

    func requireQuantized(_ j: Int, _ i: Int, role: String, perTensor: Bool) throws(GraphError) {
        guard let q = g.tensors[i].quantization else {
            throw error(.invalidQuantization, op: j, tensor: i,
                        "\(g.tensors[i].elementType) \(role) \(tensor(i)) has no quantization parameters")
        }
        if perTensor && q.scales.count != 1 {
            throw error(.invalidQuantization, op: j, tensor: i,
                        "\(role) \(tensor(i)) has \(q.scales.count) scales; it must be quantized per tensor")
        }
    }

    func requireSameQuantization(_ j: Int, _ a: Int, _ b: Int) throws(GraphError) {
        let (qa, qb) = (g.tensors[a].quantization, g.tensors[b].quantization)
        let same: Bool
        switch (qa, qb) {
        case (nil, nil): same = true
        case let (qa?, qb?):
            same = qa.zeroPoints == qb.zeroPoints && qa.scales.count == qb.scales.count
                && zip(qa.scales, qb.scales).allSatisfy { abs($0 - $1) <= 1e-6 * max($0, $1) }
        default: same = false
        }
        if !same {
            throw error(.invalidQuantization, op: j, tensor: b,
                        "output \(tensor(b)) has \(describe(qb)), but input \(tensor(a)) has \(describe(qa)); \(g.operators[j].kind.tfliteName) does not rescale, so they must be equal")
        }
    }

    /// Element types, and quantization of the weights and bias, of CONV_2D, DEPTHWISE_CONV_2D and
    /// FULLY_CONNECTED: float, hybrid (float input, int8 weights) or int8 (int32 bias).
    func checkWeightedTypes(_ j: Int, input x: Int, weights w: Int, bias b: Int?, output y: Int,
                            channelAxis: Int, requireBiasForInt8: Bool) throws(GraphError) {
        let (tx, tw, ty) = (g.tensors[x], g.tensors[w], g.tensors[y])
        let name = g.operators[j].kind.tfliteName
        func checkWeightQuantization(allowZeroPoint: Bool) throws(GraphError) {
            try requireQuantized(j, w, role: "weights", perTensor: false)
            let q = tw.quantization!
            if q.scales.count > 1 && q.quantizedDimension != channelAxis {
                throw error(.invalidQuantization, op: j, tensor: w,
                            "weights \(tensor(w)) are quantized along dimension \(q.quantizedDimension); \(name) needs dimension \(channelAxis)")
            }
            if !allowZeroPoint, let zp = q.zeroPoints.first(where: { $0 != 0 }) {
                throw error(.invalidQuantization, op: j, tensor: w,
                            "weights \(tensor(w)) have zero point \(zp); int8 weights must be symmetric (zero point 0)")
            }
        }
        switch (tx.elementType, tw.elementType, ty.elementType) {
        case (.float32, .float32, .float32):
            if let b, g.tensors[b].elementType != .float32 {
                throw error(.typeMismatch, op: j, tensor: b, "bias \(tensor(b)) is \(g.tensors[b].elementType); a float \(name) needs float32")
            }
        case (.float32, .int8, .float32):
            try checkWeightQuantization(allowZeroPoint: false)
            if let b, g.tensors[b].elementType != .float32 {
                throw error(.typeMismatch, op: j, tensor: b, "bias \(tensor(b)) is \(g.tensors[b].elementType); a hybrid \(name) needs float32")
            }
        case (.int8, .int8, .int8):
            try requireQuantized(j, x, role: "input", perTensor: true)
            try requireQuantized(j, y, role: "output", perTensor: true)
            let perTensorFC = g.operators[j].kind == .fullyConnected && tw.quantization?.scales.count == 1
            try checkWeightQuantization(allowZeroPoint: perTensorFC)
            guard let b else {
                if requireBiasForInt8 {
                    throw error(.invalidOperands, op: j, "an int8 \(name) requires a bias input (write zeros)")
                }
                return
            }
            let tb = g.tensors[b]
            if tb.elementType != .int32 {
                throw error(.typeMismatch, op: j, tensor: b, "bias \(tensor(b)) is \(tb.elementType); an int8 \(name) needs int32")
            }
            try requireQuantized(j, b, role: "bias", perTensor: false)
            let (qb, qw) = (tb.quantization!, tw.quantization!)
            if qb.scales.count != qw.scales.count {
                throw error(.invalidQuantization, op: j, tensor: b,
                            "bias \(tensor(b)) has \(qb.scales.count) scales, but weights \(tensor(w)) have \(qw.scales.count)")
            }
            if let zp = qb.zeroPoints.first(where: { $0 != 0 }) {
                throw error(.invalidQuantization, op: j, tensor: b, "bias \(tensor(b)) has zero point \(zp); it must be 0")
            }
            if perTensorFC {
                // kernel_util.cc GetQuantizedConvolutionMultipler: |in*w - bias| / out <= 0.02.
                let product = Double(tx.quantization!.scales[0]) * Double(qw.scales[0])
                let deviation = abs(product - Double(qb.scales[0])) / Double(ty.quantization!.scales[0])
                if deviation > 0.02 {
                    throw error(.invalidQuantization, op: j, tensor: b,
                                "bias \(tensor(b)) scale \(qb.scales[0]) differs from input × weight scale \(product) by \(deviation) output steps (at most 0.02)")
                }
            }
        default:
            throw error(.typeMismatch, op: j,
                        "input/weights/output types \(tx.elementType)/\(tw.elementType)/\(ty.elementType) are not supported; \(name) takes float32/float32/float32, float32/int8/float32 (hybrid) or int8/int8/int8")
        }
    }

    // MARK: - Per operator

    func checkConvolution(_ j: Int, depthwise: Bool, padding: GraphOperator.Padding, strides: (Int, Int),
                          dilations: (Int, Int), depthMultiplier: Int) throws(GraphError) {
        let o = g.operators[j]
        let (x, w, y) = (o.inputs[0], o.inputs[1], o.outputs[0])
        let b = input(j, 2)
        if strides.0 < 1 || strides.1 < 1 {
            throw error(.invalidOptions, op: j, "strides \(strides.0)×\(strides.1) must be at least 1")
        }
        if dilations.0 < 1 || dilations.1 < 1 {
            throw error(.invalidOptions, op: j, "dilations \(dilations.0)×\(dilations.1) must be at least 1")
        }
        try requireRank(j, x, role: "input", 4)
        try requireRank(j, w, role: "filter", 4)
        try requireRank(j, y, role: "output", 4)
        let (sx, sw) = (g.tensors[x].shape, g.tensors[w].shape)
        let channels = sx[3]
        let outChannels: Int
        if depthwise {
            outChannels = sw[3]
            if sw[0] != 1 {
                throw error(.shapeMismatch, op: j, tensor: w, "filter \(tensor(w)) has shape \(describe(sw)); DEPTHWISE_CONV_2D needs [1, KH, KW, C×M]")
            }
            if channels == 0 || outChannels % channels != 0 {
                throw error(.shapeMismatch, op: j, tensor: w,
                            "filter \(tensor(w)) has \(outChannels) output channels, not a multiple of the input's \(channels)")
            }
            if depthMultiplier > 0 && channels.multipliedReportingOverflow(by: depthMultiplier) != (outChannels, false) {
                throw error(.shapeMismatch, op: j, tensor: w,
                            "depth multiplier \(depthMultiplier) × \(channels) input channels ≠ \(outChannels) filter channels")
            }
        } else {
            outChannels = sw[0]
            let filterChannels = sw[3]
            if filterChannels == 0 || channels < filterChannels || channels % filterChannels != 0
                || outChannels % (channels / filterChannels) != 0 {
                throw error(.shapeMismatch, op: j, tensor: w,
                            "filter \(tensor(w)) has shape \(describe(sw)) (\(filterChannels) input channels), which does not fit input \(tensor(x)) with \(channels) channels")
            }
        }
        if let b {
            let sb = g.tensors[b].shape
            if sb != [outChannels] {
                throw error(.shapeMismatch, op: j, tensor: b, "bias \(tensor(b)) has shape \(describe(sb)); expected [\(outChannels)]")
            }
        }
        guard let outH = padding.checkedWindow(inputSize: sx[1], filterSize: sw[1], stride: strides.0, dilation: dilations.0)?.outputSize,
              let outW = padding.checkedWindow(inputSize: sx[2], filterSize: sw[2], stride: strides.1, dilation: dilations.1)?.outputSize
        else {
            throw error(.shapeMismatch, op: j,
                        "a \(sw[1])×\(sw[2]) filter with \(padding) padding leaves no output on input \(tensor(x)) of shape \(describe(sx))")
        }
        let expected = [sx[0], outH, outW, outChannels]
        if g.tensors[y].shape != expected {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) has shape \(describe(g.tensors[y].shape)); the \(padding) padding arithmetic gives \(describe(expected))")
        }
        try checkWeightedTypes(j, input: x, weights: w, bias: b, output: y, channelAxis: depthwise ? 3 : 0,
                               requireBiasForInt8: true)
    }

    func checkFullyConnected(_ j: Int, _ p: GraphOperator.FullyConnectedOptions) throws(GraphError) {
        let o = g.operators[j]
        let (x, w, y) = (o.inputs[0], o.inputs[1], o.outputs[0])
        let b = input(j, 2)
        try requireRank(j, w, role: "weights", 2)
        let (sx, sw) = (g.tensors[x].shape, g.tensors[w].shape)
        let (units, depth) = (sw[0], sw[1])
        let count = g.tensors[x].elementCount ?? 0
        if depth == 0 || count % depth != 0 {
            throw error(.shapeMismatch, op: j, tensor: x,
                        "input \(tensor(x)) of shape \(describe(sx)) (\(count) elements) is not a whole number of rows of the weights' \(depth) columns")
        }
        let expected: [Int]
        if p.keepNumDims {
            if sx.last != depth {
                throw error(.shapeMismatch, op: j, tensor: x,
                            "with keepNumDims the last dimension of input \(tensor(x)) \(describe(sx)) must equal the weights' \(depth) columns")
            }
            expected = sx.dropLast() + [units]
        } else {
            expected = [count / depth, units]
        }
        if g.tensors[y].shape != expected {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) has shape \(describe(g.tensors[y].shape)); expected \(describe(expected))")
        }
        if let b, g.tensors[b].shape != [units] {
            throw error(.shapeMismatch, op: j, tensor: b,
                        "bias \(tensor(b)) has shape \(describe(g.tensors[b].shape)); expected [\(units)]")
        }
        try checkWeightedTypes(j, input: x, weights: w, bias: b, output: y, channelAxis: 0, requireBiasForInt8: false)
    }

    func checkPool(_ j: Int, _ p: GraphOperator.Pool2DOptions) throws(GraphError) {
        let o = g.operators[j]
        let (x, y) = (o.inputs[0], o.outputs[0])
        if p.strideHeight < 1 || p.strideWidth < 1 || p.filterHeight < 1 || p.filterWidth < 1 {
            throw error(.invalidOptions, op: j,
                        "filter \(p.filterHeight)×\(p.filterWidth) and strides \(p.strideHeight)×\(p.strideWidth) must be at least 1")
        }
        try requireRank(j, x, role: "input", 4)
        try requireRank(j, y, role: "output", 4)
        let sx = g.tensors[x].shape
        guard let outH = p.padding.checkedWindow(inputSize: sx[1], filterSize: p.filterHeight, stride: p.strideHeight)?.outputSize,
              let outW = p.padding.checkedWindow(inputSize: sx[2], filterSize: p.filterWidth, stride: p.strideWidth)?.outputSize
        else {
            throw error(.shapeMismatch, op: j,
                        "a \(p.filterHeight)×\(p.filterWidth) window with \(p.padding) padding leaves no output on input \(tensor(x)) of shape \(describe(sx))")
        }
        let expected = [sx[0], outH, outW, sx[3]]
        if g.tensors[y].shape != expected {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) has shape \(describe(g.tensors[y].shape)); the \(p.padding) padding arithmetic gives \(describe(expected))")
        }
        try requireTypes(j, [x, y], allowed: [[.float32, .float32], [.int8, .int8]])
        if g.tensors[x].elementType == .int8 {
            try requireQuantized(j, x, role: "input", perTensor: true)
            try requireQuantized(j, y, role: "output", perTensor: true)
            try requireSameQuantization(j, x, y)
        }
    }

    func checkMean(_ j: Int, _ p: GraphOperator.MeanOptions) throws(GraphError) {
        let o = g.operators[j]
        let (x, a, y) = (o.inputs[0], o.inputs[1], o.outputs[0])
        let ta = g.tensors[a]
        guard ta.elementType == .int32, ta.shape.count <= 1, let data = ta.data else {
            throw error(.invalidConstantData, op: j, tensor: a,
                        "axes \(tensor(a)) must be a constant int32 vector (is \(ta.elementType) \(describe(ta.shape))\(ta.isConstant ? "" : ", not constant"))")
        }
        let sx = g.tensors[x].shape
        let rank = sx.count
        var reduced = Set<Int>()
        for axis in data.int32Values().map(Int.init) {
            guard axis >= -rank && axis < rank else {
                throw error(.invalidOptions, op: j, tensor: a, "axis \(axis) is outside the input's rank \(rank)")
            }
            reduced.insert(axis < 0 ? axis + rank : axis)
        }
        let expected = p.keepDims
            ? sx.indices.map { reduced.contains($0) ? 1 : sx[$0] }
            : sx.indices.filter { !reduced.contains($0) }.map { sx[$0] }
        if g.tensors[y].shape != expected {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) has shape \(describe(g.tensors[y].shape)); reducing axes \(reduced.sorted()) of \(describe(sx)) gives \(describe(expected))")
        }
        try requireTypes(j, [x, y], allowed: [[.float32, .float32], [.int8, .int8]])
        if g.tensors[x].elementType == .int8 {
            try requireQuantized(j, x, role: "input", perTensor: true)
            try requireQuantized(j, y, role: "output", perTensor: true)
        }
    }

    func checkAdd(_ j: Int) throws(GraphError) {
        let o = g.operators[j]
        let (a, b, y) = (o.inputs[0], o.inputs[1], o.outputs[0])
        let (sa, sb) = (g.tensors[a].shape, g.tensors[b].shape)
        let rank = max(sa.count, sb.count)
        var expected = [Int](repeating: 1, count: rank)
        for k in 0..<rank {
            let da = k < rank - sa.count ? 1 : sa[k - (rank - sa.count)]
            let db = k < rank - sb.count ? 1 : sb[k - (rank - sb.count)]
            guard da == db || da == 1 || db == 1 else {
                throw error(.shapeMismatch, op: j, "inputs \(tensor(a)) \(describe(sa)) and \(tensor(b)) \(describe(sb)) do not broadcast")
            }
            expected[k] = da == 1 ? db : da
        }
        if g.tensors[y].shape != expected {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) has shape \(describe(g.tensors[y].shape)); broadcasting gives \(describe(expected))")
        }
        try requireTypes(j, [a, b, y], allowed: [[.float32, .float32, .float32], [.int8, .int8, .int8]])
        if g.tensors[y].elementType == .int8 {
            try requireQuantized(j, a, role: "input", perTensor: true)
            try requireQuantized(j, b, role: "input", perTensor: true)
            try requireQuantized(j, y, role: "output", perTensor: true)
        }
    }

    /// `newShape` with its `-1` resolved against `count` elements, or `nil` when impossible.
    func resolve(_ newShape: [Int], count: Int) -> [Int]? {
        if newShape == [0] && count == 1 { return [] }  // legacy: [0] means a scalar
        var product = 1
        var unknown: Int?
        for (k, d) in newShape.enumerated() {
            if d == -1 {
                if unknown != nil { return nil }
                unknown = k
                continue
            }
            guard d >= 0 else { return nil }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = p
        }
        var resolved = newShape
        if let unknown {
            guard product > 0, count % product == 0 else { return nil }
            resolved[unknown] = count / product
        } else if product != count {
            return nil
        }
        return resolved
    }

    func checkReshape(_ j: Int, _ p: GraphOperator.ReshapeOptions) throws(GraphError) {
        let o = g.operators[j]
        let (x, y) = (o.inputs[0], o.outputs[0])
        let (tx, ty) = (g.tensors[x], g.tensors[y])
        let count = tx.elementCount ?? 0
        if ty.elementCount != count {
            throw error(.shapeMismatch, op: j, tensor: y,
                        "output \(tensor(y)) \(describe(ty.shape)) has \(ty.elementCount ?? -1) elements, but input \(tensor(x)) \(describe(tx.shape)) has \(count)")
        }
        var requested: [([Int], String)] = []
        if let s = input(j, 1) {
            let ts = g.tensors[s]
            guard ts.elementType == .int32, ts.shape.count <= 1 else {
                throw error(.typeMismatch, op: j, tensor: s,
                            "shape operand \(tensor(s)) is \(ts.elementType) \(describe(ts.shape)); expected an int32 vector")
            }
            if let data = ts.data { requested.append((data.int32Values().map(Int.init), "shape operand \(tensor(s))")) }
        }
        if let newShape = p.newShape { requested.append((newShape, "the new_shape option")) }
        for (shape, source) in requested {
            // An empty shape vector also means a scalar.
            let resolved = shape.isEmpty ? (count == 1 ? [] : nil) : resolve(shape, count: count)
            if resolved != ty.shape {
                throw error(.shapeMismatch, op: j, tensor: y,
                            "\(source) asks for \(describe(shape)), which does not give output \(tensor(y)) \(describe(ty.shape)) from \(count) elements")
            }
        }
        if tx.elementType != ty.elementType {
            throw error(.typeMismatch, op: j, tensor: y, "output \(tensor(y)) is \(ty.elementType), but input \(tensor(x)) is \(tx.elementType)")
        }
        if tx.quantization != nil || ty.quantization != nil { try requireSameQuantization(j, x, y) }
    }
}
