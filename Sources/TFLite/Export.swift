import Runtime
import TensorCore

/// Encodes a ``Graph`` as a TFLite `Model` flatbuffer (one subgraph), the inverse of
/// ``ModelImporter``.
///
/// Layout choices (spec §6, and what the converter writes where it matters to LiteRT):
///
/// - `Model.version` 3, identifier `"TFL3"`, total length a multiple of 16;
/// - `operator_codes` in order of first use, one per (builtin code, version), each with both
///   `deprecated_builtin_code = min(code, 127)` and `builtin_code`, and `version` always written;
/// - `buffers[0]` is the empty sentinel, and **every non-constant tensor uses buffer 0** (the
///   converter gives each one an empty buffer of its own; sharing the sentinel is what the schema
///   documents and is smaller). Constant tensors get buffers 1, 2, … in tensor order, each holding
///   exactly `elementCount × byteSize` bytes, 16-aligned; metadata buffers follow;
/// - tensors always carry `shape`, `name` and `has_rank = true` (QuantKit's shapes are static);
///   `quantization` only when the tensor has parameters (scale float32, zero_point int64 8-aligned,
///   quantized_dimension when not 0, min/max when present);
/// - builtin options for every operator kind except QUANTIZE and DEQUANTIZE (whose option tables
///   are empty; the converter leaves them out too) and RESHAPE without `newShape`; every field of
///   an options table is written, defaults included (SOFTMAX `beta` defaults to 0.0, strides to 0);
/// - the big constant data sits at the end of the file in buffer order, the tables in front.
struct ModelExporter {
    let graph: Graph
    let options: TFLiteFile.WriteOptions
    var builder: FlatBufferBuilder

    init(graph: Graph, options: TFLiteFile.WriteOptions) {
        self.graph = graph
        self.options = options
        // Constant data dominates; the tables rarely need more than a few hundred bytes per tensor.
        let data = graph.tensors.reduce(0) { $0 + ($1.data?.byteCount ?? 0) + 32 }
            + graph.metadata.reduce(0) { $0 + $1.bytes.count + 32 }
        let tables = graph.tensors.reduce(0) { $0 + 160 + $1.name.utf8.count + 8 * $1.shape.count }
            + 128 * graph.operators.count
        self.builder = FlatBufferBuilder(initialCapacity: min(data + tables + 4096, FlatBufferBuilder.maximumSize))
    }

    mutating func export() throws(TFLiteError) -> [UInt8] {
        do {
            try graph.validate()
        } catch {
            throw TFLiteError(.invalidGraph, "cannot write an invalid graph: \(error.message)", graphError: error)
        }
        try checkRepresentable()

        let versions = operatorVersions()
        let metadata = metadataToWrite(versions: versions)
        let signatures = signaturesToWrite()

        // Buffer indices: the sentinel, one per constant tensor, one per metadata entry.
        var bufferOfTensor = [Int](repeating: 0, count: graph.tensors.count)
        var bufferData: [[UInt8]?] = [nil]
        for (i, t) in graph.tensors.enumerated() {
            guard let data = t.data else { continue }
            bufferOfTensor[i] = bufferData.count
            bufferData.append(data.bytes)
        }
        var bufferOfMetadata: [Int] = []
        for m in metadata {
            bufferOfMetadata.append(bufferData.count)
            bufferData.append(m.bytes)
        }

        // Back to front: what is created first ends up last in the file. The data first (in
        // descending buffer order, so it reads in ascending order), then the tables that refer to it.
        var dataVectors = [FlatBufferBuilder.Offset?](repeating: nil, count: bufferData.count)
        for k in bufferData.indices.reversed() {
            guard let bytes = bufferData[k], !bytes.isEmpty else { continue }
            dataVectors[k] = builder.createVector(bytes: bytes, alignment: 16)
        }
        try checkSize()
        var bufferTables: [FlatBufferBuilder.Offset] = []
        for k in bufferData.indices {
            builder.startTable()
            builder.add(Schema.Buffer.data, dataVectors[k])
            bufferTables.append(builder.endTable())
        }
        let buffers = builder.createVector(offsets: bufferTables)

        let (codes, opcodeIndices) = operatorCodes(versions: versions)
        let subgraph = try writeSubgraph(bufferOfTensor: bufferOfTensor, opcodeIndices: opcodeIndices)
        let subgraphs = builder.createVector(offsets: [subgraph])
        let operatorCodes = writeOperatorCodes(codes)

        let description = graph.description.map { builder.createString($0) }
        var metadataTables: [FlatBufferBuilder.Offset] = []
        for (k, m) in metadata.enumerated() {
            let name = builder.createString(m.name)
            builder.startTable()
            builder.add(Schema.Metadata.name, name)
            builder.add(Schema.Metadata.buffer, UInt32(bufferOfMetadata[k]), default: 0)
            metadataTables.append(builder.endTable())
        }
        let metadataVector = metadataTables.isEmpty ? nil : builder.createVector(offsets: metadataTables)
        let signatureVector = signatures.isEmpty ? nil : builder.createVector(offsets: signatures.map { writeSignature($0) })

        builder.startTable()
        builder.add(Schema.Model.signatureDefs, signatureVector)
        builder.add(Schema.Model.metadata, metadataVector)
        builder.add(Schema.Model.buffers, buffers)
        builder.add(Schema.Model.description, description)
        builder.add(Schema.Model.subgraphs, subgraphs)
        builder.add(Schema.Model.operatorCodes, operatorCodes)
        builder.add(Schema.Model.version, Schema.version, default: nil)
        let model = builder.endTable()
        builder.finish(root: model, fileIdentifier: Schema.fileIdentifier, minimumAlignment: 16)
        try checkSize()
        return builder.bytes
    }

