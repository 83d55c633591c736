import Kernels
import Runtime
import TensorCore

extension Quantizer {
    /// Which operators of `graph` become int8 (`true`) and which stay float (`false`, only with
    /// ``Options/allowsFloatFallback``).
    ///
    /// Quantizable: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with constant float32 weights
    /// (and a constant bias, if any); MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, SOFTMAX, MEAN; ADD of
    /// two computed tensors. Not: QUANTIZE/DEQUANTIZE, weights computed at run time, an ADD with a
    /// constant operand.
    ///
    /// - Throws: `.unsupportedOperator` naming the first operator that cannot be quantized, unless
    ///   fallback is allowed.
    func fullIntegerPlan(_ graph: Graph) throws(QuantizationError) -> [Bool] {
        var plan: [Bool] = []
        for (j, op) in graph.operators.enumerated() {
            let reason = Self.whyNotQuantizable(op, in: graph)
            if let reason, !options.allowsFloatFallback {
                throw QuantizationError(.unsupportedOperator, """
                    \(graph.describeOperator(j)) cannot be quantized to int8: \(reason) \
                    (allow float fallback to keep it in float32)
                    """, operator: j)
            }
            plan.append(reason == nil)
        }
        return plan
    }

    static func whyNotQuantizable(_ op: GraphOperator, in graph: Graph) -> String? {
        func isFloatConstant(_ i: Int) -> Bool { i >= 0 && graph.tensors[i].isConstant && graph.tensors[i].elementType == .float32 }
        switch op.kind {
        case .conv2D, .depthwiseConv2D, .fullyConnected:
            if graph.tensors[op.inputs[0]].isConstant { return "its input is a constant" }
            if !isFloatConstant(op.inputs[1]) { return "its weights \(graph.describeTensor(op.inputs[1])) are not a float32 constant" }
            if op.inputs.count > 2, op.inputs[2] >= 0, !isFloatConstant(op.inputs[2]) {
                return "its bias \(graph.describeTensor(op.inputs[2])) is not a float32 constant"
            }
            return nil
        case .maxPool2D, .averagePool2D, .reshape, .softmax, .mean:
            return graph.tensors[op.inputs[0]].isConstant ? "its input is a constant" : nil
        case .add:
            if let c = op.inputs.first(where: { graph.tensors[$0].isConstant }) {
                return "operand \(graph.describeTensor(c)) is a constant; QuantKit quantizes ADD of two computed tensors"
            }
            return nil
        case .quantize, .dequantize:
            return "the graph already converts between float and integer here"
        }
    }

    /// Where full-integer conversion gets the parameters of the activations that own them (same-scale
    /// operators inherit, SOFTMAX outputs are fixed).
    enum ActivationSource {
        /// Post-training: calibration statistics, turned into parameters with the converter's
        /// `legacy_float_scale` arithmetic (``Kernels/AffineQuantization/legacyFloatPTQ(min:max:)``).
        case calibration(Calibrator.Statistics)
        /// Quantization-aware training: the parameters the fake-quants trained with, per float-graph
        /// tensor, and the learned ranges they came from (for the report).
        case learned([Int: AffineQuantization], ranges: [QuantizationReport.Range])
    }

    /// Full-integer conversion from a plan and calibration statistics (spec §1, §8).
    func quantizeFullInteger(_ graph: Graph, plan: [Bool], calibration: Calibrator.Statistics,
                             input inputType: IOType, output outputType: IOType) throws(QuantizationError) -> Result {
        try quantizeFullInteger(graph, plan: plan, activations: .calibration(calibration), input: inputType, output: outputType)
    }

