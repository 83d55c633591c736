import Kernels
import Runtime
import TensorCore

/// Post-training quantization of a float32 ``Runtime/Graph``, in the three ways the TensorFlow
/// Lite converter offers.
///
///     let int8 = try Quantizer(.fullInteger(input: .int8, output: .int8))
///         .quantize(floatGraph, representativeData: batches)      // some Sequence<[Float]>
///     try TFLiteFile.write(int8.graph, to: url)
///
/// - ``Mode/dynamicRange``: weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with at
///   least ``Options/minimumWeightElements`` elements become int8 symmetric (scale = absmax/127 in
///   double); activations and biases stay float; hybrid kernels quantize inputs at run time
///   (spec §4, the MLIR `prepare_quantize_dynamic_range` pass).
/// - ``Mode/fullInteger(input:output:)``: every activation int8 asymmetric from the global min/max
///   observed on the representative data (float arithmetic, `legacy_float_scale`), weights int8
///   symmetric (legacy float path), int32 biases with `scale = float(double(in) × double(w))`,
///   same-scale ops (MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE) inherit their input's parameters,
///   SOFTMAX output (1/256, −128); float I/O gets QUANTIZE (v1) / DEQUANTIZE (v2) at the edges
///   (spec §1, §8).
/// - ``Mode/float16``: every float32 constant feeding an operator becomes a FLOAT16 constant
///   behind a DEQUANTIZE (v3) (spec §5).
///
/// Operator versions are set as the converter sets them (one version per operator kind, the
/// highest any operator of that kind needs), so the graph writes as TFLite's converter would.
public struct Quantizer: Sendable {
    /// Element type of the model's input or output in full-integer mode.
    public enum IOType: String, Sendable, Hashable, CaseIterable {
        case int8
        case float32
    }

    /// What to quantize.
    public enum Mode: Sendable, Hashable, CustomStringConvertible {
        case dynamicRange
        case fullInteger(input: IOType, output: IOType)
        case float16

        public var description: String {
            switch self {
            case .dynamicRange: "dynamic range"
            case .fullInteger(let i, let o): "full integer (input \(i.rawValue), output \(o.rawValue))"
            case .float16: "float16"
            }
        }
    }

    /// Choices beyond the mode; the defaults are the converter's.
    public struct Options: Sendable, Hashable {
        /// One scale per output channel (CONV axis 0, DEPTHWISE axis 3, FC axis 0) instead of one per tensor.
        public var perChannelWeights: Bool
        /// Leave operators that cannot be quantized in float32 (with QUANTIZE/DEQUANTIZE around them)
        /// instead of failing. Full-integer mode only.
        public var allowsFloatFallback: Bool
        /// Dynamic range: smaller weights stay float32 (`minimum_elements_for_weights`).
        public var minimumWeightElements: Int
        /// Samples run through the float graph at once while calibrating (bounds the memory used).
        public var calibrationBatchSize: Int

        public init(perChannelWeights: Bool = true, allowsFloatFallback: Bool = false,
                    minimumWeightElements: Int = 1024, calibrationBatchSize: Int = 32) {
            self.perChannelWeights = perChannelWeights
            self.allowsFloatFallback = allowsFloatFallback
            self.minimumWeightElements = minimumWeightElements
            self.calibrationBatchSize = calibrationBatchSize
        }
    }

    /// A quantized graph and what was done to get it.
    public struct Result: Sendable {
        public var graph: Graph
        public var report: QuantizationReport
    }

    public var mode: Mode
    public var options: Options

    public init(_ mode: Mode, options: Options = Options()) {
        self.mode = mode
        self.options = options
    }

    /// Quantizes a graph in a mode that needs no data (``Mode/dynamicRange``, ``Mode/float16``).
    ///
    /// - Throws: ``QuantizationError`` `.invalidGraph` for a graph that is not float32, and
    ///   `.emptyRepresentativeData` in full-integer mode (use ``quantize(_:representativeData:)``).
    public func quantize(_ graph: Graph) throws(QuantizationError) -> Result {
        try quantize(graph, representativeData: [[Float]]())
    }

