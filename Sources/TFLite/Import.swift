import Runtime
import TensorCore

/// Decodes a TFLite `Model` flatbuffer into a ``Graph`` (subgraph 0), checking as it goes.
struct ModelImporter {
    let reader: FlatBufferReader
    /// Constant bytes by buffer index, so that tensors sharing a buffer share storage.
    var bufferCache: [Int: [UInt8]] = [:]
    var buffers: FlatBufferVector?
    var operatorCodes: [(code: Int32, version: Int, custom: String?)] = []

    init(bytes: [UInt8]) {
        self.reader = FlatBufferReader(bytes: bytes)
    }

    mutating func importGraph() throws(TFLiteError) -> Graph {
        let bytes = reader.bytes
        guard bytes.count >= 8 else {
            throw TFLiteError(.outOfBounds, "the file has \(bytes.count) bytes; a TFLite flatbuffer has at least 8 (root offset and \"TFL3\")", offset: 0)
        }
        guard reader.fileIdentifier == Schema.fileIdentifier else {
            throw TFLiteError(.wrongIdentifier,
                              "bytes 4..<8 are \(Array(bytes[4..<8])); a TFLite flatbuffer has the identifier \"TFL3\"",
                              offset: 4)
        }
        let model = try within("model") { () throws(TFLiteError) in try reader.root() }
        let version = try within("model") { () throws(TFLiteError) in
            try model.scalar(Schema.Model.version, default: UInt32(0))
        }
        guard version == Schema.version else {
            throw TFLiteError(.unsupportedVersion, "the model has schema version \(version); only version 3 is supported",
                              offset: model.position)
        }
        buffers = try within("model buffers") { () throws(TFLiteError) in
            try model.vector(Schema.Model.buffers, elementSize: 4)
        }
        operatorCodes = try within("model operator codes") { () throws(TFLiteError) in try readOperatorCodes(model) }

        guard let subgraphs = try within("model", { () throws(TFLiteError) in
            try model.vector(Schema.Model.subgraphs, elementSize: 4)
        }), subgraphs.count > 0 else {
            throw TFLiteError(.missingField, "the model has no subgraphs", offset: model.position)
        }
        let subgraph = try within("subgraph 0") { () throws(TFLiteError) in try subgraphs.table(at: 0) }

        var graph = try within("subgraph 0") { () throws(TFLiteError) in try readSubgraph(subgraph) }
        graph.description = try within("model description") { () throws(TFLiteError) in
            try model.string(Schema.Model.description)
        }
        graph.metadata = try within("model metadata") { () throws(TFLiteError) in try readMetadata(model) }
        graph.signatures = try within("model signature defs") { () throws(TFLiteError) in try readSignatures(model) }

        do {
            try graph.validate()
        } catch {
            throw TFLiteError(.invalidGraph, error.message, graphError: error)
        }
        return graph
    }

    // MARK: - Model-level tables

    func readOperatorCodes(_ model: FlatBufferTable) throws(TFLiteError) -> [(code: Int32, version: Int, custom: String?)] {
        guard let codes = try model.vector(Schema.Model.operatorCodes, elementSize: 4) else { return [] }
        var result: [(code: Int32, version: Int, custom: String?)] = []
        for k in 0..<codes.count {
            let entry = try within("operator code \(k)") { () throws(TFLiteError) -> (Int32, Int, String?) in
                let t = try codes.table(at: k)
                let deprecated = Int32(try t.scalar(Schema.OperatorCode.deprecatedBuiltinCode, default: Int8(0)))
                let builtin = try t.scalar(Schema.OperatorCode.builtinCode, default: Int32(0))
                let version = Int(try t.scalar(Schema.OperatorCode.version, default: Int32(1)))
                let custom = try t.string(Schema.OperatorCode.customCode)
                // schema_utils.cc GetBuiltinCode: the larger of the two fields.
                return (max(builtin, deprecated), version, custom)
            }
            result.append(entry)
        }
        return result
    }

