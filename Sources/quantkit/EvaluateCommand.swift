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
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        let progress = ProgressNote(total: test.count, label: "evaluate")
        let evaluation: ClassifierEvaluation
        do {
            evaluation = try interpreter.evaluateClassifier(on: test, progress: progress.callback)
        } catch let error as ClassifierEvaluationError {
            throw CLIError("\(model): \(error)")
        }
        note(String(format: "evaluated %d images in %.2f s (%d thread%@, %@ kernels)", evaluation.count, evaluation.seconds,
                    interpreter.threadCount, interpreter.threadCount == 1 ? "" : "s", interpreter.options.kernels.rawValue))
        try report(format: "tflite", accuracy: evaluation.accuracy, loss: evaluation.loss, count: evaluation.count,
                   seconds: evaluation.seconds,
                   extra: ["kernels": interpreter.options.kernels.rawValue, "threads": interpreter.threadCount])
    }
}
