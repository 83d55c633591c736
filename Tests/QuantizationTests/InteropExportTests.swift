import Foundation
import Quantization
import Runtime
import TFLite
import TensorCore
import Testing

/// With `QUANTKIT_EXPORT_DIR` set, quantizes the golden `seed_float` in every mode, writes the
/// models and QuantKit's own interpreter outputs there for `Tests/Interop/interop_test.sh`; does
/// nothing otherwise.
///
/// Files, for each model `qk_<mode>`:
///
/// - `qk_<mode>.tflite` (written with `TFLiteFile.write`, default options)
/// - `qk_<mode>.input.<f32|i8>.bin`: the golden images as the model's input takes them (int8
///   inputs quantized with the model's input parameters, as the golden pipeline does)
/// - `qk_<mode>.quantkit.<f32|i8>.bin`: QuantKit's reference-interpreter outputs, one per image
/// - `models.txt`: one line per model: `name input-file output-file dtype`
@Suite struct InteropExportTests {
    @Test func exportQuantizedModelsForInterop() throws {
        guard let path = ProcessInfo.processInfo.environment["QUANTKIT_EXPORT_DIR"], !path.isEmpty else { return }
        let directory = URL(fileURLWithPath: path, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let limit = ProcessInfo.processInfo.environment["QUANTKIT_INTEROP_LIMIT"].flatMap { Int($0) } ?? 1000
        let models: [(String, Quantizer.Result)] = [
            ("qk_dynamic", try Quantizer(.dynamicRange).quantize(Seed.float.get())),
            ("qk_int8", try Seed.quantized(.fullInteger(input: .int8, output: .int8))),
            ("qk_int8_floatio", try Seed.quantized(.fullInteger(input: .float32, output: .float32))),
            ("qk_float16", try Quantizer(.float16).quantize(Seed.float.get())),
        ]
        let images = try Golden.inputs()
        var lines: [String] = []
        for (name, result) in models {
            let graph = result.graph
            try TFLiteFile.write(graph, to: directory.appendingPathComponent("\(name).tflite"))
            let interpreter = try Interpreter(graph: graph, options: InterpreterOptions(threadCount: 2))
            let input = interpreter.inputTensor, output = interpreter.outputTensor
            let floats = Array(images[0..<(limit * input.elementCount)])
            let inputBytes: [UInt8] = input.elementType == .int8
                ? input.quantizeInput(floats).map { UInt8(bitPattern: $0) }
                : floats.withUnsafeBytes { [UInt8]($0) }
            var outputBytes = [UInt8](repeating: 0, count: limit * output.byteCount)
            try inputBytes.withUnsafeBytes { i in
                try outputBytes.withUnsafeMutableBytes { o in try interpreter.run(input: i, count: limit, output: o) }
            }
            let inSuffix = input.elementType == .int8 ? "i8" : "f32"
            let outSuffix = output.elementType == .int8 ? "i8" : "f32"
            let inputFile = "\(name).input.\(inSuffix).bin", outputFile = "\(name).quantkit.\(outSuffix).bin"
            try Data(inputBytes).write(to: directory.appendingPathComponent(inputFile))
            try Data(outputBytes).write(to: directory.appendingPathComponent(outputFile))
            lines.append("\(name) \(inputFile) \(outputFile) \(outSuffix)")
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("models.txt"))
    }
}
