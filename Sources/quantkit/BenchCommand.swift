#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import QuantKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Latency and throughput of a .tflite model on QuantKit's interpreter.",
        discussion: """
            Builds an interpreter with batch capacity --batch, --threads and --kernels, warms it up, then times \
            repeated runs of --samples samples (default: one batch). The input is deterministic synthetic data \
            (float32 uniform in [0, 1), int8/uint8 uniform over the type, seed 0), or the first samples of \
            --input (raw little-endian samples, repeated when the file holds fewer). Each timed run copies the \
            input in, runs every operator and copies the output out, as `quantkit run` does; model loading and \
            preparation are not timed. Reports the median, min and max time of a run and per inference, the \
            throughput (samples / median run time) and the process's peak resident memory (VmHWM). Without \
            --runs / --warmup it warms up for about 0.5 s (at least 2 runs) and times runs for about 3 s \
            (at least 5). With several threads, a run of one batch lets the fast kernels split the work; a run \
            of several batches is split across thread replicas by whole batches.
            """
    )

    @Argument(help: ArgumentHelp("A TFLite flatbuffer.", valueName: "model.tflite")) var model: String
    @Option(help: ArgumentHelp("Samples per pass through the graph (the interpreter's batch capacity).", valueName: "n"))
    var batch = 1
    @OptionGroup var interpreterArguments: InterpreterArguments
    @Option(help: ArgumentHelp("Timed runs (default: as many as fit in about 3 s, at least 5).", valueName: "n")) var runs: Int?
    @Option(help: ArgumentHelp("Untimed warm-up runs (default: about 0.5 s worth, at least 2).", valueName: "n")) var warmup: Int?
    @Option(help: ArgumentHelp("Samples per timed run (default: --batch); more than --batch run in chunks of --batch.",
                               valueName: "n"))
    var samples: Int?
    @Option(help: ArgumentHelp("Raw input samples to use instead of synthetic data.", valueName: "file")) var input: String?
    @Flag(help: "Print one JSON object on standard output.") var json = false

    /// Largest --batch / --samples accepted (the arena grows with the batch).
    static let maximumBatch = 1 << 20
    /// Time budgets of the default warm-up and timed phases.
    static let warmupSeconds = 0.5, timedSeconds = 3.0
    static let defaultMinimumWarmup = 2, defaultMinimumRuns = 5, defaultMaximumRuns = 100_000

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard batch <= Self.maximumBatch else { throw ValidationError("--batch must be at most \(Self.maximumBatch)") }
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be 0 or more") }
        if let samples {
            guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
            guard samples <= Self.maximumBatch * 16 else { throw ValidationError("--samples must be at most \(Self.maximumBatch * 16)") }
        }
    }

    func run() throws {
        let graph = try readTFLite(model)
        let options = interpreterArguments.options(batchCapacity: batch)
        if batch > 256 { try checkMemory(graph, options: options) }
        let prepareStart = Clock.monotonicSeconds()
        let interpreter: Interpreter
        do {
            interpreter = try Interpreter(graph: graph, options: options)
        } catch {
            throw CLIError("\(model): \(error)")
        }
        let prepareSeconds = Clock.monotonicSeconds() - prepareStart
        let perRun = samples ?? batch
        if interpreter.batchCapacity != batch {
            note("bench: the graph cannot be batched along its leading dimension; running \(perRun) sample(s) one at a time")
        }

        // Inputs, allocated once.
        let inputs = try makeInputs(interpreter, count: perRun)
        defer { for b in inputs { b.deallocate() } }
        let inputViews = zip(inputs, interpreter.inputTensors).map { UnsafeRawBufferPointer(rebasing: $0[0..<(perRun * $1.byteCount)]) }

        let kernels = interpreter.options.kernels.rawValue, threads = interpreter.threadCount
        // The instruction set of the fast kernels (the reference kernels are plain loops).
        let simd = interpreter.options.kernels == .fast ? (interpreter.options.simdBackend ?? SIMDBackend.best).rawValue : nil
        note(String(format: "bench: %@: prepared in %.1f ms (%@ kernels%@, %d thread%@, batch %d); warming up ...",
                    model, prepareSeconds * 1000, kernels, simd.map { " on \($0)" } ?? "", threads, threads == 1 ? "" : "s",
                    interpreter.batchCapacity))
        let benchmark = LatencyBenchmark(
            warmup: warmup.map { .runs($0) } ?? .seconds(Self.warmupSeconds, minimumRuns: Self.defaultMinimumWarmup, maximumRuns: 1000),
            timed: runs.map { .runs($0) } ?? .seconds(Self.timedSeconds, minimumRuns: Self.defaultMinimumRuns, maximumRuns: Self.defaultMaximumRuns))
        let timedStart = Clock.monotonicSeconds()
        let measurement = try benchmark.measure(interpreter, inputs: inputViews, count: perRun) { count, seconds in
            note(String(format: "bench: %d warm-up run%@ in %.2f s; timing %@ ...", count, count == 1 ? "" : "s", seconds,
                        runs.map { "\($0) runs" } ?? "for about \(Int(Self.timedSeconds)) s"))
        }
        let times = measurement.runSeconds, warmupCount = measurement.warmupRuns
        note(String(format: "bench: %d timed run%@ in %.2f s", times.count, times.count == 1 ? "" : "s", Clock.monotonicSeconds() - timedStart))

        let (median, minimum, maximum, mean) = (measurement.median, measurement.minimum, measurement.maximum, measurement.mean)
        let throughput = measurement.throughputPerSecond
        let peak = SystemInfo.peakResidentBytes()
        let inputDescription = interpreter.inputTensors.map { "\($0.elementType) \(Shape.describe($0.shape))" }.joined(separator: ", ")
        let ms = { (s: Double) in s * 1000 }

        if json {
            var object: [String: Any] = [
                "model": model,
                "kernels": kernels,
                "threads": threads,
                "batch": batch,
                "batch_capacity": interpreter.batchCapacity,
                "samples_per_run": perRun,
                "runs": times.count,
                "warmup": warmupCount,
                "latency_ms": ["median": ms(median), "min": ms(minimum), "max": ms(maximum), "mean": ms(mean)],
                "per_inference_ms": ["median": ms(median) / Double(perRun), "min": ms(minimum) / Double(perRun),
                                     "max": ms(maximum) / Double(perRun)],
                "throughput_per_s": throughput,
                "peak_rss_bytes": peak.map { $0 as Any } ?? NSNull(),
                "prepare_ms": ms(prepareSeconds),
                "input": input ?? "synthetic",
                "input_tensors": inputDescription,
                "run_ms": times.map(ms),
            ]
            if let cpu = SystemInfo.cpuModelName() { object["cpu"] = cpu }
            object["simd_backend"] = simd.map { $0 as Any } ?? NSNull()
            try printJSON(object)
        } else {
            let perInference = perRun == 1 ? "" : String(format: "; per inference median %.4f ms, min %.4f, max %.4f",
                                                        ms(median) / Double(perRun), ms(minimum) / Double(perRun), ms(maximum) / Double(perRun))
            print("model       \(model)")
            print("kernels     \(kernels)\(simd.map { " (\($0))" } ?? ""), \(threads) thread\(threads == 1 ? "" : "s"), batch \(batch)"
                  + (interpreter.batchCapacity != batch ? " (graph not batchable: capacity \(interpreter.batchCapacity))" : "")
                  + (perRun != batch ? ", \(perRun) samples per run" : ""))
            print("input       \(inputDescription), \(input ?? "synthetic (seed 0)")")
            print("runs        \(times.count) timed after \(warmupCount) warm-up; prepare \(String(format: "%.1f", ms(prepareSeconds))) ms")
            print(String(format: "latency     median %.4f ms, min %.4f, max %.4f per run%@", ms(median), ms(minimum), ms(maximum), perInference))
            print(String(format: "throughput  %.1f inferences/s", throughput))
            print("peak RSS    " + (peak.map { String(format: "%.1f MB", Double($0) / 1_048_576) } ?? "unknown"))
        }
    }

    /// One buffer per graph input with `count` samples: synthetic, or from `--input`.
    func makeInputs(_ interpreter: Interpreter, count: Int) throws -> [UnsafeMutableRawBufferPointer] {
        var buffers: [UnsafeMutableRawBufferPointer] = []
        do {
            if let input {
                guard interpreter.inputTensors.count == 1 else {
                    throw CLIError("--input takes one file, but the model has \(interpreter.inputTensors.count) inputs")
                }
                let t = interpreter.inputTensor
                let reader = try RawFileReader(path: input)
                let what = "one sample of \(t.elementType) \(Shape.describe(t.shape)) is \(t.byteCount) bytes"
                guard t.byteCount > 0, reader.size >= t.byteCount, reader.size % t.byteCount == 0 else {
                    throw CLIError("\(input) has \(reader.size) bytes, which is not a whole number (at least 1) of samples (\(what))")
                }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count * t.byteCount, alignment: 64)
                buffers.append(buffer)
                let available = min(reader.size / t.byteCount, count)
                try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(available * t.byteCount)]), at: 0)
                var filled = available
                while filled < count {  // repeat the file's samples
                    let k = min(filled, count - filled)
                    (buffer.baseAddress! + filled * t.byteCount).copyMemory(from: buffer.baseAddress!, byteCount: k * t.byteCount)
                    filled += k
                }
                return buffers
            }
            buffers = LatencyBenchmark.syntheticInputs(interpreter, count: count)
            return buffers
        } catch {
            for b in buffers { b.deallocate() }
            throw error
        }
    }

    /// Refuses a batch whose working memory would exceed half the machine's memory (estimated from a
    /// batch-1 preparation), instead of being killed while allocating it.
    func checkMemory(_ graph: Graph, options: InterpreterOptions) throws {
        var probeOptions = options
        probeOptions.batchCapacity = 1
        probeOptions.threadCount = 1
        guard let probe = try? Interpreter(graph: graph, options: probeOptions), probe.batchCapacity == 1 else { return }
        let perSample = probe.workingByteCount
        let (total, overflow) = perSample.multipliedReportingOverflow(by: options.batchCapacity * max(options.threadCount, 1))
        let limit = ProcessInfo.processInfo.physicalMemory / 2
        if overflow || UInt64(total) > limit {
            throw CLIError(String(format: "--batch %d needs about %.1f GB of working memory (%d bytes per sample and thread), more than half of this machine's %.1f GB",
                                  options.batchCapacity, Double(perSample) * Double(options.batchCapacity * max(options.threadCount, 1)) / 1e9,
                                  perSample, Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        }
    }
}
