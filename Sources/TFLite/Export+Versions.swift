import Runtime
import TensorCore

/// Operator versions and minimum runtime versions as the TensorFlow Lite converter computes them.
///
/// `OperatorCode.version` tells the interpreter which kernel variant an operator needs; a version
/// outside the range a resolver registers fails with "Didn't find op for builtin opcode". The
/// converter derives it from the operand element types and options
/// (`tflite/converter/tools/versioning/op_version.cc`, `GetBuiltinOperatorVersion`, with the
/// per-channel and grouped flags of `op_signature.cc`), and records the highest minimum runtime of
/// the model's operators in the `min_runtime_version` metadata (`runtime_version.cc`). Spec §6.1
/// tabulates the cases QuantKit produces:
///
/// | op | float | int8 | hybrid (float in/out, int8 weights) | other |
/// |---|---|---|---|---|
/// | CONV_2D | 1 | 3 | 2; 5 per-channel | 4 int16; 6 grouped |
/// | DEPTHWISE_CONV_2D | 1 (2 if dilated) | 3 | 4; 6 per-channel | 5 int16 |
/// | FULLY_CONNECTED | 1 | 4 | 3; 9 asymmetric inputs; 12 per-channel | 7 int16; 6 two inputs; 5 keep_num_dims |
/// | MAX/AVERAGE_POOL_2D, SOFTMAX, MEAN | 1 | 2 | | 3 int16 |
/// | ADD | 1 | 2 | | 3 int16 without POT scales; 4 int64; 5 unquantized int16 |
/// | RESHAPE | 1 | 1 | | |
/// | QUANTIZE | | 1 | | 2 int16 output; 3 per-channel |
/// | DEQUANTIZE | | 2 int8 | | 3 float16 or int16; 5 per-channel int8 |
///
/// Only the converter's rules are applied: a version tells what the kernels must support, the
/// kernels themselves choose their code path from the tensor types.
public enum TFLiteVersions {
    /// The `OperatorCode.version` the TFLite converter would write for `op` in `graph`.
    ///
    /// Follows `GetBuiltinOperatorVersion` case by case, including its precedence for
    /// FULLY_CONNECTED (per-channel hybrid 12 > int16 7 > two inputs 6 > keep_num_dims 5 > int8 4 >
    /// hybrid 9/3). "Two inputs" means exactly two operands: an absent bias written as `-1` is a
    /// third operand for the converter too. Safe on an unvalidated graph (a missing operand counts
    /// as "no type").
    public static func converterVersion(of op: GraphOperator, in graph: Graph) -> Int {
        func tensor(_ list: [Int], _ k: Int) -> GraphTensor? {
            guard k < list.count, graph.tensors.indices.contains(list[k]) else { return nil }
            return graph.tensors[list[k]]
        }
        let input = tensor(op.inputs, 0), weights = tensor(op.inputs, 1), output = tensor(op.outputs, 0)
        let (i0, i1, o0) = (input?.elementType, weights?.elementType, output?.elementType)
        let hybrid = i0 == .float32 && i1 == .int8 && o0 == .float32
        let int8 = i0 == .int8 && i1 == .int8 && o0 == .int8
        func scaleCount(_ t: GraphTensor?) -> Int { t?.quantization?.scales.count ?? 0 }
        func dimension(_ t: GraphTensor?, _ axis: Int) -> Int? {
            guard let t, axis < t.shape.count else { return nil }
            return t.shape[axis]
        }

        switch op.options {
        case .conv2D:
            // op_signature.cc: grouped when the input's channels differ from the filter's.
            if let c = dimension(input, 3), let f = dimension(weights, 3), input?.shape.count == 4, c != f { return 6 }
            if i0 == .int16 && i1 == .int16 && o0 == .int16 { return 4 }
            if int8 { return 3 }
            if hybrid {
                let perChannel = scaleCount(weights) > 0 && scaleCount(weights) == dimension(weights, 0)
                return perChannel ? 5 : 2
            }
            return 1
        case .depthwiseConv2D(let o):
            if i0 == .int16 && i1 == .int16 && o0 == .int16 { return 5 }
            if hybrid {
                let perChannel = scaleCount(weights) > 0 && scaleCount(weights) == dimension(weights, 3)
                return perChannel ? 6 : 4
            }
            if int8 { return 3 }
            return o.dilationWidth != 1 || o.dilationHeight != 1 ? 2 : 1
        case .fullyConnected(let o):
            let perChannel = scaleCount(weights) > 1 && scaleCount(weights) == dimension(weights, 0)
            if hybrid && perChannel { return 12 }
            if i0 == .int16 && i1 == .int16 && o0 == .int16 { return 7 }
            if op.inputs.count == 2 { return 6 }
            if o.keepNumDims { return 5 }
            if int8 { return 4 }
            if hybrid { return o.asymmetricQuantizeInputs ? 9 : 3 }
            return 1
        case .maxPool2D, .averagePool2D:
            if i0 == .int16 && o0 == .int16 { return 3 }
            return i0 == .int8 ? 2 : 1
        case .mean, .softmax:
            if i0 == .int16 { return 3 }
            return i0 == .int8 ? 2 : 1
        case .add(let o):
            if i0 == .int16 && input?.quantization == nil { return 5 }
            if i0 == .int64 { return 4 }
            if i0 == .int16 && o0 == .int16 && !o.potScaleInt16 { return 3 }
            return i0 == .int8 ? 2 : 1
        case .reshape:
            return 1
        case .quantize:
            if scaleCount(output) > 1 { return 3 }
            return o0 == .int16 ? 2 : 1
        case .dequantize:
            if i0 == .int16 || i0 == .float16 { return 3 }
            if i0 == .int8 { return scaleCount(input) > 1 ? 5 : 2 }
            return 1
        }
    }