    // MARK: - Checks

    func checkSize() throws(TFLiteError) {
        if builder.exceedsMaximumSize {
            throw TFLiteError(.tooComplex,
                              "the model needs more than \(FlatBufferBuilder.maximumSize) bytes, the FlatBuffers limit (2 GiB); external buffers are not supported")
        }
    }

    /// Everything `validate()` leaves open that the file format cannot hold: int32 dimensions,
    /// indices and option values, signature indices, and the 2 GiB limit.
    func checkRepresentable() throws(TFLiteError) {
        let maximum = Int(Int32.max)
        let total = graph.tensors.reduce(0) { $0 + ($1.data?.byteCount ?? 0) } + graph.metadata.reduce(0) { $0 + $1.bytes.count }
        guard total <= FlatBufferBuilder.maximumSize else {
            throw TFLiteError(.tooComplex,
                              "the constant data and metadata take \(total) bytes, more than a flatbuffer can hold (2 GiB); external buffers are not supported")
        }
        guard graph.tensors.count <= maximum else {
            throw TFLiteError(.tooComplex, "\(graph.tensors.count) tensors do not fit int32 tensor indices")
        }
        for (i, t) in graph.tensors.enumerated() {
            if let d = (t.shape + (t.shapeSignature ?? [])).first(where: { $0 > maximum || $0 < -1 }) {
                throw TFLiteError(.invalidShape,
                                  "\(graph.describeTensor(i)): dimension \(d) of shape \(t.shape) does not fit a TFLite int32 dimension")
            }
            if let q = t.quantization, q.quantizedDimension > maximum || q.quantizedDimension < 0 {
                throw TFLiteError(.invalidValue,
                                  "\(graph.describeTensor(i)): quantized dimension \(q.quantizedDimension) does not fit int32")
            }
        }
        for (j, op) in graph.operators.enumerated() {
            for value in op.options.integerFields where value < Int(Int32.min) || value > maximum {
                throw TFLiteError(.invalidValue,
                                  "\(graph.describeOperator(j)): option value \(value) does not fit int32")
            }
            if op.version > maximum {
                throw TFLiteError(.invalidValue, "\(graph.describeOperator(j)): version \(op.version) does not fit int32")
            }
        }
        for s in graph.signatures {
            for (role, maps) in [("input", s.inputs), ("output", s.outputs)] {
                for m in maps where !graph.tensors.indices.contains(m.tensor) {
                    throw TFLiteError(.invalidValue,
                                      "signature '\(s.key)': \(role) '\(m.name)' refers to tensor \(m.tensor), but the graph has \(graph.tensors.count) tensors")
                }
            }
        }
    }

    // MARK: - Options-driven content

    func operatorVersions() -> [Int] {
        let converter = TFLiteVersions.converterVersions(of: graph)
        return graph.operators.enumerated().map { j, op in
            switch options.operatorVersions {
            case .asStored: op.version > 0 ? op.version : converter[j]
            case .atLeastConverter: max(op.version, converter[j])
            case .converter: converter[j]
            }
        }
    }

