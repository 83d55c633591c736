import Datasets
import Foundation
import Quantization
import Runtime
import TFLite
import TensorCore
import Testing

/// Golden files (`../shared/golden`, or `$QUANTKIT_SHARED/golden`) and the anchor's calibration set.
enum Golden {
    static let sharedDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["QUANTKIT_SHARED"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared", isDirectory: true)
    }()

    static func url(_ file: String) -> URL {
        sharedDirectory.appendingPathComponent("golden", isDirectory: true).appendingPathComponent(file)
    }

    static func model(_ name: String) throws -> Graph {
        try TFLiteFile.read(contentsOf: url("\(name).tflite"))
    }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(file)))
    }

    /// The 1000 golden test images, float32 NHWC [1000, 28, 28, 1], pixel/255.
    static func inputs() throws -> [Float] {
        let b = try bytes("input.f32.bin")
        return b.withUnsafeBytes { raw in (0..<(b.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
    }

    static func labels() throws -> [UInt8] { try bytes("labels.u8.bin") }

    /// Images the accuracy tests run: 250 by default (fast on a 2-core CI), all 1000 with
    /// `QUANTKIT_LONG_TESTS=1`.
    static let imageCount: Int = {
        let long = ProcessInfo.processInfo.environment["QUANTKIT_LONG_TESTS"].map { $0 != "" && $0 != "0" } ?? false
        return long ? 1000 : 250
    }()

    /// Top-1 accuracy of a golden model's LiteRT BUILTIN_REF outputs on the first `count` images.
    static func referenceAccuracy(_ model: String, int8: Bool, count: Int) throws -> Double {
        let raw = try bytes("\(model).ref.\(int8 ? "i8" : "f32").bin")
        let labels = try labels()
        var correct = 0
        for s in 0..<count {
            var best = 0
            var bestValue = -Float.infinity
            for c in 0..<10 {
                let v: Float = int8 ? Float(Int8(bitPattern: raw[s * 10 + c]))
                    : Float(bitPattern: UInt32(raw[(s * 10 + c) * 4]) | UInt32(raw[(s * 10 + c) * 4 + 1]) << 8
                        | UInt32(raw[(s * 10 + c) * 4 + 2]) << 16 | UInt32(raw[(s * 10 + c) * 4 + 3]) << 24)
                if v > bestValue { bestValue = v; best = c }
            }
            if best == Int(labels[s]) { correct += 1 }
        }
        return Double(correct) / Double(count)
    }

    /// Accuracy of a golden model under LiteRT's reference kernels, from `manifest.json`.
    static func accuracy(_ model: String) throws -> Double {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url("manifest.json"))) as! [String: Any]
        let models = json["models"] as! [String: Any]
        let m = models[model] as! [String: Any]
        return (m["accuracy"] as! [String: Any])["ref"] as! Double
    }

    /// The anchor's representative dataset: FashionMNIST training images
    /// `np.random.default_rng(0).permutation(60000)[:500]`, pixel / 255 in float32 (NumPy's
    /// float32 division, which `Float(p) * (1/255)` does not always reproduce), one image per batch
    /// as the anchor's `representative_dataset` yields them.
    static func anchorCalibrationBatches() throws -> [[Float]] {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/anchor_calibration_indices.txt")
        let indices = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.compactMap { Int($0) }
        let train = try FashionMNIST.load(.train)
        let size = train.sampleSize
        return indices.map { i in
            train.images[(i * size)..<((i + 1) * size)].map { Float(($0 * 255).rounded()) / 255 }
        }
    }
}

/// Lazily computed, shared by the tests of a run (quantizing with 500 calibration images once).
enum Seed {
    static let float: Swift.Result<Graph, any Error> = Swift.Result { try Golden.model("seed_float") }
    static let calibration: Swift.Result<[[Float]], any Error> = Swift.Result { try Golden.anchorCalibrationBatches() }

    static func quantized(_ mode: Quantizer.Mode, options: Quantizer.Options = .init()) throws -> Quantizer.Result {
        switch mode {
        case .fullInteger(.int8, .int8) where options == .init(): return try int8.get()
        case .fullInteger(.float32, .float32) where options == .init(): return try int8FloatIO.get()
        default: return try Quantizer(mode, options: options).quantize(float.get(), representativeData: calibration.get())
        }
    }

    static let int8: Swift.Result<Quantizer.Result, any Error> = Swift.Result {
        try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(float.get(), representativeData: calibration.get())
    }
    static let int8FloatIO: Swift.Result<Quantizer.Result, any Error> = Swift.Result {
        try Quantizer(.fullInteger(input: .float32, output: .float32)).quantize(float.get(), representativeData: calibration.get())
    }
}

/// Runs `graph` on the golden inputs with QuantKit's reference interpreter; returns raw output bytes
/// (one [1, 10] output per image) and the top-1 accuracy against the golden labels.
func runGolden(_ graph: Graph, limit: Int = Golden.imageCount) throws -> (bytes: [UInt8], accuracy: Double) {
    let inputs = try Golden.inputs()
    let labels = try Golden.labels()
    let interpreter = try Interpreter(graph: graph, options: InterpreterOptions(batchCapacity: 16, threadCount: 2))
    let input = interpreter.inputTensor, output = interpreter.outputTensor
    let count = min(limit, labels.count)
    var inputBytes: [UInt8]
    let floats = Array(inputs[0..<(count * input.elementCount)])
    if input.elementType == .int8 {
        inputBytes = input.quantizeInput(floats).map { UInt8(bitPattern: $0) }
    } else {
        inputBytes = floats.withUnsafeBytes { [UInt8]($0) }
    }
    var out = [UInt8](repeating: 0, count: count * output.byteCount)
    try inputBytes.withUnsafeBytes { i in
        try out.withUnsafeMutableBytes { o in try interpreter.run(input: i, count: count, output: o) }
    }
    let classes = output.elementCount
    var correct = 0
    out.withUnsafeBytes { raw in
        for s in 0..<count {
            var best = 0
            var bestValue = -Float.infinity
            for c in 0..<classes {
                let v: Float = output.elementType == .int8
                    ? Float(raw.load(fromByteOffset: s * classes + c, as: Int8.self))
                    : Float(bitPattern: raw.loadUnaligned(fromByteOffset: (s * classes + c) * 4, as: UInt32.self))
                if v > bestValue { bestValue = v; best = c }
            }
            if best == Int(labels[s]) { correct += 1 }
        }
    }
    return (out, Double(correct) / Double(count))
}

