import Foundation
import Testing

/// `quantkit bench`, the --kernels / --threads options of `run`, and `run`'s streamed, atomic output.
/// Never asserts a time: only that the figures are there and consistent.
@Suite("quantkit bench / run --kernels")
struct BenchCommandTests {
    static func path(_ name: String) -> String { TfliteCLITests.path(name) }

    static func jsonObject(_ text: String) throws -> [String: Any] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "bench --json prints exactly one line on standard output: \(text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test(arguments: [
        (model: "seed_int8.tflite", kernels: "fast", batch: 1, threads: 1),
        (model: "seed_int8.tflite", kernels: "reference", batch: 3, threads: 2),
        (model: "seed_float16.tflite", kernels: "fast", batch: 2, threads: 2),
    ])
    func benchJSONHasTheFigures(model: String, kernels: String, batch: Int, threads: Int) throws {
        let r = try CLI.run(["bench", Self.path(model), "--json", "--runs", "3", "--warmup", "1", "--kernels", kernels,
                             "--batch", String(batch), "--threads", String(threads)])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try Self.jsonObject(r.stdout)
        let latency = try #require(object["latency_ms"] as? [String: Double])
        let (median, minimum, maximum) = (try #require(latency["median"]), try #require(latency["min"]), try #require(latency["max"]))
        #expect(minimum > 0 && minimum <= median && median <= maximum)
        let throughput = try #require(object["throughput_per_s"] as? Double)
        #expect(abs(throughput * median / 1000 - Double(batch)) < 1e-6 * Double(batch), "throughput = batch / median")
        let perInference = try #require(object["per_inference_ms"] as? [String: Double])
        #expect(abs((perInference["median"] ?? 0) * Double(batch) - median) < 1e-9 * median + 1e-12)
        let rss = try #require(object["peak_rss_bytes"] as? Int)
        #expect(rss > 1 << 20 && rss < 1 << 34)
        #expect(object["kernels"] as? String == kernels)
        #expect(object["threads"] as? Int == threads)
        #expect(object["batch"] as? Int == batch)
        #expect(object["runs"] as? Int == 3)
        #expect(object["warmup"] as? Int == 1)
        #expect((object["run_ms"] as? [Double])?.count == 3)
        #expect(object["model"] as? String == Self.path(model))
        if kernels == "fast" {
            #expect(["avx512amx", "avx512vnni", "avx2", "portable"].contains(object["simd_backend"] as? String ?? ""), "\(object)")
        } else {
            #expect(object["simd_backend"] is NSNull)
        }
        #expect(r.stderr.contains("bench:"), "progress goes to standard error")
    }

    @Test func benchHumanOutputAndInputFile() throws {
        // Five golden samples, repeated to fill a batch of 8, with defaults for the rest but a short timed phase.
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("five.i8")
        try Data(try Data(contentsOf: URL(fileURLWithPath: Self.path("seed_int8.input.i8.bin"))).prefix(5 * 784)).write(to: input)
        let r = try CLI.run(["bench", Self.path("seed_int8.tflite"), "--batch", "8", "--threads", "1", "--runs", "2",
                             "--warmup", "0", "--input", input.path])
        #expect(r.status == 0, "\(r.stderr)")
        for field in ["latency", "median", "throughput", "inferences/s", "peak RSS", "fast", "batch 8", input.path] {
            #expect(r.stdout.contains(field), "\(field) in \(r.stdout)")
        }
        // Samples per run beyond one batch.
        let j = try CLI.run(["bench", Self.path("seed_int8.tflite"), "--batch", "4", "--samples", "10", "--threads", "2",
                             "--runs", "1", "--warmup", "0", "--json"])
        #expect(j.status == 0, "\(j.stderr)")
        let object = try Self.jsonObject(j.stdout)
        #expect(object["samples_per_run"] as? Int == 10)
        #expect(object["batch"] as? Int == 4)
    }

    @Test func badArgumentsAreClearErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = Self.path("seed_int8.tflite")
        let garbage = dir.appendingPathComponent("garbage.tflite")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }).write(to: garbage)
        let oddInput = dir.appendingPathComponent("odd.i8")
        try Data(count: 784 + 3).write(to: oddInput)
        let cases: [([String], String)] = [
            (["bench", model, "--batch", "0"], "--batch"),
            (["bench", model, "--batch", "-3"], "--batch"),
            (["bench", model, "--threads", "0"], "--threads"),
            (["bench", model, "--kernels", "turbo"], "turbo"),
            (["bench", model, "--runs", "0"], "--runs"),
            (["bench", model, "--samples", "0"], "--samples"),
            (["bench", model, "--batch", "100000000"], "--batch"),
            (["bench", dir.appendingPathComponent("missing.tflite").path], "no such file"),
            (["bench", garbage.path], "garbage.tflite"),
            (["bench", model, "--input", oddInput.path, "--runs", "1"], "whole number"),
            (["bench", model, "--input", dir.appendingPathComponent("none.bin").path, "--runs", "1"], "none.bin"),
            (["run", model, "--input", oddInput.path, "--output", dir.appendingPathComponent("o").path, "--kernels", "fastest"], "fastest"),
            (["run", model, "--input", oddInput.path, "--output", dir.appendingPathComponent("o").path, "--threads", "0"], "--threads"),
            (["evaluate", model, "--kernels", "simd"], "simd"),
            (["evaluate", model, "--threads", "0"], "--threads"),
        ]
        for (arguments, mention) in cases {
            let r = try CLI.run(arguments)
            #expect(r.status != 0, "\(arguments) should fail")
            #expect(r.stderr.contains(mention), "\(arguments): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"), "\(arguments) crashed: \(r.stderr)")
            #expect(r.stdout.isEmpty || !arguments.contains("--json"))
        }
    }

    @Test func runGivesTheSameBytesWithEitherKernelSet() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 37 samples: more than one batch of 16, split across 2 threads; small chunks so the input streams in pieces.
        var outputs: [Data] = []
        for (kernels, threads, chunk) in [("reference", "1", nil), ("fast", "2", "5"), ("fast", "1", nil)] as [(String, String, String?)] {
            let out = dir.appendingPathComponent("\(kernels)-\(threads).i8")
            let r = try CLI.run(["run", Self.path("seed_int8.tflite"), "--input", Self.path("seed_int8.input.i8.bin"),
                                 "--output", out.path, "--count", "37", "--kernels", kernels, "--threads", threads]
                                + (chunk.map { ["--chunk-samples", $0] } ?? []))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("\(kernels) kernels"), "\(r.stderr)")
            outputs.append(try Data(contentsOf: out))
        }
        let reference = try Data(contentsOf: URL(fileURLWithPath: Self.path("seed_int8.ref.i8.bin"))).prefix(370)
        #expect(outputs[0] == reference, "reference kernels reproduce LiteRT BUILTIN_REF")
        #expect(outputs[1] == outputs[0], "fast kernels equal the reference value for value")
        #expect(outputs[2] == outputs[0])
    }

    @Test func runOutputIsAtomic() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.bin")
        let keep = Data("previous results".utf8)
        try keep.write(to: out)
        let bad = dir.appendingPathComponent("bad.i8")
        try Data(count: 3 * 784 + 1).write(to: bad)
        let model = Self.path("seed_int8.tflite")
        func leftovers() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(".tmp-") }
        }

        // Failures: a partial sample, too few samples for --count, a missing model, a garbage model.
        let failing: [[String]] = [
            ["run", model, "--input", bad.path, "--output", out.path],
            ["run", model, "--input", bad.path, "--output", out.path, "--count", "4"],
            ["run", dir.appendingPathComponent("none.tflite").path, "--input", bad.path, "--output", out.path],
            ["run", bad.path, "--input", bad.path, "--output", out.path],
        ]
        for arguments in failing {
            let r = try CLI.run(arguments)
            #expect(r.status != 0, "\(arguments)")
            #expect(try Data(contentsOf: out) == keep, "a failed run leaves the existing output untouched")
            #expect(leftovers().isEmpty, "no temporary file left behind: \(leftovers())")
        }
        // An output path that is a directory is refused, and the directory is untouched.
        let r0 = try CLI.run(["run", model, "--input", Self.path("seed_int8.input.i8.bin"), "--count", "1", "--output", dir.path])
        #expect(r0.status != 0)
        #expect(r0.stderr.contains("directory"), "\(r0.stderr)")
        #expect(try Data(contentsOf: out) == keep)

        // Success replaces the file (with several chunks), leaving no temporary behind.
        let r = try CLI.run(["run", model, "--input", Self.path("seed_int8.input.i8.bin"), "--output", out.path,
                             "--count", "6", "--chunk-samples", "4", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let reference = try Data(contentsOf: URL(fileURLWithPath: Self.path("seed_int8.ref.i8.bin"))).prefix(60)
        #expect(try Data(contentsOf: out) == reference)
        #expect(leftovers().isEmpty)
        // --count 0 writes an empty file.
        let empty = dir.appendingPathComponent("empty.bin")
        let r2 = try CLI.run(["run", model, "--input", bad.path, "--output", empty.path, "--count", "0"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try Data(contentsOf: empty).isEmpty)
    }
}
