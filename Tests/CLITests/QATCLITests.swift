import Foundation
import Testing

@Suite("quantkit train --qat / quantize a QAT model")
struct QATCLITests {
    @Test func qatFromScratchThenConvertWithoutCalibration() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("qat.qkmodel").path
        let train = try CLI.run(["train", "--qat", "--epochs", "1", "--limit", "256", "--validation", "128", "--output", model])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("test accuracy") && train.stdout.contains("quantization-aware"))
        #expect(train.stderr.contains("quant_conv2d (FakeQuantWrapp"), "the summary shows the QAT layers")
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))[8] == 2, "QAT model file, format version 2")

        let out = dir.appendingPathComponent("qat.tflite").path
        let quantize = try CLI.run(["quantize", model, "--mode", "int8", "--output", out, "--compare", "300"])
        #expect(quantize.status == 0, "\(quantize.stderr)")
        #expect(quantize.stderr.contains("learned ranges (no calibration data)"))
        #expect(quantize.stdout.contains("range 'conv2d'") && quantize.stdout.contains("dense/kernel': int8 symmetric, per tensor"))
        let agreement = try #require(quantize.stdout.split(separator: "\n").first { $0.contains("top-1 agreement") })
        #expect(agreement.contains("300 test images"), "\(agreement)")
        #expect(FileManager.default.fileExists(atPath: out))

        // The QAT model evaluates (simulated int8) and exports its float weights.
        let evaluate = try CLI.run(["evaluate", model, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let export = try CLI.run(["export", model, "--output", dir.appendingPathComponent("float.tflite").path])
        #expect(export.status == 0, "\(export.stderr)")

        // Other modes and --per-tensor make no sense for a QAT model: clear errors.
        let dynamic = try CLI.run(["quantize", model, "--mode", "dynamic", "--output", dir.appendingPathComponent("d.tflite").path])
        #expect(dynamic.status != 0 && dynamic.stderr.contains("--mode int8"))
        let perTensor = try CLI.run(["quantize", model, "--mode", "int8", "--per-tensor", "--output", out])
        #expect(perTensor.status != 0 && perTensor.stderr.contains("granularity"))
    }

    @Test func qatFineTuningOfASavedFloatModel() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let float = dir.appendingPathComponent("float.qkmodel").path
        let trained = try CLI.run(["train", "--epochs", "1", "--limit", "256", "--validation", "0", "--output", float])
        #expect(trained.status == 0, "\(trained.stderr)")
        let qat = dir.appendingPathComponent("ft.qkmodel").path
        let fineTune = try CLI.run(["train", "--qat", "--from", float, "--limit", "256", "--validation", "64",
                                    "--float-layer", "dense_1", "--output", qat])
        #expect(fineTune.status == 0, "\(fineTune.stderr)")
        #expect(fineTune.stderr.contains("Starting from") && fineTune.stderr.contains("Epoch 2/2"), "one epoch by default, counted on")
        #expect(fineTune.stderr.contains("dense_1 (Dense)"), "the opted-out layer stays a float Dense")
        let quantize = try CLI.run(["quantize", qat, "--mode", "int8", "--io", "float32", "--output", dir.appendingPathComponent("ft.tflite").path])
        #expect(quantize.status == 0, "\(quantize.stderr)")
        #expect(quantize.stdout.contains("float fallback operators"))
    }

    @Test func badQATArgumentsAreClearErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let unknown = try CLI.run(["train", "--qat", "--float-layer", "nope", "--limit", "64", "--output", dir.appendingPathComponent("m").path])
        #expect(unknown.status != 0 && unknown.stderr.contains("'nope'") && unknown.stderr.contains("conv2d_1"))
        let noQAT = try CLI.run(["train", "--float-layer", "dense", "--output", dir.appendingPathComponent("m").path])
        #expect(noQAT.status != 0 && noQAT.stderr.contains("need --qat"))
        let both = try CLI.run(["train", "--resume", "--from", "x", "--output", dir.appendingPathComponent("m").path])
        #expect(both.status != 0 && both.stderr.contains("--from"))
    }
}
