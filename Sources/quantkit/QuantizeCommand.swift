import ArgumentParser
import Foundation
import QuantKit

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Post-training quantization of a float model to a .tflite file.",
        discussion: """
            MODEL is a QuantKit model (.qkmodel) or a float .tflite made of supported operators. \
            Modes: dynamic (int8 weights, float activations), int8 (full integer, calibrated on \
            FashionMNIST training images drawn with a fixed seed), float16 (float16 weights).

            A quantization-aware model (`quantkit train --qat`) converts in int8 mode only, with the ranges \
            it learned: no calibration data, weight granularity as trained. --compare N runs the source model \
            and the quantized one on the first N test images and reports how often their top-1 predictions \
            agree (for a QAT model: the simulated int8 model against the real one).
            """
    )

    enum ModeName: String, ExpressibleByArgument, CaseIterable { case dynamic, int8, float16 }
    enum IOName: String, ExpressibleByArgument, CaseIterable { case int8, float32 }

    @Argument(help: ArgumentHelp("The float model (.qkmodel or .tflite).", valueName: "model")) var model: String
    @Option(help: "dynamic | int8 | float16") var mode: ModeName
    @Option(help: "int8 mode: the type of the model's input and output.") var io: IOName = .int8
    @Option(name: .customLong("calibration-samples"), help: "int8 mode: representative images.") var calibrationSamples = 500
    @Option(help: "Seed of the calibration images' draw.") var seed: UInt64 = 0
    @Flag(name: .customLong("per-tensor"), help: "One weight scale per tensor instead of per output channel.") var perTensor = false
    @Flag(name: .customLong("allow-float-fallback"), help: "int8 mode: keep unquantizable operators in float instead of failing.")
    var allowFloatFallback = false
    @Option(help: ArgumentHelp("Compare top-1 predictions of the source and the quantized model on the first N test images.",
                               valueName: "n"))
    var compare: Int?
    @OptionGroup var dataOptions: DataOptions
    @Option(help: ArgumentHelp("Where to write the quantized model.", valueName: "out.tflite")) var output: String

    func validate() throws {
        guard calibrationSamples >= 1 else { throw ValidationError("--calibration-samples must be at least 1") }
        if let compare, compare < 1 || compare > 10_000 { throw ValidationError("--compare must be in 1...10000") }
    }

    func run() throws {
        let source = try ModelSource.load(model)
        if case .qkmodel(let network, _) = source, network.isQuantizationAware {
            return try quantizeQAT(network, floatGraph: source.graph)
        }
        let floatGraph = source.graph
        let quantizerMode: Quantizer.Mode
        switch mode {
        case .dynamic: quantizerMode = .dynamicRange
        case .float16: quantizerMode = .float16
        case .int8:
            let t: Quantizer.IOType = io == .int8 ? .int8 : .float32
            quantizerMode = .fullInteger(input: t, output: t)
        }
        let quantizer = Quantizer(quantizerMode, options: .init(perChannelWeights: !perTensor, allowsFloatFallback: allowFloatFallback))
        let start = Date()
        let result: Quantizer.Result
        if mode == .int8 {
            note("Calibrating on \(calibrationSamples) FashionMNIST training images (seed \(seed)) ...")
            let train = try FashionMNIST.load(.train, directory: dataOptions.data)
            let batches = train.representativeBatches(count: calibrationSamples, seed: seed)
            result = try quantizer.quantize(floatGraph, representativeData: batches)
        } else {
            result = try quantizer.quantize(floatGraph)
        }
        let seconds = Date().timeIntervalSince(start)
        let floatBytes = try TFLiteFile.encode(floatGraph).count
        let bytes = try TFLiteFile.encode(result.graph, options: .converterLike)
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: output))
        print(result.report.description)
        print(String(format: "%@: %@ -> %@ bytes (%.1f%% of the float model), quantized in %.2f s",
                     output, grouped(floatBytes), grouped(bytes.count), 100 * Double(bytes.count) / Double(floatBytes), seconds))
        if let compare, case .qkmodel(let network, _) = source {
            try compareTop1(network, result.graph, count: compare, data: dataOptions.data)
        }
    }

    /// A quantization-aware model: int8 with its learned ranges, no calibration.
    func quantizeQAT(_ network: Sequential, floatGraph: Graph) throws {
        guard mode == .int8 else {
            throw CLIError("""
                \(model) was trained quantization-aware: it converts with --mode int8 (its learned ranges, no calibration data); \
                for its float weights use `quantkit export`
                """)
        }
        guard !perTensor else {
            throw CLIError("\(model) was trained quantization-aware: its weight granularity was fixed in training (train with --per-channel-dense to change Dense)")
        }
        let t: Quantizer.IOType = io == .int8 ? .int8 : .float32
        note("Converting the quantization-aware model with its learned ranges (no calibration data)")
        let start = Date()
        let result = try QATModel(network).quantize(input: t, output: t)
        let seconds = Date().timeIntervalSince(start)
        let floatBytes = try TFLiteFile.encode(floatGraph).count
        let bytes = try TFLiteFile.encode(result.graph, options: .converterLike)
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: output))
        print(result.report.description)
        for n in result.report.notes { note("warning: \(n)") }
        print(String(format: "%@: %@ -> %@ bytes (%.1f%% of the float model), converted from learned ranges in %.2f s",
                     output, grouped(floatBytes), grouped(bytes.count), 100 * Double(bytes.count) / Double(floatBytes), seconds))
        if let compare { try compareTop1(network, result.graph, count: compare, data: dataOptions.data) }
    }
}

