import Kernels
import Runtime
import TensorCore
import Testing

/// A small full-int8 graph: QUANTIZE → CONV_2D → MAX_POOL_2D → RESHAPE → FULLY_CONNECTED → SOFTMAX,
/// plus a float DEPTHWISE/AVERAGE_POOL/ADD/MEAN branch-free tail for the other kinds.
enum GraphFixtures {
    static func int8() -> Graph {
        let act = GraphTensor.Quantization(scale: 0.05, zeroPoint: -10)
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [1, 6, 6, 2], elementType: .float32),
            GraphTensor(name: "xq", shape: [1, 6, 6, 2], elementType: .int8, quantization: .init(scale: 0.01, zeroPoint: 0)),
            GraphTensor(name: "w", shape: [3, 2, 2, 2], elementType: .int8,
                        quantization: .init(scales: [0.1, 0.2, 0.3], zeroPoints: [0, 0, 0], quantizedDimension: 0),
                        data: ConstantData(int8: [Int8](repeating: 1, count: 24))),
            GraphTensor(name: "b", shape: [3], elementType: .int32,
                        quantization: .init(scales: [0.001, 0.002, 0.003], zeroPoints: [0, 0, 0]),
                        data: ConstantData(int32: [1, 2, 3])),
            GraphTensor(name: "conv", shape: [1, 3, 3, 3], elementType: .int8, quantization: act),
            GraphTensor(name: "pool", shape: [1, 2, 2, 3], elementType: .int8, quantization: act),
            GraphTensor(name: "flat", shape: [1, 12], elementType: .int8, quantization: act),
            GraphTensor(name: "fw", shape: [4, 12], elementType: .int8, quantization: .init(scale: 0.02, zeroPoint: 0),
                        data: ConstantData(int8: [Int8](repeating: -1, count: 48))),
            GraphTensor(name: "fb", shape: [4], elementType: .int32, quantization: .init(scale: 0.001, zeroPoint: 0),
                        data: ConstantData(int32: [0, 0, 0, 0])),
            GraphTensor(name: "logits", shape: [1, 4], elementType: .int8, quantization: .init(scale: 0.1, zeroPoint: 0)),
            GraphTensor(name: "probs", shape: [1, 4], elementType: .int8, quantization: .init(scale: 1.0 / 256, zeroPoint: -128)),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.quantize, inputs: [0], outputs: [1]),
            GraphOperator(.conv2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2, fusedActivation: .relu)),
                          inputs: [1, 2, 3], outputs: [4], version: 3),
            GraphOperator(.maxPool2D(.init(padding: .same, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [4], outputs: [5], version: 2),
            GraphOperator(.reshape(.init(newShape: [-1, 12])), inputs: [5], outputs: [6]),
            GraphOperator(.fullyConnected(.init()), inputs: [6, 7, 8], outputs: [9], version: 4),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [9], outputs: [10], version: 2),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [10])
    }

    static func float() -> Graph {
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [2, 5, 5, 2], elementType: .float32),
            GraphTensor(name: "dw", shape: [1, 3, 3, 6], elementType: .float32, data: ConstantData(float32: [Float](repeating: 0.5, count: 54))),
            GraphTensor(name: "y", shape: [2, 5, 5, 6], elementType: .float32),
            GraphTensor(name: "avg", shape: [2, 2, 2, 6], elementType: .float32),
            GraphTensor(name: "c", shape: [1, 1, 6], elementType: .float32, data: ConstantData(float32: [1, 2, 3, 4, 5, 6])),
            GraphTensor(name: "sum", shape: [2, 2, 2, 6], elementType: .float32),
            GraphTensor(name: "axes", shape: [2], elementType: .int32, data: ConstantData(int32: [1, 2])),
            GraphTensor(name: "mean", shape: [2, 6], elementType: .float32),
            GraphTensor(name: "fw", shape: [3, 6], elementType: .int8, quantization: .init(scales: [1, 1, 1], zeroPoints: [0, 0, 0]),
                        data: ConstantData(int8: [Int8](repeating: 3, count: 18))),
            GraphTensor(name: "out", shape: [2, 3], elementType: .float32),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.depthwiseConv2D(.init(padding: .same, depthMultiplier: 3)), inputs: [0, 1, -1], outputs: [2]),
            GraphOperator(.averagePool2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [2], outputs: [3]),
            GraphOperator(.add(.init(fusedActivation: .relu6)), inputs: [3, 4], outputs: [5]),
            GraphOperator(.mean(.init(keepDims: false)), inputs: [5, 6], outputs: [7]),
            GraphOperator(.fullyConnected(.init(asymmetricQuantizeInputs: true)), inputs: [7, 8], outputs: [9], version: 12),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [9])
    }
}

