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
    @OptionGroup var dataOptions: DataOptions
    @Option(help: ArgumentHelp("Where to write the quantized model.", valueName: "out.tflite")) var output: String

    func validate() throws {
        guard calibrationSamples >= 1 else { throw ValidationError("--calibration-samples must be at least 1") }
    }

    func run() throws {
        let source = try ModelSource.load(model)
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
            let images = train.split(validationCount: 5000, seed: seed).train.prefix(calibrationSamples)
            let per = images.sampleSize
            let batches = stride(from: 0, to: images.count, by: 32).lazy.map { lo in
                Array(images.images[(lo * per)..<(min(lo + 32, images.count) * per)])
            }
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
    }
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
