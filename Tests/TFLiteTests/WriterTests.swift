import Foundation
import Runtime
import TensorCore
import Testing
@testable import TFLite

/// The TFLite writer (`TFLiteFile.encode` / `write`): golden and hand-made round trips, determinism,
/// sizes against the TensorFlow-made files, the binary layout rules LiteRT's verifier enforces, and
/// the reader's robustness on mutated written files.
@Suite("TFLite writer")
struct WriterTests {
    // MARK: - Golden models

    @Test("golden: read → write → read gives an equal graph, deterministically", arguments: Fixtures.goldenModels)
    func goldenRoundTrip(model: String) throws {
        let original = try Fixtures.goldenBytes(model)
        let graph = try TFLiteFile.read(bytes: original)
        let written = try TFLiteFile.encode(graph)
        let reread = try TFLiteFile.read(bytes: written)
        #expect(reread.tensors == graph.tensors)
        #expect(reread.operators == graph.operators)
        #expect(reread.metadata == graph.metadata)
        #expect(reread.signatures == graph.signatures)
        #expect(reread == graph)
        // Deterministic, and a fixed point: writing what was read back gives the same bytes.
        #expect(try TFLiteFile.encode(graph) == written)
        #expect(try TFLiteFile.encode(reread) == written)
    }

    /// Written sizes against the converter's files (all within 1 %). Ours are a little smaller: the
    /// converter gives every non-constant tensor an empty buffer of its own and an empty
    /// QuantizationParameters table, where QuantKit uses buffer 0 and writes no table.
    @Test("golden: written size within 1% of the TensorFlow-made file", arguments: Fixtures.goldenModels)
    func goldenSize(model: String) throws {
        let original = try Fixtures.goldenBytes(model)
        let written = try TFLiteFile.encode(try TFLiteFile.read(bytes: original))
        let ratio = Double(written.count) / Double(original.count)
        print("golden \(model): original \(original.count) bytes, written \(written.count) bytes (\(String(format: "%+.3f", (ratio - 1) * 100)) %)")
        #expect(abs(ratio - 1) < 0.01, "\(model): \(written.count) vs \(original.count) bytes")
    }

    @Test("golden: converter-like options reproduce the converter's versions and min_runtime_version",
          arguments: Fixtures.goldenModels)
    func goldenConverterLike(model: String) throws {
        let graph = try TFLiteFile.read(bytes: Fixtures.goldenBytes(model))
        #expect(TFLiteVersions.converterVersions(of: graph) == graph.operators.map(\.version))
        let stored = try #require(graph.metadata.first { $0.name == "min_runtime_version" })
        #expect(TFLiteVersions.minimumRuntime(of: graph) == stored.string)
        // Every golden model already has versions, min_runtime_version and serving_default: nothing changes.
        let written = try TFLiteFile.encode(graph, options: .converterLike)
        #expect(try TFLiteFile.read(bytes: written) == graph)
        // Recomputing every version from scratch gives the same file too.
        var unknown = graph
        for j in unknown.operators.indices { unknown.operators[j].version = 0 }
        #expect(try TFLiteFile.encode(unknown) == TFLiteFile.encode(graph))
        #expect(try TFLiteFile.encode(graph, options: .init(operatorVersions: .converter)) == TFLiteFile.encode(graph))
    }

    /// With `QUANTKIT_EXPORT_DIR` set, writes every golden model as QuantKit re-encodes it
    /// (`<model>.tflite`, default options) and the hand-made graphs (`<name>.tflite`, converter-like
    /// options) there, for `Tests/Interop/litert_run.py`. Does nothing otherwise.
    @Test func exportForInterop() throws {
        guard let path = ProcessInfo.processInfo.environment["QUANTKIT_EXPORT_DIR"], !path.isEmpty else { return }
        let directory = URL(fileURLWithPath: path, isDirectory: true)
        for model in Fixtures.goldenModels {
            let graph = try TFLiteFile.read(bytes: Fixtures.goldenBytes(model))
            try TFLiteFile.write(graph, to: directory.appendingPathComponent("\(model).tflite"))
        }
        for (name, graph) in TestGraphs.all {
            try TFLiteFile.write(graph, to: directory.appendingPathComponent("\(name).tflite"), options: .converterLike)
        }
    }