    /// The bytes of buffer `index`: its `data` vector, or the `offset`/`size` range of the file for
    /// buffers stored after the flatbuffer; `nil` when empty.
    mutating func bufferBytes(_ index: Int) throws(TFLiteError) -> [UInt8]? {
        if let cached = bufferCache[index] { return cached.isEmpty ? nil : cached }
        guard let buffers, index >= 0, index < buffers.count else {
            throw TFLiteError(.invalidValue,
                              "refers to buffer \(index), but the model has \(buffers?.count ?? 0) buffers")
        }
        let bytes = try within("buffer \(index)") { () throws(TFLiteError) -> [UInt8] in
            let t = try buffers.table(at: index)
            if let data = try t.vector(Schema.Buffer.data, elementSize: 1), data.count > 0 {
                return try data.rawBytes()
            }
            let offset = try t.scalar(Schema.Buffer.offset, default: UInt64(0))
            let size = try t.scalar(Schema.Buffer.size, default: UInt64(0))
            // schema.fbs: "the offset is calculated relative to the beginning of the file and is only valid if > 1".
            guard offset > 1 else { return [] }
            let total = UInt64(reader.bytes.count)
            guard offset <= total, size <= total - offset else {
                throw TFLiteError(.outOfBounds,
                                  "external data at file offset \(offset) with size \(size) lies outside the \(total)-byte file",
                                  offset: t.position)
            }
            try reader.charge(bytes: Int(size), at: t.position)
            return Array(reader.bytes[Int(offset)..<Int(offset + size)])
        }
        bufferCache[index] = bytes
        return bytes.isEmpty ? nil : bytes
    }

    mutating func readMetadata(_ model: FlatBufferTable) throws(TFLiteError) -> [Graph.Metadata] {
        guard let entries = try model.vector(Schema.Model.metadata, elementSize: 4) else { return [] }
        var result: [Graph.Metadata] = []
        for k in 0..<entries.count {
            let t = try within("metadata \(k)") { () throws(TFLiteError) in try entries.table(at: k) }
            let name = try within("metadata \(k)") { () throws(TFLiteError) in try t.string(Schema.Metadata.name) ?? "" }
            let buffer = try within("metadata \(k) '\(name)'") { () throws(TFLiteError) in
                Int(try t.scalar(Schema.Metadata.buffer, default: UInt32(0)))
            }
            let bytes = try within("metadata \(k) '\(name)'") { () throws(TFLiteError) in try bufferBytes(buffer) }
            result.append(Graph.Metadata(name: name, bytes: bytes ?? []))
        }
        return result
    }

    func readSignatures(_ model: FlatBufferTable) throws(TFLiteError) -> [Graph.Signature] {
        guard let defs = try model.vector(Schema.Model.signatureDefs, elementSize: 4) else { return [] }
        var result: [Graph.Signature] = []
        for k in 0..<defs.count {
            let signature = try within("signature def \(k)") { () throws(TFLiteError) -> Graph.Signature? in
                let t = try defs.table(at: k)
                guard try t.scalar(Schema.SignatureDef.subgraphIndex, default: UInt32(0)) == 0 else { return nil }
                func maps(_ id: Int) throws(TFLiteError) -> [(name: String, tensor: Int)] {
                    guard let v = try t.vector(id, elementSize: 4) else { return [] }
                    var out: [(name: String, tensor: Int)] = []
                    for m in 0..<v.count {
                        let map = try v.table(at: m)
                        let name = try map.string(Schema.TensorMap.name) ?? ""
                        out.append((name, Int(try map.scalar(Schema.TensorMap.tensorIndex, default: UInt32(0)))))
                    }
                    return out
                }
                return Graph.Signature(key: try t.string(Schema.SignatureDef.signatureKey) ?? "",
                                       inputs: try maps(Schema.SignatureDef.inputs),
                                       outputs: try maps(Schema.SignatureDef.outputs))
            }
            if let signature { result.append(signature) }
        }
        return result
    }

    // MARK: - Subgraph

    mutating func readSubgraph(_ subgraph: FlatBufferTable) throws(TFLiteError) -> Graph {
        var tensors: [GraphTensor] = []
        if let vector = try subgraph.vector(Schema.SubGraph.tensors, elementSize: 4) {
            tensors.reserveCapacity(vector.count)
            for i in 0..<vector.count {
                let t = try within("tensor \(i)") { () throws(TFLiteError) in try vector.table(at: i) }
                tensors.append(try readTensor(t, index: i))
            }
        }
        let inputs = try within("subgraph inputs") { () throws(TFLiteError) in
            try (subgraph.scalars(Schema.SubGraph.inputs, as: Int32.self) ?? []).map(Int.init)
        }
        let outputs = try within("subgraph outputs") { () throws(TFLiteError) in
            try (subgraph.scalars(Schema.SubGraph.outputs, as: Int32.self) ?? []).map(Int.init)
        }
        var operators: [GraphOperator] = []
        if let vector = try subgraph.vector(Schema.SubGraph.operators, elementSize: 4) {
            operators.reserveCapacity(vector.count)
            for j in 0..<vector.count {
                let t = try within("operator \(j)") { () throws(TFLiteError) in try vector.table(at: j) }
                operators.append(try readOperator(t, index: j))
            }
        }
        let name = try within("subgraph name") { () throws(TFLiteError) in try subgraph.string(Schema.SubGraph.name) }
        return Graph(tensors: tensors, operators: operators, inputs: inputs, outputs: outputs, name: name)
    }

