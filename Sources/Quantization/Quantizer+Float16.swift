import Kernels
import Runtime
import TensorCore

extension Quantizer {
    /// Float16 weight quantization (spec §5).
    ///
    /// Every float32 constant that feeds an operator becomes a FLOAT16 constant (IEEE binary16,
    /// `Float16Conversion.weight`: clamp to ±65504, round to nearest even, subnormals kept) and a
    /// DEQUANTIZE (version 3) at the start of the graph widens it back to the float32 tensor the
    /// operators read. No size threshold: biases too. Integer constants (shapes, axes) are untouched.
    func quantizeFloat16(_ graph: Graph) -> Result {
        var out = graph
        var entries: [QuantizationReport.Entry] = []
        var dequantizes: [GraphOperator] = []
        var replacement: [Int: Int] = [:]   // float32 constant -> its DEQUANTIZE output
        for op in graph.operators {
            for x in op.inputs where x >= 0 && replacement[x] == nil {
                let t = graph.tensors[x]
                guard t.isConstant, t.elementType == .float32 else { continue }
                let halves = t.data!.float32Values().map { Float16Conversion.bits(Float16Conversion.weight($0)) }
                // The FLOAT16 constant keeps the index and name; the DEQUANTIZE output is a new float32 tensor.
                out.tensors[x].elementType = .float16
                out.tensors[x].data = ConstantData(float16Bits: halves)
                let y = out.tensors.count
                out.tensors.append(GraphTensor(name: t.name + "/dequantize", shape: t.shape, elementType: .float32,
                                               shapeSignature: t.shapeSignature))
                dequantizes.append(GraphOperator(.dequantize, inputs: [x], outputs: [y], version: 3))
                replacement[x] = y
                entries.append(.init(tensor: x, name: t.name, treatment: .float16))
            }
        }
        for j in out.operators.indices {
            out.operators[j].inputs = out.operators[j].inputs.map { replacement[$0] ?? $0 }
        }
        out.operators = dequantizes + out.operators
        out = Self.withConverterVersions(out)
        let report = QuantizationReport(mode: mode, entries: entries, calibrationRanges: [], calibrationSamples: 0,
                                        floatFallbackOperators: [], constantBytesBefore: graph.constantByteCount,
                                        constantBytesAfter: out.constantByteCount)
        return Result(graph: out, report: report)
    }
}
