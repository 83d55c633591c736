// The seed pipeline as a Swift program: train the FashionMNIST CNN, quantize it after training three
// ways, train it quantization-aware, write the .tflite files and evaluate each one on QuantKit's
// interpreter. `quantkit demo` does the same with checkpoints, benchmarks and a report.
//
//     swift run -c release SeedPipeline [OUTPUT_DIR]        (EPOCHS=5 and LIMIT=N training images)
//
// The README's Swift snippets are copied from this file; a test keeps them in sync.
import Foundation
import QuantKit

let output = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "seed-pipeline")
let environment = ProcessInfo.processInfo.environment
let epochs = Int(environment["EPOCHS"] ?? "") ?? 5
try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)

// Data: FashionMNIST from the Debian package dataset-fashion-mnist, pixels scaled to [0, 1].
let all = try FashionMNIST.load(.train)
let test = try FashionMNIST.load(.test)
var (train, validation) = all.split(validationCount: 5000)
if let limit = Int(environment["LIMIT"] ?? "") { train = train.prefix(limit) }

// Train the float model, Keras style.
let model = Sequential(inputShape: [28, 28, 1], seed: 0) {
    Conv2D(filters: 64, kernelSize: 2, padding: .same, activation: .relu)
    MaxPooling2D()
    Dropout(0.2)
    Conv2D(filters: 128, kernelSize: 2, padding: .same, activation: .relu)
    MaxPooling2D()
    Dropout(0.2)
    Flatten()
    Dense(256)
    Activation(.relu)
    Dropout(0.2)
    Dense(10)
    Activation(.softmax)
}
model.compile(optimizer: Adam(learningRate: 1e-3), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
try model.fit(train, epochs: epochs, batchSize: 64, validation: validation)
try model.save(to: output.appendingPathComponent("float.qkmodel"))

// Post-training quantization: dynamic range, full integer (calibrated, int8 in and out), float16.
let floatGraph = try model.graph()
let dynamicRange = try Quantizer(.dynamicRange).quantize(floatGraph)
let int8 = try Quantizer(.fullInteger(input: .int8, output: .int8))
    .quantize(floatGraph, representativeData: all.representativeBatches(count: 500))
let float16 = try Quantizer(.float16).quantize(floatGraph)

// Quantization-aware training: fine-tune a fake-quantized copy for one epoch, convert with its learned ranges.
let qat = try QAT.prepare(try model.copy())
qat.compile(optimizer: Adam(learningRate: 1e-4))
try qat.fit(train, epochs: 1, batchSize: 64, validation: validation)
let qatInt8 = try qat.quantize(input: .int8, output: .int8)

// Write each model as a .tflite file (LiteRT runs them) and evaluate it on the 10,000 test images.
let variants = [("float32", floatGraph), ("dynamic_range", dynamicRange.graph), ("int8", int8.graph),
                ("float16", float16.graph), ("qat_int8", qatInt8.graph)]
for (name, graph) in variants {
    let file = output.appendingPathComponent("\(name).tflite")
    try TFLiteFile.write(graph, to: file, options: .converterLike)
    let interpreter = try Interpreter(graph: try TFLiteFile.read(contentsOf: file), options: InterpreterOptions(kernels: .fast))
    let result = try interpreter.evaluateClassifier(on: test)
    let bytes = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
    print("\(name).tflite: \(bytes) bytes, test accuracy \(String(format: "%.2f", result.accuracy * 100))%")
}