/// Runs `network` (QuantKit's training code, in inference mode) and `quantized` (the interpreter,
/// fast kernels) on the first `count` test images and prints how often their top-1 predictions agree,
/// and each one's accuracy.
func compareTop1(_ network: Sequential, _ quantized: Graph, count: Int, data: String?) throws {
    let test = try FashionMNIST.load(.test, directory: data).prefix(count)
    let n = test.count
    let (images, _) = test.batch(0..<n)
    let reference = try network.predict(images)
    let interpreter = try Interpreter(graph: quantized, options: InterpreterOptions(kernels: .fast, threadCount: defaultThreadCount))
    let quantizedResult: ClassifierEvaluation
    do {
        quantizedResult = try interpreter.evaluateClassifier(on: test)
    } catch let error as ClassifierEvaluationError {
        throw CLIError("the quantized model: \(error)")
    }
    let classes = reference.shape.last ?? 1
    var agree = 0, correctReference = 0, correctQuantized = 0
    for s in 0..<n {
        var a = 0
        for k in 0..<classes where reference.storage[s * classes + k] > reference.storage[s * classes + a] { a = k }
        let b = quantizedResult.predictions[s]
        let label = Int(test.labels[s])
        if a == b { agree += 1 }
        if a == label { correctReference += 1 }
        if b == label { correctQuantized += 1 }
    }
    print(String(format: "top-1 agreement with the source model on %d test images: %.2f%% (%d differ); accuracy source %.2f%%, quantized %.2f%%",
                 n, 100 * Double(agree) / Double(n), n - agree, 100 * Double(correctReference) / Double(n),
                 100 * Double(correctQuantized) / Double(n)))
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a QuantKit model as a float32 .tflite file (no quantization)."
    )

    @Argument(help: ArgumentHelp("A QuantKit model (.qkmodel).", valueName: "model")) var model: String
    @Option(help: ArgumentHelp("Where to write the .tflite file.", valueName: "out.tflite")) var output: String

    func run() throws {
        let graph = try ModelSource.load(model).graph
        let bytes = try TFLiteFile.encode(graph, options: .converterLike)
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: output))
        print("\(output): \(grouped(bytes.count)) bytes, \(graph.operators.count) operators")
    }
}