    /// Quantizes `graph`; in full-integer mode it is first calibrated on `representativeData`.
    ///
    /// Each element of `representativeData` is a batch: one or more samples of the graph's single
    /// input, back to back (row-major, the input's shape without its batch dimension), as the
    /// converter's `representative_dataset` yields them. The sequence is iterated once, a batch at a
    /// time; memory does not grow with its length. Other modes ignore it.
    ///
    /// - Throws: ``QuantizationError``: `.invalidGraph`, `.unsupportedOperator` (naming the
    ///   operator), `.emptyRepresentativeData`, `.malformedSample`, `.nonFiniteValue` (naming the
    ///   sample or the tensor), `.calibrationFailed`.
    public func quantize(_ graph: Graph, representativeData: some Sequence<[Float]>) throws(QuantizationError) -> Result {
        try Self.checkFloat(graph)
        switch mode {
        case .dynamicRange:
            return quantizeDynamicRange(graph)
        case .float16:
            return quantizeFloat16(graph)
        case .fullInteger(let input, let output):
            let plan = try fullIntegerPlan(graph)
            let calibration = try Calibrator(graph: graph, batchSize: options.calibrationBatchSize)
                .calibrate(representativeData)
            return try quantizeFullInteger(graph, plan: plan, calibration: calibration, input: input, output: output)
        }
    }

    /// Throws unless `graph` is valid and every computed tensor and graph input is float32 (shape
    /// operands may be int32 constants; a DEQUANTIZE of a constant is accepted).
    static func checkFloat(_ graph: Graph) throws(QuantizationError) {
        do {
            try graph.validate()
        } catch {
            throw QuantizationError(.invalidGraph, "the graph is not valid: \(error)")
        }
        for i in graph.inputs where graph.tensors[i].elementType != .float32 {
            throw QuantizationError(.invalidGraph, "input \(graph.describeTensor(i)) is \(graph.tensors[i].elementType); the quantizer takes a float32 model", tensor: i)
        }
        for (j, op) in graph.operators.enumerated() {
            for y in op.outputs where graph.tensors[y].elementType != .float32 {
                throw QuantizationError(.invalidGraph, """
                    \(graph.describeOperator(j)) writes \(graph.tensors[y].elementType) \(graph.describeTensor(y)); \
                    the quantizer takes a float32 model
                    """, operator: j, tensor: y)
            }
        }
    }
}

