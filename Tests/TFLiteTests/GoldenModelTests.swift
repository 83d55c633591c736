import Foundation
import Runtime
import TensorCore
import Testing
@testable import TFLite

@Suite("Golden TensorFlow models")
struct GoldenModelTests {
    func read(_ model: String) throws -> Graph {
        try TFLiteFile.read(bytes: Fixtures.goldenBytes(model))
    }

    func opList(_ g: Graph) -> [String] {
        g.operators.map { "\($0.kind.tfliteName) v\($0.version)" }
    }

    func tensor(_ g: Graph, named name: String, type: ElementType) throws -> GraphTensor {
        try #require(g.tensors.first { $0.name == name && $0.elementType == type }, "no \(type) tensor named \(name)")
    }

    @Test("every golden model reads and validates", arguments: Fixtures.goldenModels)
    func readsAndValidates(model: String) throws {
        let g = try TFLiteFile.read(contentsOf: Fixtures.goldenURL(model))
        try g.validate()
        #expect(g.inputs.count == 1 && g.outputs.count == 1)
        #expect(g.tensors[g.inputs[0]].shape == [1, 28, 28, 1])
        #expect(g.tensors[g.outputs[0]].shape == [1, 10])
        #expect(g.metadata.contains { $0.name == "min_runtime_version" })
        #expect(g.signatures.first?.key == "serving_default")
    }