    static let minRuntimeVersionName = "min_runtime_version"

    func metadataToWrite(versions: [Int]) -> [Graph.Metadata] {
        var metadata = graph.metadata
        switch options.minRuntimeVersion {
        case .asStored:
            break
        case .omitted:
            metadata.removeAll { $0.name == Self.minRuntimeVersionName }
        case .computed:
            // runtime_version.cc: a 16-byte buffer, NUL-padded; a string of 16 bytes or more is skipped.
            guard let runtime = TFLiteVersions.minimumRuntime(of: graph, versions: versions),
                  runtime.utf8.count < 16 else { break }
            let bytes = Array(runtime.utf8) + [UInt8](repeating: 0, count: 16 - runtime.utf8.count)
            if let k = metadata.firstIndex(where: { $0.name == Self.minRuntimeVersionName }) {
                metadata[k].bytes = bytes
            } else {
                metadata.append(Graph.Metadata(name: Self.minRuntimeVersionName, bytes: bytes))
            }
        }
        return metadata
    }

    func signaturesToWrite() -> [Graph.Signature] {
        if !graph.signatures.isEmpty || !options.addServingDefaultSignature { return graph.signatures }
        return [Graph.Signature(key: "serving_default",
                                inputs: graph.inputs.enumerated().map { ("input_\($0.offset)", $0.element) },
                                outputs: graph.outputs.enumerated().map { ("output_\($0.offset)", $0.element) })]
    }

    // MARK: - Tables

    /// One `OperatorCode` per (builtin code, version), in order of first use, and each operator's index.
    func operatorCodes(versions: [Int]) -> (codes: [(code: Int32, version: Int)], indices: [Int]) {
        var codes: [(code: Int32, version: Int)] = []
        var indices: [Int] = []
        for (j, op) in graph.operators.enumerated() {
            let key = (code: op.kind.builtinCode, version: versions[j])
            if let k = codes.firstIndex(where: { $0 == key }) {
                indices.append(k)
            } else {
                indices.append(codes.count)
                codes.append(key)
            }
        }
        return (codes, indices)
    }

    mutating func writeOperatorCodes(_ codes: [(code: Int32, version: Int)]) -> FlatBufferBuilder.Offset {
        var tables: [FlatBufferBuilder.Offset] = []
        for c in codes {
            builder.startTable()
            builder.add(Schema.OperatorCode.builtinCode, c.code, default: nil)
            // OperatorCode.version defaults to 1; written always, like both code fields.
            builder.add(Schema.OperatorCode.version, Int32(c.version), default: nil)
            builder.add(Schema.OperatorCode.deprecatedBuiltinCode, Int8(min(c.code, Schema.BuiltinCode.placeholderForGreaterOpCodes)),
                        default: nil)
            tables.append(builder.endTable())
        }
        return builder.createVector(offsets: tables)
    }

    mutating func writeSubgraph(bufferOfTensor: [Int], opcodeIndices: [Int]) throws(TFLiteError) -> FlatBufferBuilder.Offset {
        var tensors: [FlatBufferBuilder.Offset] = []
        tensors.reserveCapacity(graph.tensors.count)
        for (i, t) in graph.tensors.enumerated() {
            tensors.append(writeTensor(t, buffer: bufferOfTensor[i]))
        }
        let tensorVector = builder.createVector(offsets: tensors)
        let inputs = builder.createVector(graph.inputs.map { Int32($0) })
        let outputs = builder.createVector(graph.outputs.map { Int32($0) })

        var operators: [FlatBufferBuilder.Offset] = []
        for (j, op) in graph.operators.enumerated() {
            operators.append(writeOperator(op, opcodeIndex: opcodeIndices[j]))
        }
        let operatorVector = builder.createVector(offsets: operators)
        let name = graph.name.map { builder.createString($0) }
        try checkSize()

        builder.startTable()
        builder.add(Schema.SubGraph.tensors, tensorVector)
        builder.add(Schema.SubGraph.inputs, inputs)
        builder.add(Schema.SubGraph.outputs, outputs)
        builder.add(Schema.SubGraph.operators, operatorVector)
        builder.add(Schema.SubGraph.name, name)
        return builder.endTable()
    }