    // MARK: - Hand-made graphs

    @Test("hand-made graphs round-trip through the writer", arguments: TestGraphs.all.map(\.0))
    func handMadeRoundTrip(name: String) throws {
        let graph = try #require(TestGraphs.all.first { $0.0 == name }?.1)
        let written = try TFLiteFile.encode(graph)
        #expect(try TFLiteFile.read(bytes: written) == graph)
        #expect(try TFLiteFile.encode(graph) == written)
        try checkLayout(written, graph: graph)
    }

    @Test func converterLikeAddsVersionsRuntimeAndSignature() throws {
        var graph = TestGraphs.int8CNN()
        for j in graph.operators.indices { graph.operators[j].version = 1 }
        let read = try TFLiteFile.read(bytes: TFLiteFile.encode(graph, options: .converterLike))
        #expect(read.operators.map(\.version) == [1, 3, 2, 1, 4, 2, 2])
        #expect(read.metadata == [.init(name: "min_runtime_version", bytes: Array("1.14.0".utf8) + [UInt8](repeating: 0, count: 10))])
        #expect(read.signatures == [.init(key: "serving_default", inputs: [("input_0", 0)], outputs: [("output_0", 12)])])

        // A stored min_runtime_version keeps its place and gets the computed value.
        let float = TestGraphs.floatCNN()
        let f = try TFLiteFile.read(bytes: TFLiteFile.encode(float, options: .converterLike))
        #expect(f.metadata.map(\.name) == ["min_runtime_version"])
        #expect(f.metadata[0].string == "1.5.0" && f.metadata[0].bytes.count == 16)
        let omitted = try TFLiteFile.read(bytes: TFLiteFile.encode(float, options: .init(minRuntimeVersion: .omitted)))
        #expect(omitted.metadata.isEmpty)
        // Existing signatures are never replaced.
        var signed = float
        signed.signatures = [.init(key: "mine", inputs: [("x", 0)], outputs: [("y", 10)])]
        #expect(try TFLiteFile.read(bytes: TFLiteFile.encode(signed, options: .converterLike)).signatures == signed.signatures)
    }

    @Test func mixedOpsVersions() throws {
        let graph = TestGraphs.mixedOps()
        let versions = graph.operators.map { TFLiteVersions.converterVersion(of: $0, in: graph) }
        // DW float 1, AVG float 1, ADD float 1, MEAN float 1, DEQUANTIZE fp16 3, hybrid per-channel FC 12,
        // and an FC whose absent bias is written as -1: three operands, so version 1 (not 6).
        #expect(versions == [1, 1, 1, 1, 3, 12, 1])
        // The converter shares one version per kind: both FULLY_CONNECTEDs get 12.
        #expect(TFLiteVersions.converterVersions(of: graph) == [1, 1, 1, 1, 3, 12, 12])
        let read = try TFLiteFile.read(bytes: TFLiteFile.encode(graph, options: .converterLike))
        #expect(read.operators.map(\.version) == [1, 1, 1, 1, 3, 12, 12])
        // As stored: one OperatorCode per (code, version), so the two FCs keep 12 and 6.
        #expect(try TFLiteFile.read(bytes: TFLiteFile.encode(graph)).operators.map(\.version) == [1, 1, 1, 1, 3, 12, 6])
        #expect(read.metadata.first { $0.name == "min_runtime_version" }?.string == "2.17.0")
    }

    // MARK: - Binary layout

    @Test("layout of written golden models", arguments: Fixtures.goldenModels)
    func goldenLayout(model: String) throws {
        let graph = try TFLiteFile.read(bytes: Fixtures.goldenBytes(model))
        try checkLayout(try TFLiteFile.encode(graph), graph: graph)
    }

