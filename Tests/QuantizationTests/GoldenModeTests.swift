import Foundation
import Quantization
import Runtime
import TFLite
import TensorCore
import Testing

/// QuantKit's quantizer against TensorFlow's converter on the golden seed CNN, mode by mode:
/// structure, parameters and constants, accuracy on the 1000 golden images, file size.
@Suite("Quantizer vs the TFLite converter on seed_float", .serialized)
struct GoldenModeTests {
    // MARK: dynamic range

    @Test func dynamicRangeMatchesConverter() throws {
        let result = try Quantizer(.dynamicRange).quantize(Seed.float.get())
        let golden = try Golden.model("seed_dynamic")
        let c = GraphComparison(result.graph, golden)
        print("dynamic range vs seed_dynamic:\n\(c)")
        #expect(c.structureDifferences.isEmpty)
        // Scales are absmax/127 in double, stored as float; values w/scale rounded half away, in double.
        #expect(c.exactParameters == c.quantizedTensors && c.quantizedTensors == 3)
        #expect(c.identicalConstants == c.constants)
        // Which tensors: the three weights with >= 1024 elements, per channel.
        #expect(result.report.entries.map(\.treatment) == [
            .int8PerChannel(axis: 0, channels: 128), .int8PerChannel(axis: 0, channels: 10), .int8PerChannel(axis: 0, channels: 256),
        ])
    }

    @Test func dynamicRangeSizeAndAccuracy() throws {
        let result = try Quantizer(.dynamicRange).quantize(Seed.float.get())
        let size = try TFLiteFile.encode(result.graph).count
        print("dynamic range: \(size) B (TF 1,652,224 B)")
        #expect(abs(Double(size) / 1_652_224 - 1) < 0.01)
        let accuracy = try runGolden(result.graph).accuracy
        let tf = try Golden.referenceAccuracy("seed_dynamic", int8: false, count: Golden.imageCount)
        print("dynamic range accuracy \(accuracy) (TF \(tf))")
        #expect(abs(accuracy - tf) <= 0.005)
    }

    // MARK: full integer

    @Test func fullIntegerMatchesConverter() throws {
        let result = try Seed.quantized(.fullInteger(input: .int8, output: .int8))
        let golden = try Golden.model("seed_int8")
        let c = GraphComparison(result.graph, golden)
        print("full integer (int8 I/O) vs seed_int8:\n\(c)")
        print(result.report.calibrationRanges.map { "\($0.name.prefix(40)) [\($0.min), \($0.max)]" }.joined(separator: "\n"))
        #expect(c.structureDifferences.isEmpty)
        #expect(c.quantizedTensors == 24)
        // Exact: input, both convolutions' outputs (and the pools and reshape inheriting them), all
        // weights and biases of the convolutions and the first FC, the softmax output. Within a few
        // ulps: the two FULLY_CONNECTED outputs (and the second FC's bias scales derived from the
        // first's output): TF's calibrator ran the float model with LiteRT's optimized FC kernel,
        // whose summation order differs from the reference loops, so the calibrated max differs in
        // the last bits of float32. The int32 bias values and every int8 weight are still identical,
        // and the int8 model's outputs equal LiteRT's reference outputs of seed_int8 exactly.
        #expect(c.exactParameters >= 19)
        #expect(c.maxScaleUlps <= 4 && c.zeroPointDifferences == 0)
        #expect(c.identicalConstants == c.constants)
    }

    @Test func fullIntegerFloatIOMatchesConverter() throws {
        let result = try Seed.quantized(.fullInteger(input: .float32, output: .float32))
        let golden = try Golden.model("seed_int8_floatio")
        let c = GraphComparison(result.graph, golden)
        print("full integer (float I/O) vs seed_int8_floatio:\n\(c)")
        #expect(c.structureDifferences.isEmpty)
        #expect(c.quantizedTensors == 26 && c.exactParameters >= 21)   // as above, plus QUANTIZE / DEQUANTIZE
        #expect(c.maxScaleUlps <= 4 && c.zeroPointDifferences == 0)
        #expect(c.identicalConstants == c.constants)
        #expect(result.graph.tensors[result.graph.inputs[0]].elementType == .float32)
        #expect(result.graph.tensors[result.graph.outputs[0]].elementType == .float32)
        #expect(result.graph.operators.first?.kind == .quantize && result.graph.operators.first?.version == 1)
        #expect(result.graph.operators.last?.kind == .dequantize && result.graph.operators.last?.version == 2)
    }

    @Test(arguments: [("seed_int8", Quantizer.IOType.int8, 1_658_096), ("seed_int8_floatio", .float32, 1_658_424)])
    func fullIntegerSizeAndAccuracy(golden: String, io: Quantizer.IOType, tfSize: Int) throws {
        let result = try Seed.quantized(.fullInteger(input: io, output: io))
        let size = try TFLiteFile.encode(result.graph).count
        print("full integer \(io): \(size) B (TF \(tfSize) B)")
        #expect(abs(Double(size) / Double(tfSize) - 1) < 0.01)
        let (bytes, accuracy) = try runGolden(result.graph)
        let tf = try Golden.referenceAccuracy(golden, int8: io == .int8, count: Golden.imageCount)
        print("full integer \(io) accuracy \(accuracy) (TF \(tf))")
        #expect(abs(accuracy - tf) <= 0.005)
        if io == .int8 {
            // With identical parameters and constants the model is TF's: outputs equal LiteRT's reference outputs.
            let reference = Array(try Golden.bytes("seed_int8.ref.i8.bin").prefix(bytes.count))
            let differing = zip(bytes, reference).filter { $0 != $1 }.count
            print("full integer int8 outputs differing from LiteRT BUILTIN_REF on seed_int8: \(differing) of \(reference.count)")
            #expect(differing == 0)
        }
    }

    // MARK: float16

    @Test func float16MatchesConverter() throws {
        let result = try Quantizer(.float16).quantize(Seed.float.get())
        let golden = try Golden.model("seed_float16")
        let c = GraphComparison(result.graph, golden)
        print("float16 vs seed_float16:\n\(c)")
        #expect(c.structureDifferences.isEmpty)
        // Round to nearest even with the ±65504 clamp is exact: every fp16 constant bit-identical.
        #expect(c.constants == 9 && c.identicalConstants == c.constants)   // 8 float16 + the RESHAPE shape
        #expect(result.graph.operators.filter { $0.kind == .dequantize }.allSatisfy { $0.version == 3 })
        #expect(result.graph.operators.filter { $0.kind == .dequantize }.count == 8)
    }

    @Test func float16SizeAndAccuracy() throws {
        let result = try Quantizer(.float16).quantize(Seed.float.get())
        let size = try TFLiteFile.encode(result.graph).count
        print("float16: \(size) B (TF 3,288,200 B)")
        #expect(abs(Double(size) / 3_288_200 - 1) < 0.01)
        let (bytes, accuracy) = try runGolden(result.graph)
        let tf = try Golden.referenceAccuracy("seed_float16", int8: false, count: Golden.imageCount)
        print("float16 accuracy \(accuracy) (TF \(tf))")
        #expect(abs(accuracy - tf) <= 0.005)
        let reference = Array(try Golden.bytes("seed_float16.ref.f32.bin").prefix(bytes.count))
        let maxDiff = zip(stride(from: 0, to: bytes.count, by: 4), stride(from: 0, to: reference.count, by: 4)).map { i, k in
            abs(Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                - Float(bitPattern: UInt32(reference[k]) | UInt32(reference[k + 1]) << 8 | UInt32(reference[k + 2]) << 16 | UInt32(reference[k + 3]) << 24))
        }.max() ?? 0
        print("float16 max |ours - LiteRT ref| = \(maxDiff)")
        #expect(maxDiff <= 1e-5)
    }

    // MARK: versions and round trips

    @Test(arguments: ["dynamic", "int8", "int8_floatio", "float16"])
    func versionsAndRoundTrip(mode: String) throws {
        let result: Quantizer.Result
        switch mode {
        case "dynamic": result = try Quantizer(.dynamicRange).quantize(Seed.float.get())
        case "int8": result = try Seed.quantized(.fullInteger(input: .int8, output: .int8))
        case "int8_floatio": result = try Seed.quantized(.fullInteger(input: .float32, output: .float32))
        default: result = try Quantizer(.float16).quantize(Seed.float.get())
        }
        #expect(result.graph.operators.map(\.version) == TFLiteVersions.converterVersions(of: result.graph))
        let bytes = try TFLiteFile.encode(result.graph)
        let read = try TFLiteFile.read(bytes: bytes)
        #expect(read == result.graph)
        #expect(try TFLiteFile.encode(read) == bytes)
        #expect(result.report.constantBytesAfter < result.report.constantBytesBefore)
    }
}