    /// The versions the converter writes for every operator of `graph`: per kind, the highest
    /// ``converterVersion(of:in:)`` among the operators of that kind.
    ///
    /// The converter keeps one `OperatorCode` per builtin operator and only ever raises its version
    /// (`UpdateOpVersion`), so every operator of a kind shares the version the most demanding one
    /// needs: in the dynamic-range seed model the float-weight first CONV_2D is version 5 because
    /// the second, hybrid per-channel, CONV_2D is.
    public static func converterVersions(of graph: Graph) -> [Int] {
        let own = graph.operators.map { converterVersion(of: $0, in: graph) }
        var highest: [GraphOperator.Kind: Int] = [:]
        for (j, op) in graph.operators.enumerated() { highest[op.kind] = max(highest[op.kind] ?? 0, own[j]) }
        return graph.operators.map { highest[$0.kind]! }
    }

    /// The TFLite runtime that first supports `kind` at `version` (`runtime_version.cc`
    /// `FindMinimumRuntimeVersionForOp`), or `nil` when the table has no entry (the converter then
    /// ignores the operator).
    public static func minimumRuntime(for kind: GraphOperator.Kind, version: Int) -> String? {
        let table: [String]
        switch kind {
        case .conv2D: table = ["1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0"]
        case .depthwiseConv2D: table = ["1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0"]
        case .fullyConnected:
            // Versions 10 and 11 (int4 weights, int16 with quantized_bias_type) are never produced here.
            if version == 12 { return "2.17.0" }
            table = ["1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0"]
        case .maxPool2D, .averagePool2D: table = ["1.5.0", "1.14.0", "2.3.0"]
        case .mean: table = ["1.6.0", "1.14.0", "2.4.0"]
        case .add: table = ["1.5.0", "1.14.0", "2.4.0", "2.6.0"]
        case .reshape: table = ["1.5.0"]
        case .softmax: table = ["1.5.0", "1.14.0", "2.3.0"]
        case .quantize: table = ["1.14.0", "1.15.0", "2.7.0"]
        case .dequantize: table = ["1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0"]
        }
        return version >= 1 && version <= table.count ? table[version - 1] : nil
    }

    /// The highest ``minimumRuntime(for:version:)`` over the operators of `graph` (with `versions`,
    /// one per operator, instead of the stored ones when given), or `nil` when no operator is in
    /// the table. What the converter writes into the `min_runtime_version` metadata.
    public static func minimumRuntime(of graph: Graph, versions: [Int]? = nil) -> String? {
        var highest: String?
        for (j, op) in graph.operators.enumerated() {
            let version = versions.map { $0[j] } ?? op.version
            guard let runtime = minimumRuntime(for: op.kind, version: version) else { continue }
            if highest.map({ runtimeVersion($0, precedes: runtime) }) ?? true { highest = runtime }
        }
        return highest
    }

    /// `true` when runtime version `a` is older than `b`: numeric comparison part by part, and a
    /// prefix precedes a longer version (`runtime_version.cc CompareRuntimeVersion`).
    public static func runtimeVersion(_ a: String, precedes b: String) -> Bool {
        let x = a.split(separator: ".", omittingEmptySubsequences: false)
        let y = b.split(separator: ".", omittingEmptySubsequences: false)
        var i = 0
        while i < x.count && i < y.count {
            if let p = Int(x[i]), let q = Int(y[i]), p != q { return p < q }
            i += 1
        }
        return i < y.count
    }

    /// `graph` with every operator's version set as the converter would (``converterVersions(of:)``).
    public static func withConverterVersions(_ graph: Graph) -> Graph {
        var result = graph
        for (j, version) in converterVersions(of: graph).enumerated() { result.operators[j].version = version }
        return result
    }
}