/// How a quantized graph compares with TensorFlow's for the same mode, operator by operator.
struct GraphComparison: CustomStringConvertible {
    var structureDifferences: [String] = []
    /// Quantized tensors (weights, biases, activations) compared, and how many have exactly TF's parameters.
    var quantizedTensors = 0
    var exactParameters = 0
    var parameterDifferences: [String] = []
    /// Over the parameters that differ: the largest scale difference in float32 ulps, and how many
    /// zero points or scale counts differ.
    var maxScaleUlps = 0
    var zeroPointDifferences = 0
    /// Constant tensors compared and how many are byte-identical; elements that differ.
    var constants = 0
    var identicalConstants = 0
    var differingElements = 0
    var constantDifferences: [String] = []

    var description: String {
        """
        structure differences: \(structureDifferences.count) \(structureDifferences.prefix(5))
        quantization parameters: \(exactParameters)/\(quantizedTensors) exact \(parameterDifferences.prefix(12))
        constants: \(identicalConstants)/\(constants) identical, \(differingElements) elements differ \(constantDifferences.prefix(8))
        """
    }

    /// Pairs the non-DEQUANTIZE-of-constant operators in order and compares every operand; operands
    /// produced by a DEQUANTIZE of a constant (float16 weights) are followed to the constant.
    init(_ ours: Graph, _ theirs: Graph) {
        func main(_ g: Graph) -> [GraphOperator] {
            g.operators.filter { !($0.kind == .dequantize && g.tensors[$0.inputs[0]].isConstant) }
        }
        func source(_ g: Graph, _ t: Int) -> Int {
            if let p = g.producer(of: t), g.operators[p].kind == .dequantize, g.tensors[g.operators[p].inputs[0]].isConstant {
                return g.operators[p].inputs[0]
            }
            return t
        }
        let (a, b) = (main(ours), main(theirs))
        if a.map(\.kind) != b.map(\.kind) { structureDifferences.append("kinds \(a.map(\.kind)) vs \(b.map(\.kind))") }
        if ours.operators.map(\.kind).sorted(by: { $0.rawValue < $1.rawValue }) != theirs.operators.map(\.kind).sorted(by: { $0.rawValue < $1.rawValue }) {
            structureDifferences.append("operator multisets differ: \(ours.operators.count) vs \(theirs.operators.count) operators")
        }
        for (j, (x, y)) in zip(a, b).enumerated() {
            if x.options != y.options { structureDifferences.append("op \(j) options \(x.options) vs \(y.options)") }
            if x.version != y.version { structureDifferences.append("op \(j) \(x.kind) version \(x.version) vs \(y.version)") }
            if x.inputs.count != y.inputs.count { structureDifferences.append("op \(j) input count"); continue }
            for (k, (p, q)) in zip(x.inputs + x.outputs, y.inputs + y.outputs).enumerated() {
                guard p >= 0, q >= 0 else {
                    if (p < 0) != (q < 0) { structureDifferences.append("op \(j) operand \(k) presence") }
                    continue
                }
                let (s, t) = (ours.tensors[source(ours, p)], theirs.tensors[source(theirs, q)])
                if s.shape != t.shape || s.elementType != t.elementType {
                    structureDifferences.append("op \(j) operand \(k): \(s.elementType) \(s.shape) vs \(t.elementType) \(t.shape)")
                    continue
                }
                if s.quantization != nil || t.quantization != nil {
                    quantizedTensors += 1
                    if s.quantization == t.quantization {
                        exactParameters += 1
                    } else {
                        let (qs, qt) = (s.quantization, t.quantization)
                        let ourScales: [Float] = qs?.scales ?? []
                        let tfScales: [Float] = qt?.scales ?? []
                        var ulps = 0
                        for (u, v) in zip(ourScales, tfScales) { ulps = max(ulps, abs(Int(u.bitPattern) - Int(v.bitPattern))) }
                        let ourZP: [Int64] = qs?.zeroPoints ?? []
                        let tfZP: [Int64] = qt?.zeroPoints ?? []
                        maxScaleUlps = max(maxScaleUlps, ulps)
                        if ourZP != tfZP || ourScales.count != tfScales.count { zeroPointDifferences += 1 }
                        parameterDifferences.append("op \(j) operand \(k) '\(t.name)': scales \(ourScales.prefix(2)) vs \(tfScales.prefix(2)) (max \(ulps) ulp), zp \(ourZP.prefix(2)) vs \(tfZP.prefix(2))")
                    }
                }
                if let d = s.data, let e = t.data {
                    constants += 1
                    if d == e {
                        identicalConstants += 1
                    } else {
                        let size = s.elementType.byteSize
                        var n = 0
                        for i in stride(from: 0, to: min(d.bytes.count, e.bytes.count), by: size) where d.bytes[i..<(i + size)] != e.bytes[i..<(i + size)] { n += 1 }
                        differingElements += n
                        constantDifferences.append("'\(t.name)' \(n) of \(d.bytes.count / size)")
                    }
                }
            }
        }
    }
}