    /// Full-integer conversion from a plan and activation parameters (spec §1, §8).
    ///
    /// - Parameter perChannel: per operator, whether its weights get one scale per output channel;
    ///   `nil` applies ``Options/perChannelWeights`` to every operator.
    func quantizeFullInteger(_ graph: Graph, plan: [Bool], activations source: ActivationSource, perChannel: [Bool]? = nil,
                             input inputType: IOType, output outputType: IOType) throws(QuantizationError) -> Result {
        let n = graph.tensors.count
        var producer = [Int?](repeating: nil, count: n)
        for (j, op) in graph.operators.enumerated() { for y in op.outputs { producer[y] = j } }

        // Activation parameters (float graph indices), memoized; same-scale ops inherit their input's.
        var params: [Int: AffineQuantization] = [:]
        func activation(_ t: Int) throws(QuantizationError) -> AffineQuantization {
            if let p = params[t] { return p }
            var p: AffineQuantization
            if let j = producer[t], plan[j], graph.operators[j].kind == .softmax {
                p = AffineQuantization(scale: 1.0 / 256.0, zeroPoint: -128)
            } else if let j = producer[t], plan[j], [.maxPool2D, .averagePool2D, .reshape].contains(graph.operators[j].kind) {
                p = try activation(graph.operators[j].inputs[0])
            } else {
                switch source {
                case .calibration(let calibration):
                    guard let r = calibration.ranges[t], !r.isEmpty else {
                        throw QuantizationError(.calibrationFailed, "\(graph.describeTensor(t)) has no calibration range", tensor: t)
                    }
                    p = AffineQuantization.legacyFloatPTQ(min: Double(r.min), max: Double(r.max))
                case .learned(let learned, _):
                    guard let q = learned[t] else {
                        throw QuantizationError(.calibrationFailed, """
                            \(graph.describeTensor(t)) has no learned range: no fake-quant trained on it \
                            (it is computed in float and feeds an int8 operator, or is a float output asked to be int8)
                            """, tensor: t)
                    }
                    p = q
                }
            }
            params[t] = p
            return p
        }
        func quantization(_ p: AffineQuantization) -> GraphTensor.Quantization {
            .init(scale: p.scale, zeroPoint: Int64(p.zeroPoint))
        }

        var out = graph
        out.operators = []
        var entries: [QuantizationReport.Entry] = []
        // Where each computed tensor lives: int8 (quantized producer, or an int8 graph input) or float.
        var isInt8 = [Bool](repeating: false, count: n)
        for i in graph.inputs where inputType == .int8 { isInt8[i] = true }
        for (j, op) in graph.operators.enumerated() where plan[j] { for y in op.outputs { isInt8[y] = true } }
        for t in 0..<n where isInt8[t] {
            let p = try activation(t)
            out.tensors[t].elementType = .int8
            out.tensors[t].quantization = quantization(p)
            entries.append(.init(tensor: t, name: graph.tensors[t].name, treatment: .int8Activation(scale: p.scale, zeroPoint: Int64(p.zeroPoint))))
        }

        // The other-domain copy of a tensor, made by a QUANTIZE or DEQUANTIZE emitted on first use.
        var converted: [Int: Int] = [:]
        func other(_ t: Int, name: String? = nil) throws(QuantizationError) -> Int {
            if let c = converted[t] { return c }
            let c = out.tensors.count
            var copy = graph.tensors[t]
            copy.data = nil
            if isInt8[t] {
                copy.elementType = .float32
                copy.quantization = nil
                copy.name = name ?? copy.name + "/dequantize"
                out.tensors.append(copy)
                out.operators.append(GraphOperator(.dequantize, inputs: [t], outputs: [c]))
            } else {
                copy.elementType = .int8
                copy.quantization = quantization(try activation(t))
                copy.name = name ?? copy.name + "/quantize"
                out.tensors.append(copy)
                out.operators.append(GraphOperator(.quantize, inputs: [t], outputs: [c]))
            }
            converted[t] = c
            return c
        }

        // Constants rewritten for one operator; a constant shared by several gets a copy per use.
        var constantUses: [Int: Int] = [:]
        for op in graph.operators { for x in op.inputs where x >= 0 && graph.tensors[x].isConstant { constantUses[x, default: 0] += 1 } }
        func place(_ tensor: GraphTensor, replacing x: Int) -> Int {
            if constantUses[x] == 1 {
                out.tensors[x] = tensor
                return x
            }
            out.tensors.append(tensor)
            return out.tensors.count - 1
        }

        for (j, op) in graph.operators.enumerated() {
            var newOp = op
            if !plan[j] {
                for (k, x) in op.inputs.enumerated() where x >= 0 && !graph.tensors[x].isConstant && isInt8[x] {
                    newOp.inputs[k] = try other(x)
                }
                out.operators.append(newOp)
                continue
            }
            for (k, x) in op.inputs.enumerated() where x >= 0 && !graph.tensors[x].isConstant && !isInt8[x] {
                newOp.inputs[k] = try other(x)
            }
            if let axis = Self.weightAxis(op.kind) {
                let x = op.inputs[0], w = op.inputs[1]
                let inputScale = try activation(x).scale
                let (qw, treatment) = quantizedWeights(graph.tensors[w], axis: axis, arithmetic: .legacyFloat,
                                                       perChannel: perChannel?[j] ?? options.perChannelWeights)
                newOp.inputs[1] = place(qw, replacing: w)
                entries.append(.init(tensor: newOp.inputs[1], name: qw.name, treatment: treatment))
                if op.inputs.count > 2, op.inputs[2] >= 0 {
                    let b = op.inputs[2]
                    let scales = qw.quantization!.scales.map { WeightQuantization.biasScale(inputScale: inputScale, weightScale: $0) }
                    let values = graph.tensors[b].data!.float32Values()
                    let q = values.enumerated().map { c, v in
                        WeightQuantization.quantizeBias(v, biasScale: scales.count == 1 ? scales[0] : scales[c])
                    }
                    var qb = graph.tensors[b]
                    qb.elementType = .int32
                    qb.data = ConstantData(int32: q)
                    qb.quantization = .init(scales: scales, zeroPoints: [Int64](repeating: 0, count: scales.count),
                                            quantizedDimension: 0)
                    newOp.inputs[2] = place(qb, replacing: b)
                    entries.append(.init(tensor: newOp.inputs[2], name: qb.name, treatment: .int32Bias))
                }
            }
            out.operators.append(newOp)
        }

        // The model's edges: float32 or int8 as asked.
        // (A float32 input feeding quantized operators got its QUANTIZE on first use above.)
        for (k, t) in graph.outputs.enumerated() {
            let wantInt8 = outputType == .int8
            guard isInt8[t] != wantInt8 else { continue }
            if isInt8[t] {
                // Keep the original name on the float output, as the converter does.
                let name = graph.tensors[t].name
                out.tensors[t].name = name + "/int8"
                out.outputs[k] = try other(t, name: name)
            } else {
                out.outputs[k] = try other(t)
            }
        }
        // Signatures refer to the edge tensors by index.
        for s in out.signatures.indices {
            out.signatures[s].outputs = out.signatures[s].outputs.map { pair in
                (pair.name, graph.outputs.firstIndex(of: pair.tensor).map { out.outputs[$0] } ?? pair.tensor)
            }
        }

        out = Self.withConverterVersions(out)
        do {
            try out.validate()
        } catch {
            preconditionFailure("Quantizer produced an invalid full-integer graph: \(error)")
        }
        entries.sort { $0.tensor < $1.tensor }
        let ranges: [QuantizationReport.Range]
        let samples: Int
        switch source {
        case .calibration(let calibration):
            ranges = calibration.ranges.keys.sorted().map { t in
                QuantizationReport.Range(tensor: t, name: graph.tensors[t].name, min: calibration.ranges[t]!.min, max: calibration.ranges[t]!.max)
            }
            samples = calibration.samples
        case .learned(_, let learnedRanges):
            ranges = learnedRanges
            samples = 0
        }
        let report = QuantizationReport(mode: mode, entries: entries, calibrationRanges: ranges,
                                        calibrationSamples: samples,
                                        floatFallbackOperators: plan.indices.filter { !plan[$0] },
                                        constantBytesBefore: graph.constantByteCount,
                                        constantBytesAfter: out.constantByteCount)
        return Result(graph: out, report: report)
    }
}