    @Test func seedFloat() throws {
        let g = try read("seed_float")
        #expect(opList(g) == ["CONV_2D v1", "MAX_POOL_2D v1", "CONV_2D v1", "MAX_POOL_2D v1", "RESHAPE v1",
                              "FULLY_CONNECTED v1", "FULLY_CONNECTED v1", "SOFTMAX v1"])
        #expect(g.tensors.count == 18)
        #expect(g.constantElementCount(of: [.float32]) == 1_641_674)
        #expect(g.tensors.allSatisfy { $0.quantization == nil })
        let conv = g.operators[0]
        #expect(conv.options == .conv2D(.init(padding: .same, fusedActivation: .relu)))
        #expect(g.operators[1].options == .maxPool2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2,
                                                           filterWidth: 2, filterHeight: 2)))
        #expect(g.operators[5].options == .fullyConnected(.init(fusedActivation: .relu)))
        #expect(g.operators[7].options == .softmax(.init(beta: 1)))
        #expect(g.tensors[conv.inputs[1]].shape == [64, 2, 2, 1])
        #expect(g.tensors[g.operators[5].inputs[1]].shape == [256, 6272])
        #expect(g.tensors[g.inputs[0]].shapeSignature == [-1, 28, 28, 1])
        // The RESHAPE's shape operand is the converter's int32 constant [-1, 6272].
        let shape = try #require(g.tensors[g.operators[4].inputs[1]].data)
        #expect(shape.int32Values() == [-1, 6272])
    }

    @Test func seedInt8() throws {
        let g = try read("seed_int8")
        #expect(opList(g) == ["CONV_2D v3", "MAX_POOL_2D v2", "CONV_2D v3", "MAX_POOL_2D v2", "RESHAPE v1",
                              "FULLY_CONNECTED v4", "FULLY_CONNECTED v4", "SOFTMAX v2"])
        let input = g.tensors[g.inputs[0]]
        #expect(input.elementType == .int8)
        #expect(input.quantization?.scale == 0.003921568859368563)
        #expect(input.quantization?.zeroPoint == -128)
        let weights = g.tensors[g.operators[0].inputs[1]]
        #expect(weights.elementType == .int8 && weights.shape == [64, 2, 2, 1])
        #expect(weights.quantization?.scales.count == 64)
        #expect(weights.quantization?.quantizedDimension == 0)
        #expect(weights.quantization?.zeroPoints.allSatisfy { $0 == 0 } == true)
        let bias = g.tensors[g.operators[0].inputs[2]]
        #expect(bias.elementType == .int32 && bias.quantization?.scales.count == 64)
        let output = g.tensors[g.outputs[0]]
        #expect(output.elementType == .int8)
        #expect(output.quantization?.scale == 1.0 / 256 && output.quantization?.zeroPoint == -128)
        // MAX_POOL and RESHAPE keep their input's parameters.
        for j in [1, 3, 4] {
            let op = g.operators[j]
            #expect(g.tensors[op.inputs[0]].quantization == g.tensors[op.outputs[0]].quantization)
        }
        // FC weights are per-channel (the 2024+ converter default).
        #expect(g.tensors[g.operators[5].inputs[1]].quantization?.scales.count == 256)
        #expect(g.constantElementCount(of: [.int8]) + g.constantElementCount(of: [.int32]) == 1_641_674 + 2)
    }

    @Test func int8WeightsDequantizeToTheFloatModel() throws {
        let float = try read("seed_float"), int8 = try read("seed_int8")
        let w = try tensor(float, named: "sequential/conv2d/Conv2D", type: .float32)
        let q = try tensor(int8, named: "sequential/conv2d/Conv2D", type: .int8)
        let values = try #require(w.data).float32Values()
        let codes = try #require(q.data).int8Values()
        let scales = try #require(q.quantization).scales
        let perChannel = values.count / scales.count
        for i in values.indices {
            let scale = scales[i / perChannel]
            #expect(abs(Float(codes[i]) * scale - values[i]) <= scale * 0.5001, "element \(i)")
        }
    }

    @Test func seedInt8FloatIO() throws {
        let g = try read("seed_int8_floatio")
        #expect(opList(g) == ["QUANTIZE v1", "CONV_2D v3", "MAX_POOL_2D v2", "CONV_2D v3", "MAX_POOL_2D v2",
                              "RESHAPE v1", "FULLY_CONNECTED v4", "FULLY_CONNECTED v4", "SOFTMAX v2", "DEQUANTIZE v2"])
        #expect(g.tensors[g.inputs[0]].elementType == .float32 && g.tensors[g.inputs[0]].quantization == nil)
        #expect(g.tensors[g.outputs[0]].elementType == .float32)
        let quantized = g.tensors[g.operators[0].outputs[0]]
        #expect(quantized.quantization == .init(scale: 0.003921568859368563, zeroPoint: -128))
    }

    @Test func seedDynamic() throws {
        let g = try read("seed_dynamic")
        #expect(opList(g) == ["CONV_2D v5", "MAX_POOL_2D v1", "CONV_2D v5", "MAX_POOL_2D v1", "RESHAPE v1",
                              "FULLY_CONNECTED v12", "FULLY_CONNECTED v12", "SOFTMAX v1"])
        // The first conv's 256 weights are below the 1024-element threshold and stay float.
        #expect(g.tensors[g.operators[0].inputs[1]].elementType == .float32)
        let w2 = g.tensors[g.operators[2].inputs[1]]
        #expect(w2.elementType == .int8 && w2.shape == [128, 2, 2, 64] && w2.quantization?.scales.count == 128)
        #expect(g.tensors[g.operators[2].inputs[2]].elementType == .float32)
        for j in [5, 6] {
            guard case .fullyConnected(let o) = g.operators[j].options else { Issue.record("op \(j)"); continue }
            #expect(o.asymmetricQuantizeInputs)
            #expect(g.tensors[g.operators[j].inputs[1]].elementType == .int8)
        }
        #expect(g.tensors.filter { !$0.isConstant }.allSatisfy { $0.elementType == .float32 })
    }

    @Test func seedFloat16() throws {
        let g = try read("seed_float16")
        #expect(opList(g) == Array(repeating: "DEQUANTIZE v3", count: 8)
            + ["CONV_2D v1", "MAX_POOL_2D v1", "CONV_2D v1", "MAX_POOL_2D v1", "RESHAPE v1",
               "FULLY_CONNECTED v1", "FULLY_CONNECTED v1", "SOFTMAX v1"])
        for op in g.operators.prefix(8) {
            let input = g.tensors[op.inputs[0]], output = g.tensors[op.outputs[0]]
            #expect(input.elementType == .float16 && input.isConstant)
            #expect(output.elementType == .float32 && !output.isConstant && output.shape == input.shape)
        }
        #expect(g.constantElementCount(of: [.float16]) == 1_641_674)
        #expect(g.metadata.contains { $0.name == "reduced_precision_support" })
        // The float16 weights are the float model's, rounded to half precision.
        let float = try read("seed_float")
        let w = try tensor(float, named: "sequential/conv2d_1/Conv2D", type: .float32)
        let h = try tensor(g, named: "sequential/conv2d_1/Conv2D", type: .float16)
        let (a, b) = (try #require(w.data).float32Values(), try #require(h.data).float16Values())
        #expect(a.count == b.count)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= abs($0) * 0x1p-11 + 0x1p-24 })
    }

    @Test func qatInt8() throws {
        let g = try read("qat_int8")
        #expect(opList(g) == ["QUANTIZE v1", "CONV_2D v3", "MAX_POOL_2D v2", "CONV_2D v3", "MAX_POOL_2D v2",
                              "RESHAPE v1", "FULLY_CONNECTED v4", "FULLY_CONNECTED v4", "SOFTMAX v2", "DEQUANTIZE v2"])
        // The first Dense has per-channel weights, the last per-tensor weights and bias.
        let fc1 = g.operators[6], fc2 = g.operators[7]
        #expect(g.tensors[fc1.inputs[1]].quantization?.scales.count == 256)
        #expect(g.tensors[fc2.inputs[1]].quantization?.scales.count == 1)
        #expect(g.tensors[fc2.inputs[2]].quantization?.scales.count == 1)
        #expect(g.tensors[g.operators[8].outputs[0]].quantization == .init(scale: 1.0 / 256, zeroPoint: -128))
    }

    @Test func metadataIsKept() throws {
        let g = try read("seed_int8")
        let version = try #require(g.metadata.first { $0.name == "min_runtime_version" })
        #expect(version.bytes.count == 16)
        #expect(version.string.hasPrefix("1.") || version.string.hasPrefix("2."))
        #expect(g.signatures.first?.inputs.first?.tensor == g.inputs[0])
        #expect(g.signatures.first?.outputs.first?.tensor == g.outputs[0])
    }
}
