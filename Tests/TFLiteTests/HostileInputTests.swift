import Foundation
import Runtime
import TensorCore
import Testing
@testable import TFLite

/// Corrupt, truncated and malicious files: the reader must throw a `TFLiteError` or return a
/// (validated) graph, and never trap or hang.
@Suite("Hostile input")
struct HostileInputTests {
    /// Reads `bytes`; returns the error kind, or nil when the file was accepted.
    @discardableResult
    func attempt(_ bytes: [UInt8]) -> TFLiteError.Kind? {
        do {
            let g = try TFLiteFile.read(bytes: bytes)
            // Whatever is accepted must be a valid graph.
            do { try g.validate() } catch { Issue.record("accepted an invalid graph: \(error)") }
            return nil
        } catch {
            if error.message.isEmpty { Issue.record("a \(error.kind) error without a message") }
            return error.kind
        }
    }

    func expectError(_ kind: TFLiteError.Kind, _ bytes: [UInt8], mentioning words: [String] = [],
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try TFLiteFile.read(bytes: bytes)
            Issue.record("expected a \(kind) error, but the file was accepted", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            for w in words {
                #expect(error.description.contains(w), "\(error) should mention \(w)", sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: - Truncation and mutation

    @Test func truncatedSmallModelAtEveryLength() {
        let bytes = TestModelEncoder.encode(TestGraphs.int8CNN())
        var accepted = 0
        for n in 0..<bytes.count where attempt(Array(bytes.prefix(n))) == nil { accepted += 1 }
        // Only the zero padding at the very end may go.
        #expect(accepted < 16)
    }

    @Test func truncatedGoldenModel() throws {
        let bytes = try Fixtures.goldenBytes("seed_int8")
        var lengths = Array(0..<1200)
        lengths += stride(from: 1200, to: bytes.count, by: bytes.count / 97)
        lengths += stride(from: bytes.count - 15_000, to: bytes.count, by: 37)
        for n in lengths {
            #expect(attempt(Array(bytes.prefix(n))) != nil, "truncated to \(n) bytes but accepted")
        }
    }

    /// Every byte inverted in the int8 model (by default), or every byte × three masks in every
    /// small model (`QUANTKIT_LONG_TESTS=1`).
    @Test("every byte of a small model flipped",
          arguments: Fixtures.longTests ? TestGraphs.all.map(\.0) : ["int8CNN"])
    func everyByteFlipped(name: String) throws {
        let bytes = TestModelEncoder.encode(try #require(TestGraphs.all.first { $0.0 == name }?.1))
        let masks: [UInt8] = Fixtures.longTests ? [0xFF, 0x80, 0x01] : [0xFF]
        for i in bytes.indices {
            for mask in masks {
                var mutated = bytes
                mutated[i] ^= mask
                attempt(mutated)
            }
        }
    }

    @Test func goldenHeaderRegionFlipped() throws {
        // seed_int8: the Model table, vtables and the first buffers sit in the first ~1 KiB;
        // subgraph, tensors and operators in the last ~15 KiB.
        let bytes = try Fixtures.goldenBytes("seed_int8")
        for i in 0..<1076 {
            var mutated = bytes
            mutated[i] ^= 0xFF
            attempt(mutated)
        }
        for i in stride(from: bytes.count - 14_500, to: bytes.count, by: Fixtures.longTests ? 1 : 61) {
            var mutated = bytes
            mutated[i] ^= 0xFF
            attempt(mutated)
        }
    }

    @Test func seededRandomMutationsOfAGoldenModel() throws {
        let bytes = try Fixtures.goldenBytes("qat_int8")
        var rng = SplitMix64(seed: 0x5EED)
        let structure = Array(0..<1200) + Array((bytes.count - 16_000)..<bytes.count)
        for _ in 0..<(Fixtures.longTests ? 5000 : 300) {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = structure.randomElement(using: &rng)!
                mutated[i] = UInt8.random(in: 0...255, using: &rng)
            }
            attempt(mutated)
        }
    }

    @Test func seededRandomMutationsOfSmallModels() {
        var rng = SplitMix64(seed: 42)
        for (_, graph) in TestGraphs.all {
            let bytes = TestModelEncoder.encode(graph)
            for _ in 0..<(Fixtures.longTests ? 20_000 : 600) {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                attempt(mutated)
            }
        }
    }

    @Test func randomGarbage() {
        var rng = SplitMix64(seed: 7)
        for length in [0, 1, 4, 7, 8, 9, 16, 64, 1000] {
            for _ in 0..<50 {
                var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if length >= 8 { bytes.replaceSubrange(4..<8, with: Array("TFL3".utf8)) }
                attempt(bytes)
            }
        }
    }

    // MARK: - Hand-made hostile structures

    func header(root: UInt32) -> [UInt8] { le(root) + Array("TFL3".utf8) }

    @Test func rootOffsetOutOfRange() {
        expectError(.outOfBounds, header(root: 0xFFFF_FFF0) + [UInt8](repeating: 0, count: 8), mentioning: ["byte 0"])
        expectError(.invalidOffset, header(root: 0) + [UInt8](repeating: 0, count: 8))
        expectError(.misaligned, header(root: 6) + [UInt8](repeating: 0, count: 16))
    }

    @Test func vtableOutsideTheBuffer() {
        // Root table at 8 whose soffset puts the vtable far before the buffer start.
        expectError(.outOfBounds, header(root: 8) + le(Int32(1000)) + [0, 0, 0, 0], mentioning: ["vtable"])
        // ... or after its end.
        expectError(.outOfBounds, header(root: 8) + le(Int32(-1000)) + [0, 0, 0, 0], mentioning: ["vtable"])
    }

    @Test func selfReferentialTable() {
        // soffset 0: the table is its own vtable, whose size then reads as 0.
        expectError(.invalidOffset, header(root: 8) + le(Int32(0)) + [0, 0, 0, 0])
        // A vtable claiming 0xFFFE bytes.
        expectError(.invalidOffset, header(root: 12) + le(UInt16(0xFFFE)) + le(UInt16(8)) + le(Int32(4)) + [0, 0, 0, 0])
    }

    @Test func wrongIdentifierAndVersion() {
        var bytes = TestModelEncoder.encode(TestGraphs.floatCNN())
        bytes.replaceSubrange(4..<8, with: Array("TFL2".utf8))
        expectError(.wrongIdentifier, bytes)
        guard case .table(var model) = TestModelEncoder.tree(TestGraphs.floatCNN()) else { return }
        model[0] = .u32(2)
        expectError(.unsupportedVersion, FBEncoder.encode(.table(model)), mentioning: ["version 2"])
        model[0] = nil
        expectError(.unsupportedVersion, FBEncoder.encode(.table(model)))
    }

    @Test func hugeVectorCount() {
        // Model.version = 3 and Model.operator_codes pointing at a vector whose count is 0xFFFFFFFF.
        let vtable = le(UInt16(8)) + le(UInt16(12)) + le(UInt16(4)) + le(UInt16(8))  // at 8
        let table = le(Int32(8)) + le(UInt32(3)) + le(UInt32(4))                     // at 16; field 1 at 24 → 28
        let bytes = header(root: 16) + vtable + table + le(UInt32.max) + [UInt8](repeating: 0, count: 8)
        expectError(.outOfBounds, bytes, mentioning: ["4294967295 elements"])
    }

    @Test func unterminatedString() {
        var graph = TestGraphs.floatCNN()
        graph.tensors[0].name = "INPUT_NAME_MARKER"
        var bytes = TestModelEncoder.encode(graph)
        let needle = Array("INPUT_NAME_MARKER".utf8)
        guard let at = (0...(bytes.count - needle.count)).first(where: { Array(bytes[$0..<($0 + needle.count)]) == needle })
        else { Issue.record("marker not found"); return }
        bytes[at + needle.count] = 0x41  // overwrite the NUL
        expectError(.invalidString, bytes)
    }

    @Test func sharedStructuresCannotAmplifyMemory() {
        // 20 000 tensors whose tables all share one 20 000-entry shape vector: 1.6 GB if decoded
        // naively, from a file of about 320 KB. Every uoffset points forward.
        let count = 20_000
        var f = FBEncoder()
        f.out = header(root: 0)
        f.align(2)
        let vt = f.out.count  // Tensor vtable: shape (id 0) at offset 4
        f.out += le(UInt16(6)) + le(UInt16(8)) + le(UInt16(4))
        f.align(4)
        // Model vtable + table.
        let modelVt = f.out.count
        f.out += le(UInt16(14)) + le(UInt16(16)) + le(UInt16(4)) + le(UInt16(0)) + le(UInt16(8)) + le(UInt16(0)) + le(UInt16(12))
        f.align(4)
        let modelTable = f.out.count
        f.patch(at: 0, UInt32(modelTable))
        f.out += le(Int32(modelTable - modelVt)) + le(UInt32(3)) + [0, 0, 0, 0] + [0, 0, 0, 0]
        // subgraphs vector with one SubGraph.
        let subgraphs = f.out.count
        f.patch(at: modelTable + 8, UInt32(subgraphs - (modelTable + 8)))
        f.out += le(UInt32(1)) + [0, 0, 0, 0]
        let sgVt = f.out.count
        f.out += le(UInt16(6)) + le(UInt16(8)) + le(UInt16(4)) + [0, 0]
        let sgTable = f.out.count
        f.patch(at: subgraphs + 4, UInt32(sgTable - (subgraphs + 4)))
        f.out += le(Int32(sgTable - sgVt)) + [0, 0, 0, 0]
        // buffers: empty vector.
        let buffers = f.out.count
        f.patch(at: modelTable + 12, UInt32(buffers - (modelTable + 12)))
        f.out += le(UInt32(0))
        // tensors vector.
        let tensors = f.out.count
        f.patch(at: sgTable + 4, UInt32(tensors - (sgTable + 4)))
        f.out += le(UInt32(count))
        let slots = f.out.count
        f.out += [UInt8](repeating: 0, count: 4 * count)
        var tables: [Int] = []
        for k in 0..<count {
            let table = f.out.count
            tables.append(table)
            f.patch(at: slots + 4 * k, UInt32(table - (slots + 4 * k)))
            f.out += le(Int32(table - vt)) + [0, 0, 0, 0]
        }
        let sharedShape = f.out.count
        f.out += le(UInt32(count)) + [UInt8](repeating: 0, count: 4 * count)
        for table in tables { f.patch(at: table + 4, UInt32(sharedShape - (table + 4))) }
        expectError(.tooComplex, f.out)
    }

    @Test func depthLimit() throws {
        // A chain of 100 tables, each holding the next in field 0.
        var chain = FB.table([:])
        for _ in 0..<100 { chain = .table([0: chain]) }
        let bytes = FBEncoder.encode(chain)
        let reader = FlatBufferReader(bytes: bytes, maxDepth: 64)
        var table: FlatBufferTable? = try reader.root()
        var depth = 0
        do {
            while let t = table {
                table = try t.table(0)
                depth += 1
            }
            Issue.record("walked \(depth) tables without hitting the depth limit")
        } catch {
            #expect(error.kind == .tooComplex)
            #expect(depth == 64)
        }
    }

    // MARK: - Semantic errors named precisely

    func tamper(_ graph: Graph, _ change: (inout [Int: FB]) -> Void) -> [UInt8] {
        guard case .table(var model) = TestModelEncoder.tree(graph) else { fatalError() }
        change(&model)
        return FBEncoder.encode(.table(model))
    }

    func editTensor(_ model: inout [Int: FB], _ index: Int, _ change: (inout [Int: FB]) -> Void) {
        guard case .tables(var subgraphs) = model[2], case .table(var sg) = subgraphs[0],
              case .tables(var tensors) = sg[0], case .table(var t) = tensors[index] else { fatalError() }
        change(&t)
        tensors[index] = .table(t); sg[0] = .tables(tensors); subgraphs[0] = .table(sg); model[2] = .tables(subgraphs)
    }

    @Test func bufferShorterThanTheTensorNeeds() {
        var graph = TestGraphs.floatCNN()
        graph.tensors[7].data = ConstantData(bytes: Array(graph.tensors[7].data!.bytes.dropLast(4)))
        expectError(.bufferSizeMismatch, TestModelEncoder.encode(graph), mentioning: ["tensor 7 'fc/w'", "2560"])
    }

    @Test func unsupportedOperator() {
        let bytes = tamper(TestGraphs.floatCNN()) { model in
            model[1] = .tables([.table([0: .i8(41), 3: .i32(41)])] + (1..<5).map { _ in .table([0: .i8(3), 3: .i32(3)]) })
        }
        expectError(.unsupportedOperator, bytes, mentioning: ["operator 0", "SUB"])
        let custom = tamper(TestGraphs.floatCNN()) { model in
            model[1] = .tables([.table([0: .i8(32), 1: .string("MyOp"), 3: .i32(32)])])
        }
        expectError(.unsupportedOperator, custom, mentioning: ["MyOp"])
        // A large builtin code in builtin_code with the placeholder in the deprecated field.
        let large = tamper(TestGraphs.floatCNN()) { model in
            model[1] = .tables([.table([0: .i8(127), 3: .i32(150)])])
        }
        expectError(.unsupportedOperator, large, mentioning: ["GELU"])
    }

    @Test func unsupportedTensorType() {
        let bytes = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 3) { $0[1] = .i8(5) }
        }
        expectError(.unsupportedTensorType, bytes, mentioning: ["tensor 3 'conv'", "STRING"])
    }

    @Test func absurdShapes() {
        let huge = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 3) { $0[0] = .ints([1 << 20, 1 << 20, 1 << 20, 4]) }
        }
        expectError(.invalidShape, huge, mentioning: ["tensor 3"])
        let negative = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 4) { $0[0] = .ints([1, -4, 4, 4]) }
        }
        expectError(.invalidShape, negative, mentioning: ["tensor 4 'pool'", "-4"])
        let overflow = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 4) { $0[0] = .ints([Int32.max, Int32.max, Int32.max, Int32.max]) }
        }
        expectError(.invalidShape, overflow)
    }

    @Test func bufferIndexOutOfRange() {
        let bytes = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 1) { $0[2] = .u32(999) }
        }
        expectError(.invalidValue, bytes, mentioning: ["tensor 1 'conv/w'", "buffer 999"])
    }

    @Test func graphValidationFailuresAreReported() {
        // Conv output shape that does not follow from the padding arithmetic.
        let bytes = tamper(TestGraphs.floatCNN()) { model in
            editTensor(&model, 3) { $0[0] = .ints([1, 7, 8, 4]) }
        }
        do {
            _ = try TFLiteFile.read(bytes: bytes)
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .invalidGraph)
            #expect(error.graphError?.kind == .shapeMismatch)
            #expect(error.graphError?.operatorIndex == 0)
            #expect(error.message.contains("operator 0 (CONV_2D)"))
        }
    }

    @Test func fileErrors() {
        do {
            _ = try TFLiteFile.read(contentsOf: URL(fileURLWithPath: "/nonexistent/model.tflite"))
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .fileUnreadable)
            #expect(error.message.contains("/nonexistent/model.tflite"))
        }
    }
}
