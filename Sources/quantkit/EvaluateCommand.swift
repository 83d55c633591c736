import ArgumentParser
import Foundation
import QuantKit

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy and loss of a model on the 10,000 FashionMNIST test images.",
        discussion: """
            MODEL is a QuantKit model (.qkmodel) or a TFLite flatbuffer (recognized by its "TFL3" identifier, \
            whatever its extension), which runs on QuantKit's interpreter with --kernels (fast by default; \
            reference is bit-exact with LiteRT's BUILTIN_REF, and the fast int8 kernels equal it value for value). \
            An int8 model input gets the [0, 1] images quantized with its scale and zero point \
            (round half away from zero, clamped). Loss is the mean of -log(max(p, 1e-7)) of the true class when \
            the output is a probability vector (SOFTMAX, or its DEQUANTIZE).
            """
    )

    @Argument(help: ArgumentHelp("A QuantKit model (.qkmodel) or a .tflite file.", valueName: "model")) var model: String
    @Flag(help: "Print one JSON object on standard output.") var json = false
    @OptionGroup(title: "A .tflite model's interpreter") var interpreterArguments: InterpreterArguments
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let url = URL(fileURLWithPath: model)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("\(model): no such file") }
        if isTFLiteFile(model) { return try evaluateTFLite() }
        let network = try Sequential.load(from: url)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        let start = Date()
        let evaluation = try network.evaluate(test)
        let seconds = Date().timeIntervalSince(start)
        try report(format: "qkmodel", accuracy: evaluation.accuracy, loss: evaluation.loss, count: evaluation.count, seconds: seconds)
    }

    func report(format: String, accuracy: Double, loss: Double?, count: Int, seconds: Double,
                extra: [String: Any] = [:]) throws {
        if json {
            var object: [String: Any] = ["model": model, "format": format, "accuracy": accuracy,
                                         "loss": loss.map { $0 as Any } ?? NSNull(), "count": count, "seconds": seconds]
            object.merge(extra) { _, new in new }
            try printJSON(object)
        } else {
            let lossText = loss.map { String(format: ", loss %.4f", $0) } ?? ""
            print(String(format: "%@: accuracy %.2f%% (%d of %d)%@", model, accuracy * 100,
                         Int((accuracy * Double(count)).rounded()), count, lossText))
        }
    }

    func evaluateTFLite() throws {
        let graph = try readTFLite(model)
        let interpreter = try Interpreter(graph: graph, options: interpreterArguments.options())
        let (i, o) = (interpreter.inputTensor, interpreter.outputTensor)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        guard i.elementCount == test.sampleSize else {
            throw CLIError("\(model): input \(i.elementType) \(Shape.describe(i.shape)) does not take one 28×28 FashionMNIST image")
        }
        guard o.elementCount >= 1, o.elementType == .float32 || o.elementType == .int8 else {
            throw CLIError("\(model): output \(o.elementType) \(Shape.describe(o.shape)) is not class scores")
        }
        let n = test.count, classes = o.elementCount
        // The images exactly as the TensorFlow pipeline fed LiteRT: pixel / 255 as a float32 division
        // (FashionMNIST.load multiplies by 1/255, which differs in the last bit for some pixels).
        let images = test.images.map { Float(($0 * 255).rounded()) / 255 }
        // Inputs as the model takes them.
        var inputBytes: [UInt8]
        switch i.elementType {
        case .float32:
            inputBytes = images.withUnsafeBytes { [UInt8]($0) }
        case .int8 where i.quantization?.scales.count == 1:
            inputBytes = i.quantizeInput(images).map { UInt8(bitPattern: $0) }
        default:
            throw CLIError("\(model): input type \(i.elementType) is not supported by evaluate (float32 or per-tensor int8)")
        }
        var outputBytes = [UInt8](repeating: 0, count: n * o.byteCount)
        let start = Date()
        let progress = ProgressNote(total: n, label: "evaluate")
        try inputBytes.withUnsafeBytes { input in
            try outputBytes.withUnsafeMutableBytes { output in
                try interpreter.run(input: input, count: n, output: output, progress: progress.callback)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        inputBytes = []
        // Scores as floats (int8 dequantized with the output's parameters).
        let scores: [Float]
        if o.elementType == .float32 {
            scores = outputBytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        } else {
            let scale = o.quantization?.scales.first ?? 1, zeroPoint = o.quantization?.zeroPoints.first ?? 0
            scores = outputBytes.map { Float(Double(scale) * Double(Int64(Int8(bitPattern: $0)) - zeroPoint)) }
        }
        var correct = 0
        var lossSum = 0.0
        for s in 0..<n {
            let row = scores[(s * classes)..<((s + 1) * classes)]
            var best = row.startIndex
            for k in row.indices where row[k] > row[best] { best = k }  // first maximum, as numpy's argmax
            let label = Int(test.labels[s])
            if best - row.startIndex == label { correct += 1 }
            if label < classes { lossSum += -log(Double(max(row[row.startIndex + label], 1e-7))) }
        }
        let loss: Double? = Self.outputIsProbability(graph) ? lossSum / Double(n) : nil
        note(String(format: "evaluated %d images in %.2f s (%d thread%@, %@ kernels)", n, seconds,
                    interpreter.threadCount, interpreter.threadCount == 1 ? "" : "s", interpreter.options.kernels.rawValue))
        try report(format: "tflite", accuracy: Double(correct) / Double(n), loss: loss, count: n, seconds: seconds,
                   extra: ["kernels": interpreter.options.kernels.rawValue, "threads": interpreter.threadCount])
    }

    /// `true` when the output comes from SOFTMAX, directly or through a DEQUANTIZE.
    static func outputIsProbability(_ graph: Graph) -> Bool {
        guard let out = graph.outputs.first, var j = graph.producer(of: out) else { return false }
        if graph.operators[j].kind == .dequantize {
            guard let k = graph.producer(of: graph.operators[j].inputs[0]) else { return false }
            j = k
        }
        return graph.operators[j].kind == .softmax
    }
}
