import Kernels
import Runtime
import TensorCore

extension Quantizer {
    /// Dynamic-range ("hybrid") quantization (spec §4).
    ///
    /// Float32 constant weights (operand 1) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with at
    /// least ``Options/minimumWeightElements`` elements become int8 symmetric in [-127, 127], scale =
    /// absmax/127 computed in double (the non-legacy `UniformQuantizedValueConverter` path), stored
    /// as float32; per channel along the weight axis unless ``Options/perChannelWeights`` is off.
    /// Biases and activations stay float32. A FULLY_CONNECTED with int8 weights gets
    /// `asymmetricQuantizeInputs` (the converter's `RequireAsymmetricQuantizeInputsAttr`).
    func quantizeDynamicRange(_ graph: Graph) -> Result {
        var out = graph
        var entries: [QuantizationReport.Entry] = []
        var done: [Int: GraphTensor] = [:]
        for (j, op) in graph.operators.enumerated() {
            guard let axis = Self.weightAxis(op.kind), op.inputs.count > 1, op.inputs[1] >= 0 else { continue }
            let w = op.inputs[1]
            let t = graph.tensors[w]
            guard t.isConstant, t.elementType == .float32, (t.elementCount ?? 0) >= options.minimumWeightElements else { continue }
            if done[w] == nil {
                let (q, treatment) = quantizedWeights(t, axis: axis, arithmetic: .double)
                done[w] = q
                out.tensors[w] = q
                entries.append(.init(tensor: w, name: t.name, treatment: treatment))
            }
            if case .fullyConnected(var o) = op.options {
                o.asymmetricQuantizeInputs = true
                out.operators[j].options = .fullyConnected(o)
            }
        }
        out = Self.withConverterVersions(out)
        entries.sort { $0.tensor < $1.tensor }
        let report = QuantizationReport(mode: mode, entries: entries, calibrationRanges: [], calibrationSamples: 0,
                                        floatFallbackOperators: [], constantBytesBefore: graph.constantByteCount,
                                        constantBytesAfter: out.constantByteCount)
        return Result(graph: out, report: report)
    }
}
