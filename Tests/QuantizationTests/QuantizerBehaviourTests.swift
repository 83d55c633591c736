import Foundation
import Quantization
import Runtime
import TFLite
import TensorCore
import Testing

/// Small hand-made graphs: errors, fallback, options.
@Suite struct QuantizerBehaviourTests {
    /// input [1, 4] -> FC(8, RELU) -> FC(3) -> SOFTMAX, with seeded weights.
    static func mlp(constantAdd: Bool = false) -> Graph {
        var rng = SystemRandomNumberGenerator.seeded(7)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextFloat() * 2 - 1 } }
        var tensors = [
            GraphTensor(name: "x", shape: [1, 4], elementType: .float32),
            GraphTensor(name: "w1", shape: [8, 4], elementType: .float32, data: ConstantData(float32: values(32))),
            GraphTensor(name: "b1", shape: [8], elementType: .float32, data: ConstantData(float32: values(8))),
            GraphTensor(name: "h", shape: [1, 8], elementType: .float32),
            GraphTensor(name: "w2", shape: [3, 8], elementType: .float32, data: ConstantData(float32: values(24))),
            GraphTensor(name: "b2", shape: [3], elementType: .float32, data: ConstantData(float32: values(3))),
            GraphTensor(name: "logits", shape: [1, 3], elementType: .float32),
            GraphTensor(name: "probabilities", shape: [1, 3], elementType: .float32),
        ]
        var operators = [
            GraphOperator(.fullyConnected(.init(fusedActivation: .relu)), inputs: [0, 1, 2], outputs: [3]),
            GraphOperator(.fullyConnected(.init()), inputs: [3, 4, 5], outputs: [6]),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [6], outputs: [7]),
        ]
        if constantAdd {
            tensors.append(GraphTensor(name: "offset", shape: [1, 3], elementType: .float32, data: ConstantData(float32: [0.5, -0.25, 1])))
            tensors.append(GraphTensor(name: "shifted", shape: [1, 3], elementType: .float32))
            operators.insert(GraphOperator(.add(.init()), inputs: [6, 8], outputs: [9]), at: 2)
            operators[3].inputs = [9]
        }
        return Graph(tensors: tensors, operators: operators, inputs: [0], outputs: [7])
    }

    static func batches(_ count: Int, seed: UInt64 = 1) -> [[Float]] {
        var rng = SystemRandomNumberGenerator.seeded(seed)
        return (0..<count).map { _ in (0..<4).map { _ in rng.nextFloat() * 4 - 2 } }
    }

    @Test func emptyRepresentativeDataIsAnError() throws {
        #expect {
            try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(), representativeData: [[Float]]())
        } throws: { ($0 as? QuantizationError)?.kind == .emptyRepresentativeData }
    }

    @Test func nonFiniteSampleIsAnError() throws {
        var data = Self.batches(5)
        data[3][2] = .nan
        do {
            _ = try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(), representativeData: data)
            Issue.record("a NaN sample was accepted")
        } catch {
            #expect(error.kind == .nonFiniteValue)
            #expect(error.message.contains("batch 3") && error.message.contains("element 2"))
        }
        data[3][2] = .infinity
        #expect(throws: QuantizationError.self) {
            try Quantizer(.fullInteger(input: .float32, output: .float32)).quantize(Self.mlp(), representativeData: data)
        }
    }

    @Test func malformedBatchIsAnError() throws {
        var data = Self.batches(2)
        data[1].removeLast()
        #expect {
            try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(), representativeData: data)
        } throws: { ($0 as? QuantizationError)?.kind == .malformedSample }
    }

    @Test func unsupportedOperatorIsNamedWithoutFallback() throws {
        do {
            _ = try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(constantAdd: true), representativeData: Self.batches(4))
            Issue.record("an ADD with a constant operand was quantized")
        } catch {
            #expect(error.kind == .unsupportedOperator)
            #expect(error.operatorIndex == 2)
            #expect(error.message.contains("operator 2 (ADD)"))
        }
    }

    @Test func floatFallbackKeepsTheOperatorInFloat() throws {
        let graph = Self.mlp(constantAdd: true)
        let quantizer = Quantizer(.fullInteger(input: .float32, output: .float32), options: .init(allowsFloatFallback: true))
        let result = try quantizer.quantize(graph, representativeData: Self.batches(64))
        #expect(result.report.floatFallbackOperators == [2])
        let q = result.graph
        #expect(q.operators.map(\.kind) == [.quantize, .fullyConnected, .fullyConnected, .dequantize, .add, .quantize, .softmax, .dequantize])
        // The quantized model stays close to the float one.
        let x = Self.batches(50, seed: 9).flatMap { $0 }
        let float = try Interpreter(graph: graph).run(x, as: Float.self)
        let quantized = try Interpreter(graph: q).run(x, as: Float.self)
        let maxDiff = zip(float, quantized).map { abs($0 - $1) }.max()!
        #expect(maxDiff < 0.05)
        // Writes and reads back unchanged.
        #expect(try TFLiteFile.read(bytes: TFLiteFile.encode(q)) == q)
    }

    @Test func perTensorWeights() throws {
        let options = Quantizer.Options(perChannelWeights: false)
        let result = try Quantizer(.fullInteger(input: .int8, output: .int8), options: options)
            .quantize(Self.mlp(), representativeData: Self.batches(32))
        let g = result.graph
        for op in g.operators where op.kind == .fullyConnected {
            #expect(g.tensors[op.inputs[1]].quantization?.scales.count == 1)
            let bias = try #require(g.tensors[op.inputs[2]].quantization)
            #expect(bias.scales.count == 1)
            // Per-tensor FC checks |in·w − bias| / out <= 0.02 (spec §1.1); ours is exact.
            let s = g.tensors[op.inputs[0]].quantization!.scales[0] * g.tensors[op.inputs[1]].quantization!.scales[0]
            #expect(abs(s - bias.scales[0]) <= s * 1e-6)
        }
        #expect(result.report.entries.contains { $0.treatment == .int8PerTensor })
        #expect(try TFLiteFile.read(bytes: TFLiteFile.encode(g)) == g)

        let dynamic = try Quantizer(.dynamicRange, options: .init(perChannelWeights: false, minimumWeightElements: 1))
            .quantize(Self.mlp())
        for op in dynamic.graph.operators where op.kind == .fullyConnected {
            #expect(dynamic.graph.tensors[op.inputs[1]].quantization?.scales.count == 1)
            #expect(op.version == 9)   // hybrid, asymmetric inputs, per tensor
        }
    }

    @Test func fullIntegerParametersFollowTheSpec() throws {
        let data = Self.batches(100)
        let result = try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(), representativeData: data)
        let g = result.graph
        // SOFTMAX output pinned to (1/256, -128); the input takes its calibrated range.
        #expect(g.tensors[7].quantization == .init(scale: 1.0 / 256, zeroPoint: -128))
        let lo = data.flatMap { $0 }.min()!, hi = data.flatMap { $0 }.max()!
        let expected = AffineQuantizationCheck.legacy(min: lo, max: hi)
        #expect(g.tensors[0].quantization == expected)
        #expect(result.report.calibrationRanges.first { $0.tensor == 0 }.map { ($0.min, $0.max) }! == (lo, hi))
        // RELU output: range starts at 0, so the zero point is -128.
        #expect(g.tensors[3].quantization?.zeroPoints == [-128])
        // Biases int32 with scale in × w per channel.
        let bias = g.tensors[2]
        #expect(bias.elementType == .int32)
        for (c, s) in g.tensors[1].quantization!.scales.enumerated() {
            #expect(bias.quantization!.scales[c] == Float(Double(g.tensors[0].quantization!.scales[0]) * Double(s)))
        }
        #expect(g.operators.map(\.version) == [4, 4, 2])
    }

    @Test func notAFloatGraphIsAnError() throws {
        let int8 = try Golden.model("seed_int8")
        #expect {
            try Quantizer(.dynamicRange).quantize(int8)
        } throws: { ($0 as? QuantizationError)?.kind == .invalidGraph }
    }

    @Test func streamedCalibrationMatchesOneBigBatch() throws {
        // The same samples as one batch of 100 or 100 batches of one: identical ranges and graph.
        let samples = Self.batches(100)
        let one = try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(Self.mlp(), representativeData: [samples.flatMap { $0 }])
        let many = try Quantizer(.fullInteger(input: .int8, output: .int8), options: .init(calibrationBatchSize: 7))
            .quantize(Self.mlp(), representativeData: samples)
        #expect(one.graph == many.graph)
        #expect(one.report.calibrationRanges == many.report.calibrationRanges)
        #expect(one.report.calibrationSamples == 100)
    }
}

enum AffineQuantizationCheck {
    /// Spec §1.3a, written out independently of Kernels: float scale, zero point from min in double.
    static func legacy(min: Float, max: Float) -> GraphTensor.Quantization {
        let lo = Swift.min(Double(min), 0), hi = Swift.max(Double(max), 0)
        let scale = (Float(hi) - Float(lo)) / 255
        let zp = Float(-128.0 - lo / Double(scale))
        let z = zp < -128 ? -128 : zp > 127 ? 127 : zp.rounded(.toNearestOrAwayFromZero)
        return .init(scale: scale, zeroPoint: Int64(z))
    }
}

extension SystemRandomNumberGenerator {
    /// A seeded SplitMix64 (the name reads as the intent; it is not the system generator).
    static func seeded(_ seed: UInt64) -> SplitMix64 { SplitMix64(state: seed) }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