extension Quantizer {
    /// The converter's operator versions for the kinds QuantKit writes (spec §6.1), one per kind:
    /// the highest any operator of that kind needs (`UpdateOpVersion` keeps one `OperatorCode` per
    /// builtin). Same rules as `TFLiteVersions.converterVersions` in the TFLite module.
    static func converterVersions(_ graph: Graph) -> [Int] {
        func type(_ list: [Int], _ k: Int) -> ElementType? {
            k < list.count && list[k] >= 0 ? graph.tensors[list[k]].elementType : nil
        }
        func scales(_ list: [Int], _ k: Int) -> Int {
            k < list.count && list[k] >= 0 ? graph.tensors[list[k]].quantization?.scales.count ?? 0 : 0
        }
        func dim(_ list: [Int], _ k: Int, _ axis: Int) -> Int? {
            guard k < list.count, list[k] >= 0, axis < graph.tensors[list[k]].shape.count else { return nil }
            return graph.tensors[list[k]].shape[axis]
        }
        let own: [Int] = graph.operators.map { op in
            let (i0, i1, o0) = (type(op.inputs, 0), type(op.inputs, 1), type(op.outputs, 0))
            let hybrid = i0 == .float32 && i1 == .int8 && o0 == .float32
            let int8 = i0 == .int8 && i1 == .int8 && o0 == .int8
            switch op.options {
            case .conv2D:
                if let c = dim(op.inputs, 0, 3), let f = dim(op.inputs, 1, 3), c != f { return 6 }
                if int8 { return 3 }
                if hybrid { return scales(op.inputs, 1) > 0 && scales(op.inputs, 1) == dim(op.inputs, 1, 0) ? 5 : 2 }
                return 1
            case .depthwiseConv2D(let o):
                if hybrid { return scales(op.inputs, 1) > 0 && scales(op.inputs, 1) == dim(op.inputs, 1, 3) ? 6 : 4 }
                if int8 { return 3 }
                return o.dilationWidth != 1 || o.dilationHeight != 1 ? 2 : 1
            case .fullyConnected(let o):
                if hybrid && scales(op.inputs, 1) > 1 && scales(op.inputs, 1) == dim(op.inputs, 1, 0) { return 12 }
                if op.inputs.count == 2 { return 6 }
                if o.keepNumDims { return 5 }
                if int8 { return 4 }
                if hybrid { return o.asymmetricQuantizeInputs ? 9 : 3 }
                return 1
            case .maxPool2D, .averagePool2D, .mean, .softmax:
                return i0 == .int8 ? 2 : 1
            case .add:
                return i0 == .int8 ? 2 : 1
            case .reshape:
                return 1
            case .quantize:
                return scales(op.outputs, 0) > 1 ? 3 : 1
            case .dequantize:
                if i0 == .float16 || i0 == .int16 { return 3 }
                if i0 == .int8 { return scales(op.inputs, 0) > 1 ? 5 : 2 }
                return 1
            }
        }
        var highest: [GraphOperator.Kind: Int] = [:]
        for (j, op) in graph.operators.enumerated() { highest[op.kind] = max(highest[op.kind] ?? 0, own[j]) }
        return graph.operators.map { highest[$0.kind]! }
    }

    /// `graph` with the converter's operator versions, and without a `min_runtime_version`
    /// metadata entry carried over from the float model (it would understate the quantized model's
    /// needs; `TFLiteFile.write` with the converter-like options computes it afresh).
    static func withConverterVersions(_ graph: Graph) -> Graph {
        var result = graph
        for (j, v) in converterVersions(graph).enumerated() { result.operators[j].version = v }
        result.metadata.removeAll { $0.name == "min_runtime_version" }
        return result
    }

    /// The quantization axis of an operator's weights (operand 1): CONV_2D and FULLY_CONNECTED 0,
    /// DEPTHWISE_CONV_2D 3; `nil` for other kinds.
    static func weightAxis(_ kind: GraphOperator.Kind) -> Int? {
        switch kind {
        case .conv2D, .fullyConnected: 0
        case .depthwiseConv2D: 3
        default: nil
        }
    }

    /// Symmetric int8 weights for `tensor` (float32 constant) along `axis`.
    func quantizedWeights(_ tensor: GraphTensor, axis: Int, arithmetic: WeightQuantization.Arithmetic, perChannel: Bool? = nil)
        -> (tensor: GraphTensor, treatment: QuantizationReport.Treatment)
    {
        let values = tensor.data!.float32Values()
        let perChannel = perChannel ?? options.perChannelWeights
        let (q, scales) = values.withUnsafeBufferPointer {
            WeightQuantization.symmetric($0, shape: tensor.shape, axis: axis, perChannel: perChannel, arithmetic: arithmetic)
        }
        var t = tensor
        t.elementType = .int8
        t.data = ConstantData(int8: q)
        t.quantization = GraphTensor.Quantization(scales: scales, zeroPoints: [Int64](repeating: 0, count: scales.count),
                                                  quantizedDimension: perChannel ? axis : 0)
        return (t, perChannel ? .int8PerChannel(axis: axis, channels: scales.count) : .int8PerTensor)
    }
}