    mutating func writeTensor(_ t: GraphTensor, buffer: Int) -> FlatBufferBuilder.Offset {
        let name = builder.createString(t.name)
        let shape = builder.createVector(t.shape.map { Int32($0) })
        let signature = t.shapeSignature.map { builder.createVector($0.map { Int32($0) }) }
        let quantization = t.quantization.map { writeQuantization($0) }

        builder.startTable()
        builder.add(Schema.Tensor.shape, shape)
        builder.add(Schema.Tensor.buffer, UInt32(buffer), default: 0)
        builder.add(Schema.Tensor.name, name)
        builder.add(Schema.Tensor.quantization, quantization)
        builder.add(Schema.Tensor.shapeSignature, signature)
        builder.add(Schema.Tensor.type, Schema.TensorType.code(t.elementType), default: Schema.TensorType.float32)
        builder.add(Schema.Tensor.isVariable, t.isVariable, default: false)
        builder.add(Schema.Tensor.hasRank, true, default: nil)
        return builder.endTable()
    }

    mutating func writeQuantization(_ q: GraphTensor.Quantization) -> FlatBufferBuilder.Offset {
        let min = q.min.isEmpty ? nil : builder.createVector(q.min)
        let max = q.max.isEmpty ? nil : builder.createVector(q.max)
        let scale = builder.createVector(q.scales)
        let zeroPoint = builder.createVector(q.zeroPoints, alignment: 8)
        builder.startTable()
        builder.add(Schema.QuantizationParameters.min, min)
        builder.add(Schema.QuantizationParameters.max, max)
        builder.add(Schema.QuantizationParameters.scale, scale)
        builder.add(Schema.QuantizationParameters.zeroPoint, zeroPoint)
        builder.add(Schema.QuantizationParameters.quantizedDimension, Int32(q.quantizedDimension), default: 0)
        return builder.endTable()
    }

    mutating func writeOperator(_ op: GraphOperator, opcodeIndex: Int) -> FlatBufferBuilder.Offset {
        let inputs = builder.createVector(op.inputs.map { Int32($0) })
        let outputs = builder.createVector(op.outputs.map { Int32($0) })
        let (optionsType, optionsTable) = writeOptions(op.options)
        builder.startTable()
        builder.add(Schema.Operator.opcodeIndex, UInt32(opcodeIndex), default: 0)
        builder.add(Schema.Operator.inputs, inputs)
        builder.add(Schema.Operator.outputs, outputs)
        builder.add(Schema.Operator.builtinOptions, optionsTable)
        builder.add(Schema.Operator.builtinOptionsType, optionsType, default: Schema.BuiltinOptionsType.none)
        return builder.endTable()
    }

    mutating func writeSignature(_ s: Graph.Signature) -> FlatBufferBuilder.Offset {
        func maps(_ list: [(name: String, tensor: Int)]) -> FlatBufferBuilder.Offset {
            var tables: [FlatBufferBuilder.Offset] = []
            for m in list {
                let name = builder.createString(m.name)
                builder.startTable()
                builder.add(Schema.TensorMap.name, name)
                builder.add(Schema.TensorMap.tensorIndex, UInt32(m.tensor), default: 0)
                tables.append(builder.endTable())
            }
            return builder.createVector(offsets: tables)
        }
        let inputs = maps(s.inputs)
        let outputs = maps(s.outputs)
        let key = builder.createString(s.key)
        builder.startTable()
        builder.add(Schema.SignatureDef.inputs, inputs)
        builder.add(Schema.SignatureDef.outputs, outputs)
        builder.add(Schema.SignatureDef.signatureKey, key)
        builder.add(Schema.SignatureDef.subgraphIndex, UInt32(0), default: 0)
        return builder.endTable()
    }
}

extension GraphOperator.Kind {
    /// The TFLite `BuiltinOperator` code.
    var builtinCode: Int32 {
        switch self {
        case .conv2D: Schema.BuiltinCode.conv2D
        case .depthwiseConv2D: Schema.BuiltinCode.depthwiseConv2D
        case .fullyConnected: Schema.BuiltinCode.fullyConnected
        case .maxPool2D: Schema.BuiltinCode.maxPool2D
        case .averagePool2D: Schema.BuiltinCode.averagePool2D
        case .mean: Schema.BuiltinCode.mean
        case .add: Schema.BuiltinCode.add
        case .reshape: Schema.BuiltinCode.reshape
        case .softmax: Schema.BuiltinCode.softmax
        case .quantize: Schema.BuiltinCode.quantize
        case .dequantize: Schema.BuiltinCode.dequantize
        }
    }
}
