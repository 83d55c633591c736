import Runtime
import TensorCore
import Testing
@testable import TFLite

/// `TFLiteVersions`: the converter's operator versions (spec §6.1) and minimum runtimes.
@Suite("Operator versions")
struct ExportVersionTests {
    func version(_ g: Graph, _ j: Int) -> Int { TFLiteVersions.converterVersion(of: g.operators[j], in: g) }

    @Test func fullInteger() {
        let g = TestGraphs.int8CNN()
        // QUANTIZE 1, CONV int8 3, MAX_POOL int8 2, RESHAPE 1, FC int8 4, SOFTMAX int8 2, DEQUANTIZE int8 2.
        #expect(g.operators.indices.map { version(g, $0) } == [1, 3, 2, 1, 4, 2, 2])
        var perChannel = g
        perChannel.tensors[1].quantization = .init(scales: [0.1, 0.2], zeroPoints: [0, 0], quantizedDimension: 3)
        #expect(version(perChannel, 0) == 3)  // QUANTIZE per-channel output
        perChannel.tensors[11].quantization = .init(scales: [0.1, 0.2], zeroPoints: [0, 0], quantizedDimension: 1)
        #expect(version(perChannel, 6) == 5)  // DEQUANTIZE per-channel int8 input
    }

    @Test func fullyConnectedPrecedence() {
        var g = TestGraphs.mixedOps()
        let fc = 5
        #expect(version(g, fc) == 12)  // hybrid, per-channel (3 scales == 3 rows)
        g.tensors[9].quantization = .init(scale: 0.1, zeroPoint: 0)
        #expect(version(g, fc) == 5)   // per-tensor hybrid, but keep_num_dims comes first
        g.operators[fc].options = .fullyConnected(.init(asymmetricQuantizeInputs: true))
        #expect(version(g, fc) == 9)
        g.operators[fc].options = .fullyConnected(.init())
        #expect(version(g, fc) == 3)
        g.operators[fc].inputs = [8, 9]
        #expect(version(g, fc) == 6)   // exactly two operands
        g.operators[fc].inputs = [8, 9, -1]
        #expect(version(g, fc) == 3)   // an absent bias written as -1 is still an operand
        // Float FC.
        #expect(version(g, 6) == 1)
    }

    @Test func hybridAndFloatConvolutions() throws {
        var g = try TFLiteFile.read(bytes: Fixtures.goldenBytes("seed_dynamic"))
        #expect(version(g, 0) == 1)   // float weights (below the 1024-element threshold) ...
        #expect(version(g, 2) == 5)   // hybrid per-channel
        #expect(TFLiteVersions.converterVersions(of: g)[0] == 5)  // ... but the kind shares one version
        let w = g.operators[2].inputs[1]
        g.tensors[w].quantization = .init(scale: 0.01, zeroPoint: 0)
        #expect(version(g, 2) == 2)   // hybrid per-tensor
        var dw = TestGraphs.mixedOps()
        #expect(version(dw, 0) == 1)
        dw.operators[0].options = .depthwiseConv2D(.init(padding: .valid, depthMultiplier: 2, dilationWidth: 2))
        #expect(version(dw, 0) == 2)
    }

    @Test func float16Dequantize() throws {
        let g = try TFLiteFile.read(bytes: Fixtures.goldenBytes("seed_float16"))
        for j in 0..<8 { #expect(version(g, j) == 3) }
        #expect(TFLiteVersions.minimumRuntime(of: g) == "1.15.0")
    }

    @Test func unknownOperandsDoNotTrap() {
        let op = GraphOperator(.conv2D(.init(padding: .same)), inputs: [42, -1], outputs: [])
        #expect(TFLiteVersions.converterVersion(of: op, in: TestGraphs.floatCNN()) == 1)
    }

    @Test func minimumRuntimes() {
        #expect(TFLiteVersions.minimumRuntime(for: .conv2D, version: 3) == "1.14.0")
        #expect(TFLiteVersions.minimumRuntime(for: .conv2D, version: 5) == "2.4.0")
        #expect(TFLiteVersions.minimumRuntime(for: .fullyConnected, version: 12) == "2.17.0")
        #expect(TFLiteVersions.minimumRuntime(for: .fullyConnected, version: 6) == "2.1.0")
        #expect(TFLiteVersions.minimumRuntime(for: .dequantize, version: 3) == "1.15.0")
        #expect(TFLiteVersions.minimumRuntime(for: .reshape, version: 2) == nil)
        #expect(TFLiteVersions.minimumRuntime(for: .softmax, version: 0) == nil)
        #expect(TFLiteVersions.runtimeVersion("1.14.0", precedes: "1.15.0"))
        #expect(TFLiteVersions.runtimeVersion("1.5.0", precedes: "1.14.0"))  // numeric, not lexicographic
        #expect(!TFLiteVersions.runtimeVersion("2.17.0", precedes: "2.4.0"))
        #expect(TFLiteVersions.runtimeVersion("1.13", precedes: "1.13.1"))
        #expect(!TFLiteVersions.runtimeVersion("1.13.1", precedes: "1.13.1"))
    }

    @Test func withConverterVersions() {
        var g = TestGraphs.int8CNN()
        for j in g.operators.indices { g.operators[j].version = 0 }
        #expect(TFLiteVersions.withConverterVersions(g).operators.map(\.version) == [1, 3, 2, 1, 4, 2, 2])
    }
}