    /// Checks what LiteRT's verifier and interpreter builder insist on (spec §6.2, §9 item 13).
    func checkLayout(_ bytes: [UInt8], graph: Graph, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(bytes.count % 16 == 0, "length \(bytes.count)", sourceLocation: sourceLocation)
        #expect(Array(bytes[4..<8]) == Array("TFL3".utf8), sourceLocation: sourceLocation)
        let reader = FlatBufferReader(bytes: bytes)
        let model = try reader.root()
        #expect(try model.scalar(Schema.Model.version, default: UInt32(0)) == 3, sourceLocation: sourceLocation)
        #expect(model.has(Schema.Model.version), "Model.version written explicitly", sourceLocation: sourceLocation)

        let buffers = try #require(try model.vector(Schema.Model.buffers, elementSize: 4))
        let sentinel = try buffers.table(at: 0)
        #expect(!sentinel.has(Schema.Buffer.data), "buffers[0] must be empty", sourceLocation: sourceLocation)
        var dataBuffers = 0
        for k in 0..<buffers.count {
            guard let data = try buffers.table(at: k).vector(Schema.Buffer.data, elementSize: 1) else { continue }
            dataBuffers += 1
            #expect(data.start % 16 == 0, "buffer \(k) data at \(data.start)", sourceLocation: sourceLocation)
        }
        let constants = graph.tensors.filter { $0.data.map { !$0.bytes.isEmpty } ?? false }.count
        #expect(dataBuffers == constants + graph.metadata.filter { !$0.bytes.isEmpty }.count, sourceLocation: sourceLocation)

        let codes = try #require(try model.vector(Schema.Model.operatorCodes, elementSize: 4))
        for k in 0..<codes.count {
            let c = try codes.table(at: k)
            let code = try c.scalar(Schema.OperatorCode.builtinCode, default: Int32(-1))
            #expect(c.has(Schema.OperatorCode.builtinCode) && c.has(Schema.OperatorCode.deprecatedBuiltinCode)
                    && c.has(Schema.OperatorCode.version), sourceLocation: sourceLocation)
            #expect(try c.scalar(Schema.OperatorCode.deprecatedBuiltinCode, default: Int8(-1)) == Int8(min(code, 127)),
                    sourceLocation: sourceLocation)
        }

        let subgraph = try #require(try model.vector(Schema.Model.subgraphs, elementSize: 4)).table(at: 0)
        let tensors = try #require(try subgraph.vector(Schema.SubGraph.tensors, elementSize: 4))
        #expect(tensors.count == graph.tensors.count, sourceLocation: sourceLocation)
        for i in 0..<tensors.count {
            let t = try tensors.table(at: i)
            let buffer = try t.scalar(Schema.Tensor.buffer, default: UInt32(0))
            if graph.tensors[i].data == nil {
                #expect(buffer == 0, "non-constant tensor \(i) uses buffer 0", sourceLocation: sourceLocation)
            } else {
                #expect(buffer > 0, sourceLocation: sourceLocation)
            }
            if let q = try t.table(Schema.Tensor.quantization),
               let zp = try q.vector(Schema.QuantizationParameters.zeroPoint, elementSize: 8) {
                #expect(zp.start % 8 == 0, "tensor \(i) zero points at \(zp.start)", sourceLocation: sourceLocation)
            }
        }
        let operators = try #require(try subgraph.vector(Schema.SubGraph.operators, elementSize: 4))
        for j in 0..<operators.count {
            let op = try operators.table(at: j)
            let type = try op.scalar(Schema.Operator.builtinOptionsType, default: UInt8(0))
            #expect((type == 0) == !op.has(Schema.Operator.builtinOptions), "union type and value together", sourceLocation: sourceLocation)
            if type == Schema.BuiltinOptionsType.softmax {
                #expect(try #require(try op.table(Schema.Operator.builtinOptions)).has(Schema.SoftmaxOptions.beta),
                        "SoftmaxOptions.beta written", sourceLocation: sourceLocation)
            }
            if [Schema.BuiltinOptionsType.conv2D, Schema.BuiltinOptionsType.depthwiseConv2D, Schema.BuiltinOptionsType.pool2D].contains(type) {
                let o = try #require(try op.table(Schema.Operator.builtinOptions))
                for field in [0, 1, 2] {
                    #expect(o.has(field), "padding and strides written", sourceLocation: sourceLocation)
                }
            }
        }
    }

    // MARK: - Errors

    @Test func invalidGraphIsRejectedNamingTheOperator() {
        var graph = TestGraphs.floatCNN()
        graph.tensors[3].shape = [1, 7, 8, 4]  // conv output that does not follow from SAME padding
        do {
            _ = try TFLiteFile.encode(graph)
            Issue.record("an invalid graph was written")
        } catch {
            #expect(error.kind == .invalidGraph)
            #expect(error.graphError?.operatorIndex == 0)
            #expect(error.message.contains("operator 0 (CONV_2D)"))
        }
    }

    @Test func unrepresentableValuesAreRejected() {
        var graph = TestGraphs.floatCNN()
        graph.signatures = [.init(key: "bad", inputs: [("x", 99)], outputs: [])]
        #expect {
            try TFLiteFile.encode(graph)
        } throws: { error in
            let e = error as? TFLiteError
            return e?.kind == .invalidValue && e?.message.contains("signature 'bad'") == true
        }
        var strides = TestGraphs.floatCNN()
        strides.operators[1].options = .maxPool2D(.init(padding: .valid, strideWidth: 1 << 40, strideHeight: 2,
                                                        filterWidth: 2, filterHeight: 2))
        #expect(throws: TFLiteError.self) { try TFLiteFile.encode(strides) }
    }

    @Test func writesAtomicallyToAFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantkit-writer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("nested/model.tflite")
        let graph = TestGraphs.int8CNN()
        try TFLiteFile.write(graph, to: url)
        #expect(try TFLiteFile.read(contentsOf: url) == graph)
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["model.tflite"])
        // An invalid graph leaves the existing file alone.
        var bad = graph
        bad.inputs = [999]
        #expect(throws: TFLiteError.self) { try TFLiteFile.write(bad, to: url) }
        #expect(try TFLiteFile.read(contentsOf: url) == graph)
        // A path under a regular file cannot be written: an error, not a crash.
        #expect(throws: (any Error).self) { try TFLiteFile.write(graph, to: url.appendingPathComponent("x.tflite")) }
    }

    // MARK: - Hostile input on written files

    /// Reads `bytes`: an error or a valid graph, never a trap.
    func attempt(_ bytes: [UInt8]) {
        do {
            let g = try TFLiteFile.read(bytes: bytes)
            do { try g.validate() } catch { Issue.record("accepted an invalid graph: \(error)") }
        } catch {
            if error.message.isEmpty { Issue.record("a \(error.kind) error without a message") }
        }
    }

    @Test func everyByteOfAWrittenModelFlipped() throws {
        let bytes = try TFLiteFile.encode(TestGraphs.mixedOps(), options: .converterLike)
        for i in bytes.indices {
            var mutated = bytes
            mutated[i] ^= 0xFF
            attempt(mutated)
        }
        for n in stride(from: 0, to: bytes.count, by: 7) { attempt(Array(bytes.prefix(n))) }
    }

    @Test func seededMutationsOfWrittenModels() throws {
        var rng = SplitMix64(seed: 0xF00D)
        for (_, graph) in TestGraphs.all {
            let bytes = try TFLiteFile.encode(graph, options: .converterLike)
            for _ in 0..<(Fixtures.longTests ? 20_000 : 500) {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                attempt(mutated)
            }
        }
    }

    @Test func mutationsOfAWrittenGoldenModel() throws {
        let bytes = try TFLiteFile.encode(TFLiteFile.read(bytes: Fixtures.goldenBytes("qat_int8")))
        // The written tables sit in front of the data: the first ~20 KiB hold every structure.
        let structure = try #require(try firstDataOffset(bytes))
        var rng = SplitMix64(seed: 0xBEEF)
        for _ in 0..<(Fixtures.longTests ? 5000 : 300) {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                mutated[Int.random(in: 0..<structure, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            attempt(mutated)
        }
        for i in stride(from: 0, to: structure, by: Fixtures.longTests ? 1 : 13) {
            var mutated = bytes
            mutated[i] ^= 0xFF
            attempt(mutated)
        }
    }

    /// The offset of the first constant data byte (everything before it is tables, vectors, strings).
    func firstDataOffset(_ bytes: [UInt8]) throws -> Int? {
        let model = try FlatBufferReader(bytes: bytes).root()
        let buffers = try #require(try model.vector(Schema.Model.buffers, elementSize: 4))
        var first: Int?
        for k in 0..<buffers.count {
            if let data = try buffers.table(at: k).vector(Schema.Buffer.data, elementSize: 1), data.count > 0 {
                first = min(first ?? data.start, data.start)
            }
        }
        return first
    }
}
