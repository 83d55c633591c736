import Foundation
import Testing

/// `quantkit demo` on a quick setting (one float epoch on 1,024 images): the files, the report, the
/// agreement with `quantkit evaluate`, reuse and resumption, and the errors.
@Suite("quantkit demo", .serialized)
struct DemoCLITests {
    static let quick = ["--epochs", "1", "--limit", "1024", "--validation", "256", "--bench-seconds", "0.3"]
    static let tflites = ["float32.tflite", "dynamic_range.tflite", "int8.tflite", "float16.tflite", "qat_int8.tflite"]

    @Test func quickRunWritesEverythingAndAgreesWithEvaluate() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["demo", "--output", dir.path] + Self.quick)
        #expect(r.status == 0, "\(r.stderr)")
        for step in 1...7 { #expect(r.stderr.contains("[\(step)/7] done"), "progress for step \(step)") }
        for name in Self.tflites + ["float.qkmodel", "qat.qkmodel", "report.md", "report.json", "float-history.json", "qat-history.json"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)")
        }
        // The table ends the output, one row per model.
        for title in ["float32", "dynamic range", "int8 (PTQ)", "float16", "int8 (QAT)"] { #expect(r.stdout.contains(title)) }

        // The report's accuracies are what `quantkit evaluate` says about the same files.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as? [String: Any])
        let variants = try #require(report["variants"] as? [[String: Any]])
        #expect(variants.count == 5)
        for variant in variants {
            let file = try #require(variant["file"] as? String)
            let accuracy = try #require(variant["accuracy"] as? Double)
            let bytes = try #require(variant["file_bytes"] as? Int)
            let path = dir.appendingPathComponent(file).path
            #expect(bytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
            let e = try CLI.run(["evaluate", path, "--json"])
            #expect(e.status == 0, "\(e.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any])
            #expect(object["accuracy"] as? Double == accuracy, "\(file)")
            #expect(accuracy > 0.4, "\(file): one epoch on 1,024 images is well above chance")
        }
        // int8 files are about a quarter of the float file.
        let sizes = Dictionary(uniqueKeysWithValues: variants.map { ($0["file"] as! String, $0["file_bytes"] as! Int) })
        let ratio = Double(sizes["int8.tflite"]!) / Double(sizes["float32.tflite"]!)
        #expect(ratio > 0.24 && ratio < 0.27)

        // A second run reuses both trained models and leaves them untouched.
        let modified = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("float.qkmodel").path)[.modificationDate] as? Date
        let again = try CLI.run(["demo", "--output", dir.path] + Self.quick)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("reused float.qkmodel"))
        #expect(again.stderr.contains("reused qat.qkmodel"))
        #expect(try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("float.qkmodel").path)[.modificationDate] as? Date == modified)
    }

    @Test func interruptedTrainingContinuesFromItsCheckpoint() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let arguments = ["demo", "--output", dir.path, "--epochs", "2"] + Self.quick.dropFirst(2)
        // Interrupt a real run (SIGINT) once the checkpoint after epoch 1 is there.
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        let log = dir.appendingPathComponent("interrupted.log")
        fm.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = dir.appendingPathComponent("float.checkpoint.qkmodel")
        let deadline = Date().addingTimeInterval(300)
        while !fm.fileExists(atPath: checkpoint.path) && process.isRunning && Date() < deadline { usleep(20_000) }
        process.interrupt()
        process.waitUntilExit()
        try handle.close()
        let stderr = try String(contentsOf: log, encoding: .utf8)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("interrupted") && stderr.contains("run the same command again"))
        #expect(fm.fileExists(atPath: checkpoint.path))
        #expect(!fm.fileExists(atPath: dir.appendingPathComponent("float.qkmodel").path), "no finished model yet")

        let resumed = try CLI.run(arguments)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("continuing float.checkpoint.qkmodel after epoch 1"))
        #expect(resumed.stderr.contains("Epoch 2/2"))
        #expect(!resumed.stderr.contains("Epoch 1/2"), "epoch 1 is not trained again")
        for name in ["float.checkpoint.qkmodel", "float.checkpoint-history.json", "float.checkpoint-run.json"] {
            #expect(!fm.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name) is removed once the run finished")
        }
        let history = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("float-history.json"))) as? [String: Any])
        let epochs = try #require(history["epochs"] as? [[String: Any]])
        #expect(epochs.compactMap { $0["epoch"] as? Int } == [1, 2])

        // Other settings: the saved models are not reused for them (QAT from scratch does not reuse the
        // fine-tuned model; other training data does not continue the float model).
        let scratch = try CLI.run(arguments + ["--qat-from-scratch", "--qat-epochs", "1"])
        #expect(scratch.status == 0, "\(scratch.stderr)")
        #expect(scratch.stderr.contains("reused float.qkmodel"))
        #expect(!scratch.stderr.contains("reused qat.qkmodel"))
        #expect(scratch.stderr.contains("qat.qkmodel was trained with other settings"))
        let run = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("qat-run.json"))) as? [String: Any])
        #expect(run["kind"] as? String == "qat from scratch")
    }

    @Test func badOutputOrDataAreClearErrorsAndKeepEarlierResults() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data("keep me".utf8).write(to: file)
        let notDirectory = try CLI.run(["demo", "--output", file.path] + Self.quick)
        #expect(notDirectory.status != 0)
        #expect(notDirectory.stderr.contains("not a directory"))
        let under = try CLI.run(["demo", "--output", file.appendingPathComponent("sub").path] + Self.quick)
        #expect(under.status != 0)
        #expect(under.stderr.contains("cannot write to") && under.stderr.contains("--output"))
        #expect(try String(contentsOf: file, encoding: .utf8) == "keep me")

        // A missing dataset: one clear line, and what was in the directory stays.
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let earlier = out.appendingPathComponent("report.md")
        try Data("earlier report".utf8).write(to: earlier)
        let missing = try CLI.run(["demo", "--output", out.path, "--data", "/nonexistent/fmnist"] + Self.quick)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("dataset-fashion-mnist"))
        #expect(try String(contentsOf: earlier, encoding: .utf8) == "earlier report")

        let bad = try CLI.run(["demo", "--epochs", "0"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--epochs"))
    }
}
