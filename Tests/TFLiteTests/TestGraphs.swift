import Runtime
import TensorCore

/// Small graphs covering every operator kind, in float, hybrid, int8 and float16 flavours.
enum TestGraphs {
    static func floats(_ count: Int, seed: Int = 1) -> [Float] {
        (0..<count).map { Float(($0 * 37 + seed * 11) % 23 - 11) / 16 }
    }

    /// CONV_2D → MAX_POOL_2D → RESHAPE → FULLY_CONNECTED → SOFTMAX, float.
    static func floatCNN() -> Graph {
        let t: [GraphTensor] = [
            GraphTensor(name: "input", shape: [1, 8, 8, 1], elementType: .float32, shapeSignature: [-1, 8, 8, 1]),
            GraphTensor(name: "conv/w", shape: [4, 3, 3, 1], elementType: .float32, data: ConstantData(float32: floats(36))),
            GraphTensor(name: "conv/b", shape: [4], elementType: .float32, data: ConstantData(float32: floats(4, seed: 2))),
            GraphTensor(name: "conv", shape: [1, 8, 8, 4], elementType: .float32),
            GraphTensor(name: "pool", shape: [1, 4, 4, 4], elementType: .float32),
            GraphTensor(name: "shape", shape: [2], elementType: .int32, data: ConstantData(int32: [-1, 64])),
            GraphTensor(name: "flat", shape: [1, 64], elementType: .float32),
            GraphTensor(name: "fc/w", shape: [10, 64], elementType: .float32, data: ConstantData(float32: floats(640, seed: 3))),
            GraphTensor(name: "fc/b", shape: [10], elementType: .float32, data: ConstantData(float32: floats(10, seed: 4))),
            GraphTensor(name: "logits", shape: [1, 10], elementType: .float32),
            GraphTensor(name: "probs", shape: [1, 10], elementType: .float32),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.conv2D(.init(padding: .same, fusedActivation: .relu)), inputs: [0, 1, 2], outputs: [3]),
            GraphOperator(.maxPool2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [3], outputs: [4]),
            GraphOperator(.reshape(.init()), inputs: [4, 5], outputs: [6]),
            GraphOperator(.fullyConnected(.init()), inputs: [6, 7, 8], outputs: [9]),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [9], outputs: [10]),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [10], name: "main",
                     metadata: [.init(name: "min_runtime_version", bytes: Array("1.5.0".utf8) + [UInt8](repeating: 0, count: 11))])
    }

    /// QUANTIZE → CONV_2D (per-channel) → MAX_POOL_2D → RESHAPE → FULLY_CONNECTED (per-tensor) → SOFTMAX → DEQUANTIZE.
    static func int8CNN() -> Graph {
        let act = GraphTensor.Quantization(scale: 0.02, zeroPoint: -3)
        let inQ = GraphTensor.Quantization(scale: 1.0 / 255, zeroPoint: -128)
        let wScales: [Float] = [0.01, 0.02, 0.03, 0.04]
        let t: [GraphTensor] = [
            GraphTensor(name: "input", shape: [1, 8, 8, 1], elementType: .float32),
            GraphTensor(name: "input_q", shape: [1, 8, 8, 1], elementType: .int8, quantization: inQ),
            GraphTensor(name: "conv/w", shape: [4, 3, 3, 1], elementType: .int8,
                        quantization: .init(scales: wScales, zeroPoints: [0, 0, 0, 0], quantizedDimension: 0),
                        data: ConstantData(int8: (0..<36).map { Int8($0 * 7 % 255 - 127) })),
            GraphTensor(name: "conv/b", shape: [4], elementType: .int32,
                        quantization: .init(scales: wScales.map { $0 / 255 }, zeroPoints: [0, 0, 0, 0]),
                        data: ConstantData(int32: [100, -200, 300, 0])),
            GraphTensor(name: "conv", shape: [1, 8, 8, 4], elementType: .int8, quantization: act),
            GraphTensor(name: "pool", shape: [1, 4, 4, 4], elementType: .int8, quantization: act),
            GraphTensor(name: "shape", shape: [2], elementType: .int32, data: ConstantData(int32: [-1, 64])),
            GraphTensor(name: "flat", shape: [1, 64], elementType: .int8, quantization: act),
            GraphTensor(name: "fc/w", shape: [10, 64], elementType: .int8, quantization: .init(scale: 0.005, zeroPoint: 0),
                        data: ConstantData(int8: (0..<640).map { Int8($0 * 13 % 255 - 127) })),
            GraphTensor(name: "fc/b", shape: [10], elementType: .int32, quantization: .init(scale: 0.0001, zeroPoint: 0),
                        data: ConstantData(int32: Array(0..<10))),
            GraphTensor(name: "logits", shape: [1, 10], elementType: .int8, quantization: .init(scale: 0.1, zeroPoint: 2)),
            GraphTensor(name: "probs_q", shape: [1, 10], elementType: .int8, quantization: .init(scale: 1.0 / 256, zeroPoint: -128)),
            GraphTensor(name: "probs", shape: [1, 10], elementType: .float32),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.quantize, inputs: [0], outputs: [1], version: 1),
            GraphOperator(.conv2D(.init(padding: .same, fusedActivation: .relu6)), inputs: [1, 2, 3], outputs: [4], version: 3),
            GraphOperator(.maxPool2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [4], outputs: [5], version: 2),
            GraphOperator(.reshape(.init(newShape: [1, 64])), inputs: [5, 6], outputs: [7]),
            GraphOperator(.fullyConnected(.init(fusedActivation: .none)), inputs: [7, 8, 9], outputs: [10], version: 4),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [10], outputs: [11], version: 2),
            GraphOperator(.dequantize, inputs: [11], outputs: [12], version: 2),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [12])
    }

    /// DEPTHWISE_CONV_2D → AVERAGE_POOL_2D → ADD (broadcast constant) → MEAN → FULLY_CONNECTED
    /// (hybrid, per-channel, keepNumDims) with a float16 bias behind DEQUANTIZE; no-bias FC at the end.
    static func mixedOps() -> Graph {
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [1, 6, 6, 2], elementType: .float32),
            GraphTensor(name: "dw/w", shape: [1, 3, 3, 4], elementType: .float32, data: ConstantData(float32: floats(36, seed: 5))),
            GraphTensor(name: "dw/b", shape: [4], elementType: .float32, data: ConstantData(float32: floats(4, seed: 6))),
            GraphTensor(name: "dw", shape: [1, 4, 4, 4], elementType: .float32),
            GraphTensor(name: "avg", shape: [1, 2, 2, 4], elementType: .float32),
            GraphTensor(name: "offset", shape: [4], elementType: .float32, data: ConstantData(float32: [1, 2, 3, 4])),
            GraphTensor(name: "sum", shape: [1, 2, 2, 4], elementType: .float32),
            GraphTensor(name: "axes", shape: [2], elementType: .int32, data: ConstantData(int32: [1, -2])),
            GraphTensor(name: "mean", shape: [1, 1, 1, 4], elementType: .float32),
            GraphTensor(name: "fc/w", shape: [3, 4], elementType: .int8,
                        quantization: .init(scales: [0.1, 0.2, 0.3], zeroPoints: [0, 0, 0], quantizedDimension: 0),
                        data: ConstantData(int8: [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -127])),
            GraphTensor(name: "fc/b16", shape: [3], elementType: .float16, data: ConstantData(float16Bits: [0x3C00, 0xC000, 0x0001])),
            GraphTensor(name: "fc/b", shape: [3], elementType: .float32),
            GraphTensor(name: "fc", shape: [1, 1, 1, 3], elementType: .float32),
            GraphTensor(name: "fc2/w", shape: [2, 3], elementType: .float32, data: ConstantData(float32: floats(6, seed: 7))),
            GraphTensor(name: "out", shape: [1, 2], elementType: .float32),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.depthwiseConv2D(.init(padding: .valid, depthMultiplier: 2, fusedActivation: .reluN1To1)),
                          inputs: [0, 1, 2], outputs: [3], version: 1),
            GraphOperator(.averagePool2D(.init(padding: .same, strideWidth: 2, strideHeight: 2, filterWidth: 3, filterHeight: 3)),
                          inputs: [3], outputs: [4]),
            GraphOperator(.add(.init(fusedActivation: .relu)), inputs: [4, 5], outputs: [6], version: 1),
            GraphOperator(.mean(.init(keepDims: true)), inputs: [6, 7], outputs: [8]),
            GraphOperator(.dequantize, inputs: [10], outputs: [11], version: 3),
            GraphOperator(.fullyConnected(.init(keepNumDims: true, asymmetricQuantizeInputs: true)),
                          inputs: [8, 9, 11], outputs: [12], version: 12),
            GraphOperator(.fullyConnected(.init()), inputs: [12, 13, -1], outputs: [14], version: 6),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [14], description: "mixed ops")
    }

    static var all: [(String, Graph)] {
        [("floatCNN", floatCNN()), ("int8CNN", int8CNN()), ("mixedOps", mixedOps())]
    }
}