@Suite("Graph validation")
struct GraphValidationTests {
    func expectInvalid(_ graph: Graph, _ kind: GraphError.Kind, mentioning words: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try graph.validate()
            Issue.record("expected \(kind), but the graph validated", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            for w in words {
                #expect(error.message.contains(w), "\(error.message) should mention \(w)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func fixturesAreValid() throws {
        try GraphFixtures.int8().validate()
        try GraphFixtures.float().validate()
    }

    @Test func indices() {
        var g = GraphFixtures.int8()
        g.operators[1].inputs[1] = 99
        expectInvalid(g, .indexOutOfRange, mentioning: ["operator 1 (CONV_2D)", "tensor 99"])
        g = GraphFixtures.int8()
        g.outputs = [11]
        expectInvalid(g, .indexOutOfRange)
        g = GraphFixtures.int8()
        g.operators[1].inputs[0] = -1
        expectInvalid(g, .invalidOperands, mentioning: ["input 0 is absent"])
        g = GraphFixtures.int8()
        g.operators[5].inputs = [9, 9]
        expectInvalid(g, .invalidOperands, mentioning: ["SOFTMAX takes 1"])
    }

    @Test func dataflow() {
        var g = GraphFixtures.int8()
        g.operators.swapAt(1, 2)
        expectInvalid(g, .invalidDataflow, mentioning: ["operator 1 (MAX_POOL_2D)", "tensor 4 'conv'"])
        g = GraphFixtures.int8()
        g.operators[2].outputs = [4]
        expectInvalid(g, .invalidDataflow, mentioning: ["already"])
        g = GraphFixtures.int8()
        g.operators[0].outputs = [2]
        expectInvalid(g, .invalidDataflow, mentioning: ["constant"])
    }

    @Test func tensors() {
        var g = GraphFixtures.int8()
        g.tensors[4].shape = [1, -3, 3, 3]
        expectInvalid(g, .invalidShape, mentioning: ["tensor 4 'conv'", "-3"])
        g = GraphFixtures.int8()
        g.tensors[4].shape = [1 << 16, 1 << 16, 2, 1]
        expectInvalid(g, .invalidShape)
        g = GraphFixtures.int8()
        g.tensors[2].data = ConstantData(int8: [1, 2, 3])
        expectInvalid(g, .invalidConstantData, mentioning: ["tensor 2 'w'", "3 bytes", "24"])
        g = GraphFixtures.int8()
        g.tensors[2].quantization?.zeroPoints = [0, 0]
        expectInvalid(g, .invalidQuantization, mentioning: ["3 scales but 2 zero points"])
        g = GraphFixtures.int8()
        g.tensors[2].quantization?.quantizedDimension = 4
        expectInvalid(g, .invalidQuantization, mentioning: ["dimension 4"])
        g = GraphFixtures.int8()
        g.tensors[2].quantization?.quantizedDimension = 3  // dims[3] = 2, but 3 scales
        expectInvalid(g, .invalidQuantization, mentioning: ["3 scales along dimension 3"])
        g = GraphFixtures.int8()
        g.tensors[9].quantization = .init(scale: -1, zeroPoint: 0)
        expectInvalid(g, .invalidQuantization, mentioning: ["scale -1"])
        g = GraphFixtures.int8()
        g.tensors[9].quantization = .init(scale: 1, zeroPoint: 200)
        expectInvalid(g, .invalidQuantization, mentioning: ["zero point 200"])
        g = GraphFixtures.int8()
        g.tensors[0].shapeSignature = [-1, 6, 7, 2]
        expectInvalid(g, .invalidShape, mentioning: ["signature"])
    }

    @Test func convolutionShapes() {
        var g = GraphFixtures.int8()
        g.tensors[2].shape = [3, 2, 2, 3]  // 3 filter channels vs 2 input channels
        g.tensors[2].data = ConstantData(int8: [Int8](repeating: 1, count: 36))
        expectInvalid(g, .shapeMismatch, mentioning: ["filter tensor 2 'w'"])
        g = GraphFixtures.int8()
        g.tensors[4].shape = [1, 4, 4, 3]  // VALID 2x2 stride 2 on 6x6 gives 3x3
        expectInvalid(g, .shapeMismatch, mentioning: ["[1, 3, 3, 3]"])
        g = GraphFixtures.int8()
        g.operators[1].options = .conv2D(.init(padding: .valid, strideWidth: 0, strideHeight: 2))
        expectInvalid(g, .invalidOptions, mentioning: ["strides"])
        g = GraphFixtures.int8()
        g.tensors[3].shape = [4]
        g.tensors[3].data = ConstantData(int32: [1, 2, 3, 4])
        g.tensors[3].quantization = .init(scales: [1, 1, 1, 1], zeroPoints: [0, 0, 0, 0])
        expectInvalid(g, .shapeMismatch, mentioning: ["bias tensor 3 'b'", "[3]"])
        // Zero input channels must not divide by zero.
        g = GraphFixtures.int8()
        g.tensors[0].shape = [1, 6, 6, 0]
        g.tensors[1].shape = [1, 6, 6, 0]
        expectInvalid(g, .shapeMismatch)
    }

    @Test func int8Types() {
        var g = GraphFixtures.int8()
        g.operators[1].inputs = [1, 2]
        expectInvalid(g, .invalidOperands, mentioning: ["requires a bias"])
        g = GraphFixtures.int8()
        g.tensors[3].elementType = .float32
        g.tensors[3].quantization = nil
        g.tensors[3].data = ConstantData(float32: [1, 2, 3])
        expectInvalid(g, .typeMismatch, mentioning: ["needs int32"])
        g = GraphFixtures.int8()
        g.tensors[2].quantization?.quantizedDimension = 3
        g.tensors[2].quantization?.scales = [0.1, 0.2]
        g.tensors[2].quantization?.zeroPoints = [0, 0]
        expectInvalid(g, .invalidQuantization, mentioning: ["needs dimension 0"])
        g = GraphFixtures.int8()
        g.tensors[2].quantization?.zeroPoints = [0, 1, 0]
        expectInvalid(g, .invalidQuantization, mentioning: ["symmetric"])
        g = GraphFixtures.int8()
        g.tensors[4].quantization = nil
        expectInvalid(g, .invalidQuantization, mentioning: ["tensor 4 'conv' has no quantization"])
        g = GraphFixtures.int8()
        g.tensors[8].quantization = .init(scale: 0.01, zeroPoint: 0)  // in 0.05 × w 0.02 = 0.001
        expectInvalid(g, .invalidQuantization, mentioning: ["bias tensor 8 'fb'", "0.02"])
    }

    @Test func sameParameterOps() {
        var g = GraphFixtures.int8()
        g.tensors[5].quantization = .init(scale: 0.05, zeroPoint: -11)
        expectInvalid(g, .invalidQuantization, mentioning: ["operator 2 (MAX_POOL_2D)", "must be equal"])
        g = GraphFixtures.int8()
        g.tensors[6].quantization = .init(scale: 0.06, zeroPoint: -10)
        expectInvalid(g, .invalidQuantization, mentioning: ["operator 3 (RESHAPE)"])
        g = GraphFixtures.int8()
        g.tensors[10].quantization = .init(scale: 1.0 / 255, zeroPoint: -128)
        expectInvalid(g, .invalidQuantization, mentioning: ["1/256"])
    }

    @Test func reshapeAndFullyConnected() {
        var g = GraphFixtures.int8()
        g.operators[3].options = .reshape(.init(newShape: [2, 6]))
        expectInvalid(g, .shapeMismatch, mentioning: ["new_shape"])
        g = GraphFixtures.int8()
        g.operators[3].options = .reshape(.init(newShape: [-1, -1]))
        expectInvalid(g, .shapeMismatch)
        g = GraphFixtures.int8()
        g.tensors[6].shape = [1, 13]
        expectInvalid(g, .shapeMismatch, mentioning: ["13 elements"])
        g = GraphFixtures.int8()
        g.tensors[7].shape = [4, 5]
        g.tensors[7].data = ConstantData(int8: [Int8](repeating: 0, count: 20))
        expectInvalid(g, .shapeMismatch, mentioning: ["5 columns"])
        g = GraphFixtures.int8()
        g.tensors[9].shape = [4]
        expectInvalid(g, .shapeMismatch, mentioning: ["[1, 4]"])
    }

    @Test func floatOps() {
        var g = GraphFixtures.float()
        g.operators[0].options = .depthwiseConv2D(.init(padding: .same, depthMultiplier: 2))
        expectInvalid(g, .shapeMismatch, mentioning: ["depth multiplier 2"])
        g = GraphFixtures.float()
        g.tensors[4].shape = [1, 1, 5]
        g.tensors[4].data = ConstantData(float32: [1, 2, 3, 4, 5])
        expectInvalid(g, .shapeMismatch, mentioning: ["broadcast"])
        g = GraphFixtures.float()
        g.operators[3].options = .mean(.init(keepDims: true))
        expectInvalid(g, .shapeMismatch, mentioning: ["[2, 1, 1, 6]"])
        g = GraphFixtures.float()
        g.tensors[6].data = ConstantData(int32: [1, 4])
        expectInvalid(g, .invalidOptions, mentioning: ["axis 4"])
        g = GraphFixtures.float()
        g.tensors[6].data = nil
        g.inputs.append(6)
        expectInvalid(g, .invalidConstantData, mentioning: ["axes"])
        g = GraphFixtures.float()
        g.tensors[3].shape = [2, 3, 3, 6]  // VALID 2x2/2 on 5x5 gives 2x2
        expectInvalid(g, .shapeMismatch, mentioning: ["operator 1 (AVERAGE_POOL_2D)"])
        g = GraphFixtures.float()
        g.tensors[8].quantization = nil
        expectInvalid(g, .invalidQuantization, mentioning: ["weights"])
        g = GraphFixtures.float()
        g.tensors[9].elementType = .int8
        expectInvalid(g, .typeMismatch, mentioning: ["float32/int8/int8"])
    }

    @Test func paddingArithmetic() {
        typealias P = GraphOperator.Padding
        func window(_ p: P, _ i: Int, _ f: Int, _ s: Int, _ d: Int = 1) -> [Int]? {
            p.checkedWindow(inputSize: i, filterSize: f, stride: s, dilation: d).map { [$0.outputSize, $0.padBefore, $0.padAfter] }
        }
        #expect(window(.same, 28, 2, 1) == [28, 0, 1])
        #expect(window(.valid, 28, 2, 2) == [14, 0, 0])
        #expect(window(.same, 5, 3, 2) == [3, 1, 1])
        #expect(window(.same, 6, 3, 2) == [3, 0, 1])  // the extra pad goes bottom/right
        #expect(window(.valid, 7, 3, 1, 2) == [3, 0, 0])
        #expect(window(.valid, 2, 3, 1) == nil)
        #expect(window(.same, 4, 3, 0) == nil)
        #expect(window(.same, Int.max, Int.max, Int.max, Int.max) == nil)
    }

    /// Random edits of valid graphs: validation throws or passes, and never traps.
    @Test func randomEditsNeverTrap() {
        var state: UInt64 = 0x1234_5678
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        let values = [-2, -1, 0, 1, 2, 3, 4, 6, 12, 1 << 20, Int(Int32.max), Int.max, Int.min]
        var accepted = 0
        for _ in 0..<4000 {
            var g = next(2) == 0 ? GraphFixtures.int8() : GraphFixtures.float()
            for _ in 0...next(3) {
                let v = values[next(values.count)]
                switch next(6) {
                case 0:
                    let i = next(g.tensors.count)
                    if !g.tensors[i].shape.isEmpty { g.tensors[i].shape[next(g.tensors[i].shape.count)] = v }
                case 1:
                    let j = next(g.operators.count)
                    if !g.operators[j].inputs.isEmpty { g.operators[j].inputs[next(g.operators[j].inputs.count)] = v }
                case 2:
                    let i = next(g.tensors.count)
                    g.tensors[i].elementType = ElementType.allCases[next(ElementType.allCases.count)]
                case 3:
                    let i = next(g.tensors.count)
                    g.tensors[i].quantization?.quantizedDimension = v
                case 4:
                    let j = next(g.operators.count)
                    switch g.operators[j].options {
                    case .conv2D(var o): o.strideWidth = v; o.dilationHeight = values[next(values.count)]; g.operators[j].options = .conv2D(o)
                    case .depthwiseConv2D(var o): o.depthMultiplier = v; o.strideHeight = values[next(values.count)]; g.operators[j].options = .depthwiseConv2D(o)
                    case .maxPool2D(var o): o.filterWidth = v; g.operators[j].options = .maxPool2D(o)
                    case .averagePool2D(var o): o.strideHeight = v; g.operators[j].options = .averagePool2D(o)
                    case .reshape: g.operators[j].options = .reshape(.init(newShape: [v, values[next(values.count)]]))
                    default: break
                    }
                default:
                    let i = next(g.tensors.count)
                    g.tensors[i].shape = Array(g.tensors[i].shape.dropLast(next(2)))
                }
            }
            if (try? g.validate()) != nil { accepted += 1 }
        }
        #expect(accepted < 4000)
    }
}
