import Runtime
import TensorCore
import Testing
@testable import TFLite

@Suite("Hand-made models")
struct RoundTripTests {
    @Test("encode with the writer, read back, get the same graph", arguments: TestGraphs.all.map(\.0))
    func roundTrip(name: String) throws {
        let graph = try #require(TestGraphs.all.first { $0.0 == name }?.1)
        try graph.validate()
        let bytes = try TFLiteFile.encode(graph)
        let read = try TFLiteFile.read(bytes: bytes)
        #expect(read.tensors == graph.tensors)
        #expect(read.operators == graph.operators)
        #expect(read == graph)
    }

    @Test func float16Widening() {
        #expect(ConstantData.float(fromHalfBits: 0x3C00) == 1)
        #expect(ConstantData.float(fromHalfBits: 0xC000) == -2)
        #expect(ConstantData.float(fromHalfBits: 0x0001) == 0x1p-24)
        #expect(ConstantData.float(fromHalfBits: 0x7BFF) == 65504)
        #expect(ConstantData.float(fromHalfBits: 0x7C00) == .infinity)
        #expect(ConstantData.float(fromHalfBits: 0x7E00).isNaN)
        #expect(ConstantData.float(fromHalfBits: 0x8000).sign == .minus)
        for bits in UInt16.min...UInt16.max {
            let wide = ConstantData.float(fromHalfBits: bits)
            let reference = Float(Float16(bitPattern: bits))
            #expect(wide.bitPattern == reference.bitPattern || (wide.isNaN && reference.isNaN))
        }
    }

    @Test func externalBufferOutsideTheFlatbuffer() throws {
        // A Buffer with offset/size instead of data: the bytes follow the flatbuffer in the file.
        var graph = TestGraphs.floatCNN()
        let weights = graph.tensors[1].data!.bytes
        graph.tensors[1].data = nil
        guard case .table(var model) = TestModelEncoder.tree(graph),
              case .tables(var buffers) = model[4] else { Issue.record("tree shape"); return }
        // Tensor 1 must point at a new buffer whose data lives after the flatbuffer.
        guard case .tables(var subgraphs) = model[2], case .table(var sg) = subgraphs[0],
              case .tables(var tensors) = sg[0], case .table(var t1) = tensors[1] else { Issue.record("tree"); return }
        t1[2] = .u32(UInt32(buffers.count))
        tensors[1] = .table(t1); sg[0] = .tables(tensors); subgraphs[0] = .table(sg); model[2] = .tables(subgraphs)
        let placeholderOffset: UInt64 = 0xDEAD_BEEF
        buffers.append(.table([1: .u64(placeholderOffset), 2: .u64(UInt64(weights.count))]))
        model[4] = .tables(buffers)
        var bytes = FBEncoder.encode(.table(model))
        let offset = UInt64(bytes.count)
        // Patch the placeholder with the real offset (it occurs once).
        let needle = le(placeholderOffset)
        let at = try #require((0...(bytes.count - 8)).first { Array(bytes[$0..<($0 + 8)]) == needle })
        for (k, b) in le(offset).enumerated() { bytes[at + k] = b }
        let read = try TFLiteFile.read(bytes: bytes + weights)
        #expect(read.tensors[1].data?.bytes == weights)
        // Truncating the appended data is an error, not a crash.
        #expect(throws: TFLiteError.self) { try TFLiteFile.read(bytes: bytes + weights.dropLast()) }
    }
}