    mutating func readTensor(_ t: FlatBufferTable, index i: Int) throws(TFLiteError) -> GraphTensor {
        let name = try within("tensor \(i)") { () throws(TFLiteError) in try t.string(Schema.Tensor.name) ?? "" }
        let label = name.isEmpty ? "tensor \(i)" : "tensor \(i) '\(name)'"
        return try within(label) { () throws(TFLiteError) -> GraphTensor in
            let shape = try (t.scalars(Schema.Tensor.shape, as: Int32.self) ?? []).map(Int.init)
            if let d = shape.first(where: { $0 < 0 }) {
                throw TFLiteError(.invalidShape,
                                  "shape \(shape) has a negative dimension \(d); QuantKit needs static shapes", offset: t.position)
            }
            guard let count = Shape.elementCount(shape), count <= Graph.maxElementCount else {
                throw TFLiteError(.invalidShape, "shape \(shape) has more than \(Graph.maxElementCount) elements",
                                  offset: t.position)
            }
            let typeCode = try t.scalar(Schema.Tensor.type, default: Int8(0))
            guard let elementType = Schema.TensorType.elementType(typeCode) else {
                throw TFLiteError(.unsupportedTensorType,
                                  "element type \(Schema.TensorType.name(typeCode)) is not supported", offset: t.position)
            }
            if t.has(Schema.Tensor.sparsity) {
                throw TFLiteError(.unsupportedFeature, "sparse tensors are not supported", offset: t.position)
            }
            if try t.scalar(Schema.Tensor.externalBuffer, default: UInt32(0)) != 0 {
                throw TFLiteError(.unsupportedFeature, "external buffers (data in another file) are not supported",
                                  offset: t.position)
            }
            let bufferIndex = Int(try t.scalar(Schema.Tensor.buffer, default: UInt32(0)))
            var data: ConstantData?
            if bufferIndex != 0, let bytes = try bufferBytes(bufferIndex) {
                let needed = count * elementType.byteSize
                guard bytes.count == needed else {
                    throw TFLiteError(.bufferSizeMismatch,
                                      "buffer \(bufferIndex) holds \(bytes.count) bytes, but \(count) \(elementType) elements of shape \(shape) need \(needed)",
                                      offset: t.position)
                }
                data = ConstantData(bytes: bytes)
            }
            let quantization = try t.table(Schema.Tensor.quantization).flatMap { q throws(TFLiteError) in
                try readQuantization(q)
            }
            let signature = try t.scalars(Schema.Tensor.shapeSignature, as: Int32.self)?.map(Int.init)
            return GraphTensor(name: name, shape: shape, elementType: elementType, quantization: quantization,
                               data: data, shapeSignature: signature,
                               isVariable: try t.bool(Schema.Tensor.isVariable, default: false))
        }
    }

    func readQuantization(_ q: FlatBufferTable) throws(TFLiteError) -> GraphTensor.Quantization? {
        let detailsType = try q.scalar(Schema.QuantizationParameters.detailsType, default: UInt8(0))
        if detailsType != 0 {
            throw TFLiteError(.unsupportedFeature,
                              "custom or blockwise quantization (details type \(detailsType)) is not supported",
                              offset: q.position)
        }
        let scales = try q.floats(Schema.QuantizationParameters.scale) ?? []
        if scales.isEmpty { return nil }  // a table with no scales means "not quantized"
        let zeroPoints = try q.scalars(Schema.QuantizationParameters.zeroPoint, as: Int64.self) ?? []
        let dimension = Int(try q.scalar(Schema.QuantizationParameters.quantizedDimension, default: Int32(0)))
        return GraphTensor.Quantization(scales: scales, zeroPoints: zeroPoints, quantizedDimension: dimension,
                                        min: try q.floats(Schema.QuantizationParameters.min) ?? [],
                                        max: try q.floats(Schema.QuantizationParameters.max) ?? [])
    }
}
