import Foundation
import Testing

@Suite("quantkit train / evaluate")
struct TrainEvaluateCLITests {
    @Test func trainsSavesAndEvaluatesAsJSON() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("seed.qkmodel").path
        let history = dir.appendingPathComponent("history.csv").path
        let train = try CLI.run(["train", "--epochs", "1", "--limit", "512", "--validation", "256", "--output", model, "--history", history])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("test accuracy"))
        #expect(train.stderr.contains("Epoch 1/1"), "per-epoch progress line when not a terminal")
        #expect(train.stderr.contains("Total params: 1,641,674"))
        #expect(try String(contentsOfFile: history, encoding: .utf8).hasPrefix("epoch,loss,accuracy"))

        let evaluate = try CLI.run(["evaluate", model, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any])
        let accuracy = try #require(object["accuracy"] as? Double)
        #expect(accuracy > 0.3 && accuracy <= 1, "512 images, one epoch: well above chance")
        #expect(object["loss"] is Double)
        #expect(object["count"] as? Int == 10_000)

        // An existing model is not overwritten by accident.
        let again = try CLI.run(["train", "--epochs", "1", "--limit", "64", "--output", model])
        #expect(again.status != 0)
        #expect(again.stderr.contains("--resume") && again.stderr.contains("--overwrite"))
        // ...but can be resumed.
        let resumed = try CLI.run(["train", "--epochs", "1", "--limit", "128", "--validation", "0", "--output", model, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("Epoch 2/2"))
    }

    @Test func missingDatasetIsOneClearLine() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["train", "--epochs", "1", "--data", "/nonexistent/fmnist", "--output", dir.appendingPathComponent("m").path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("dataset-fashion-mnist"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("m").path))
        let env = try CLI.run(["evaluate", "x.qkmodel"], environment: ["QUANTKIT_DATA": "/nonexistent"])
        #expect(env.status != 0)
    }

    @Test func foreignAndMissingModelFilesAreClearErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.qkmodel")
        try Data("not a model".utf8).write(to: junk)
        let r = try CLI.run(["evaluate", junk.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("not a QuantKit model"))
        let missing = try CLI.run(["evaluate", dir.appendingPathComponent("none.qkmodel").path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no such file"))
    }

    @Test func badArgumentsAreRejected() throws {
        let r = try CLI.run(["train", "--epochs", "-1", "--output", "/tmp/x"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--epochs"))
    }
}
