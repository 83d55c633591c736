import ArgumentParser
import Foundation
import QuantKit

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The seed pipeline in one command: train, quantize four ways, evaluate, benchmark, report.",
        discussion: """
            Trains the seed FashionMNIST CNN (or reuses the one already in --output), makes the float32, \
            dynamic-range, int8 (500 calibration images, int8 input and output) and float16 .tflite files with \
            post-training quantization, fine-tunes with quantization-aware training and converts that to int8, \
            evaluates every .tflite on the 10,000 test images (as `quantkit evaluate`) and benchmarks each at \
            batch 1 on one thread (as `quantkit bench`, rounds alternating between the models), then writes \
            report.md, report.json and SVG charts next to the models and prints the table.

            Everything goes to --output (default runs/demo): float.qkmodel, qat.qkmodel, *.tflite, the \
            training histories, TensorBoard event files under logs/ (`tensorboard --logdir DIR/logs`), the \
            report and the charts. Every file is written atomically. Training saves a checkpoint after each \
            epoch: rerun the same command after an interruption and it continues where it stopped. A finished \
            model is reused (or continued, when more epochs are asked for) only when it was trained with the same \
            settings (NAME-run.json); --fresh trains again. The finished files stay until a new run finishes.
            """
    )

    @Option(help: ArgumentHelp("Directory for the models, the report and the charts.", valueName: "dir")) var output = "runs/demo"
    @Option(help: ArgumentHelp("Float training epochs.", valueName: "n")) var epochs = 5
    @Option(name: .customLong("qat-epochs"),
            help: ArgumentHelp("Quantization-aware training epochs (default 1 fine-tuning; --epochs from scratch).", valueName: "n"))
    var qatEpochsOption: Int?
    @Flag(name: .customLong("qat-from-scratch"), help: "Train the QAT model from scratch instead of fine-tuning the float model.")
    var qatFromScratch = false
    @Flag(help: "Train again even when trained models are already in --output.") var fresh = false
    @Option(name: .customLong("batch-size"), help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Seed for weights, shuffling and dropout.") var seed: UInt64 = 0
    @Option(name: .customLong("calibration-samples"), help: "int8: representative images.") var calibrationSamples = 500
    @Option(name: .customLong("bench-seconds"), help: ArgumentHelp("Timed seconds of benchmarking per model.", valueName: "s"))
    var benchSeconds = 2.0
    @Option(help: ArgumentHelp("Threads for evaluation (default: all cores, at most 8); benchmarks use one.", valueName: "n"))
    var threads: Int?
    @Option(help: ArgumentHelp("Train on the first N training images only (quick runs).", valueName: "n", visibility: .hidden))
    var limit: Int?
    @Option(help: ArgumentHelp("Training images held out for validation.", visibility: .hidden)) var validation = 5000
    @OptionGroup var dataOptions: DataOptions

    var qatEpochs: Int { qatEpochsOption ?? (qatFromScratch ? epochs : 1) }

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        if let qatEpochsOption, qatEpochsOption < 1 { throw ValidationError("--qat-epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard calibrationSamples >= 1 else { throw ValidationError("--calibration-samples must be at least 1") }
        guard benchSeconds > 0, benchSeconds <= 600 else { throw ValidationError("--bench-seconds must be in (0, 600]") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard validation >= 0, validation < 60_000 else { throw ValidationError("--validation must be in 0..<60000") }
    }

    func run() throws {
        OpenBLASCoreType.restartIfNeeded()
        let start = Clock.monotonicSeconds()
        let files = DemoFiles(directory: URL(fileURLWithPath: output))
        try files.prepare()
        installInterruptionNote()
        var steps = DemoSteps(total: 7, start: start)

        // Training, quantization and evaluation hold the data sets and models (~800 MB); they are gone
        // before the benchmark, whose latencies then match `quantkit bench` in a small process.
        let built = try trainQuantizeEvaluate(files, &steps)

        steps.begin(String(format: "Benchmarking batch 1, 1 thread, fast kernels (quantkit bench, about %.1f s per model, 3 alternating rounds)", benchSeconds))
        let latencies = try benchmark(files)
        steps.end("")

        steps.begin("Writing the report")
        let report = makeReport(files: files, dataset: built.dataset, float: built.floatHistory, qat: built.qatHistory,
                                evaluations: built.evaluations, latencies: latencies)
        try report.write(to: files.directory)
        steps.end([PipelineReport.markdownFile, PipelineReport.jsonFile, PipelineReport.accuracyVsSizeChartFile,
                   PipelineReport.latencyChartFile, PipelineReport.trainingChartFile].joined(separator: ", "))

        print("")
        print(report.terminalTable(), terminator: "")
        print("")
        print(String(format: "Done in %.1f min. Everything is in %@ (report.md, report.json, the charts, the models);",
                     (Clock.monotonicSeconds() - start) / 60, files.directory.path))
        print("training curves: tensorboard --logdir \(files.logs.path)")
    }

    /// What the steps before the benchmark leave for the report.
    struct Built {
        var floatHistory: History
        var qatHistory: History
        var evaluations: [Variant: ClassifierEvaluation]
        var dataset: String
    }

    /// Steps 1-5: data, float model, post-training quantization, QAT, evaluation.
    func trainQuantizeEvaluate(_ files: DemoFiles, _ steps: inout DemoSteps) throws -> Built {
        steps.begin("Loading FashionMNIST from \(FashionMNIST.directory(dataOptions.data).path)")
        let all = try FashionMNIST.load(.train, directory: dataOptions.data)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        var (train, val) = all.split(validationCount: validation, seed: 0)
        if let limit { train = train.prefix(limit) }
        steps.end("\(train.count) training, \(val.count) validation, \(test.count) test images")

        // Float model: trained, resumed from a checkpoint, or reused.
        steps.begin("Float model (\(epochs) epochs)")
        let float = try trainFloat(files, train: train, validation: val)
        steps.end(float.trainedNow == 0 ? "reused float.qkmodel (\(float.model.epochsTrained) epochs)"
                                        : "trained \(float.trainedNow) epoch\(float.trainedNow == 1 ? "" : "s")")

        steps.begin("Post-training quantization: float32, dynamic range, int8, float16")
        let floatGraph = try float.model.graph()
        try write(floatGraph, to: files.tflite(.float32))
        for mode in [Variant.dynamicRange, .int8, .float16] {
            try write(try quantize(floatGraph, mode, calibrationSource: all).graph, to: files.tflite(mode))
        }
        steps.end("wrote " + [Variant.float32, .dynamicRange, .int8, .float16].map { files.tflite($0).lastPathComponent }.joined(separator: ", "))

        steps.begin("Quantization-aware training (\(qatFromScratch ? "from scratch" : "fine-tuning"), \(qatEpochs) epoch\(qatEpochs == 1 ? "" : "s"))")
        let qat = try trainQAT(files, float: float.model, train: train, validation: val)
        let qatResult = try QATModel(qat.model).quantize(input: .int8, output: .int8)
        for warning in qatResult.report.notes { note("warning: \(warning)") }
        try write(qatResult.graph, to: files.tflite(.qatInt8))
        steps.end((qat.trainedNow == 0 ? "reused qat.qkmodel" : "trained \(qat.trainedNow) epoch\(qat.trainedNow == 1 ? "" : "s")")
                  + "; converted with its learned ranges to \(files.tflite(.qatInt8).lastPathComponent)")

        steps.begin("Evaluating every model on the \(test.count) test images")
        var evaluations: [Variant: ClassifierEvaluation] = [:]
        for variant in Variant.allCases {
            let interpreter = try Interpreter(graph: try TFLiteFile.read(contentsOf: files.tflite(variant)),
                                              options: InterpreterOptions(kernels: .fast, threadCount: threads ?? defaultThreadCount))
            let evaluation = try interpreter.evaluateClassifier(on: test)
            evaluations[variant] = evaluation
            note("  " + padded(variant.title, 14) + String(format: "accuracy %.2f%% (%.1f s)", evaluation.accuracy * 100, evaluation.seconds))
        }
        steps.end("")
        let dataset = "FashionMNIST (\(grouped(train.count)) train / \(grouped(val.count)) validation / \(grouped(test.count)) test)"
        return Built(floatHistory: float.history, qatHistory: qat.history, evaluations: evaluations, dataset: dataset)

    }

    // MARK: - Steps

    /// A trained model and its whole history.
    struct Trained {
        var model: Sequential
        var history: History
        /// Epochs trained by this run (0 when reused).
        var trainedNow: Int
    }

    /// What the runs must share with saved models for those to be reused or continued.
    var floatSettings: DemoRunSettings {
        DemoRunSettings(kind: "float", seed: seed, batchSize: batchSize, limit: limit, validation: validation, learningRate: 1e-3)
    }

    func qatSettings(floatEpochs: Int) -> DemoRunSettings {
        DemoRunSettings(kind: qatFromScratch ? "qat from scratch" : "qat fine-tuning", seed: seed, batchSize: batchSize, limit: limit,
                        validation: validation, learningRate: qatFromScratch ? 1e-3 : 1e-4,
                        floatEpochs: qatFromScratch ? nil : floatEpochs)
    }

    func trainFloat(_ files: DemoFiles, train: LabeledImages, validation: LabeledImages) throws -> Trained {
        let run = DemoTrainingRun(files: files, name: "float", settings: floatSettings, fresh: fresh)
        return try run.train(epochs: epochs, startEpoch: 0, train: train, validation: validation, batchSize: batchSize) {
            let model = seedCNN(seed: seed)
            model.compile(optimizer: Adam(learningRate: 1e-3), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
            return model
        }
    }

    func trainQAT(_ files: DemoFiles, float: Sequential, train: LabeledImages, validation: LabeledImages) throws -> Trained {
        let settings = qatSettings(floatEpochs: float.epochsTrained)
        let run = DemoTrainingRun(files: files, name: "qat", settings: settings, fresh: fresh)
        return try run.train(epochs: qatEpochs, startEpoch: qatFromScratch ? 0 : float.epochsTrained, train: train,
                             validation: validation, batchSize: batchSize) {
            // Fine-tuning: a tenth of the learning rate, staying near the trained optimum (as `train --qat --from`).
            let model = try QAT.prepare(qatFromScratch ? seedCNN(seed: seed) : try float.copy()).model
            model.compile(optimizer: Adam(learningRate: settings.learningRate), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
            return model
        }
    }

    func quantize(_ floatGraph: Graph, _ variant: Variant, calibrationSource: LabeledImages) throws -> Quantizer.Result {
        switch variant {
        case .dynamicRange:
            return try Quantizer(.dynamicRange).quantize(floatGraph)
        case .float16:
            return try Quantizer(.float16).quantize(floatGraph)
        case .int8:
            // Drawn from the training part of the demo's own split (seed 0), never from its validation images.
            let batches = calibrationSource.representativeBatches(count: calibrationSamples, seed: 0, heldOut: validation)
            return try Quantizer(.fullInteger(input: .int8, output: .int8)).quantize(floatGraph, representativeData: batches)
        case .float32, .qatInt8:
            preconditionFailure("\(variant) is not a post-training quantization mode")
        }
    }

    func write(_ graph: Graph, to url: URL) throws {
        try AtomicFile.write(try TFLiteFile.encode(graph, options: .converterLike), to: url)
    }

    /// Batch-1, one-thread latency of every model, measured by `quantkit bench` itself (this binary,
    /// one process per model and round, so nothing this process did — training, OpenBLAS's idle
    /// threads, the data in memory — touches the timing), in three rounds that alternate between the
    /// models so that a change in the machine's load touches them all alike. A short probe run of each
    /// model sizes the rounds to about --bench-seconds per model.
    func benchmark(_ files: DemoFiles) throws -> [Variant: LatencyBenchmark.Measurement] {
        let rounds = 3
        var estimate: [Variant: Double] = [:]
        for variant in Variant.allCases {
            estimate[variant] = Statistics.median(try benchProcess(files.tflite(variant), runs: 30, warmup: 10))
        }
        var results: [Variant: [Double]] = [:]
        for _ in 0..<rounds {
            for variant in Variant.allCases {
                let runs = max(20, Int(benchSeconds / Double(rounds) / max(estimate[variant]!, 1e-6)))
                results[variant, default: []] += try benchProcess(files.tflite(variant), runs: runs, warmup: max(10, runs / 10))
            }
        }
        var measurements: [Variant: LatencyBenchmark.Measurement] = [:]
        for variant in Variant.allCases {
            let m = LatencyBenchmark.Measurement(samplesPerRun: 1, warmupRuns: 0, runSeconds: results[variant] ?? [])
            measurements[variant] = m
            note("  " + padded(variant.title, 14) + String(format: "median %.4f ms (min %.4f, max %.4f) over %d runs",
                        m.median * 1000, m.minimum * 1000, m.maximum * 1000, m.runSeconds.count))
        }
        return measurements
    }

    /// `quantkit bench FILE --threads 1 --runs N --warmup W --json` in a child process: its timed runs, in seconds.
    func benchProcess(_ file: URL, runs: Int, warmup: Int) throws -> [Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                                    ?? CommandLine.arguments[0])
        process.arguments = ["bench", file.path, "--threads", "1", "--runs", "\(runs)", "--warmup", "\(warmup)", "--json"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let runMs = object["run_ms"] as? [Double], !runMs.isEmpty else {
            throw CLIError("benchmarking \(file.path) failed: `quantkit bench \(file.lastPathComponent) --threads 1` exited with \(process.terminationStatus)")
        }
        return runMs.map { $0 / 1000 }
    }

    func makeReport(files: DemoFiles, dataset: String, float: History, qat: History, evaluations: [Variant: ClassifierEvaluation],
                    latencies: [Variant: LatencyBenchmark.Measurement]) -> PipelineReport {
        let variants = Variant.allCases.map { variant in
            let e = evaluations[variant]!, m = latencies[variant]!
            return VariantResult(name: variant.title, file: files.tflite(variant).lastPathComponent,
                                 fileBytes: files.size(files.tflite(variant)), accuracy: e.accuracy, loss: e.loss,
                                 latencyMs: LatencySummary(milliseconds: m.runSeconds.map { $0 * 1000 }),
                                 kernels: "fast", threads: 1, batch: 1, isBaseline: variant == .float32)
        }
        return PipelineReport(machine: .current(), dataset: dataset,
                              floatTraining: float.epochs, qatTraining: qat.epochs, variants: variants)
    }
}

/// What an interrupted demo prints (prepared before the handler is installed: a signal handler may
/// only touch memory that already exists).
nonisolated(unsafe) private let interruptionMessage: UnsafeMutablePointer<CChar> = strdup("""

    quantkit demo: interrupted. Finished models, .tflite files and the last epoch's checkpoint are kept; \
    run the same command again to continue from there.

    """)!

/// On SIGINT or SIGTERM: say what is kept and how to continue, then exit (128 + the signal).
private func installInterruptionNote() {
    _ = interruptionMessage
    // A parent may have started us with these signals blocked (the mask is inherited): unblock them.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    for s in [SIGINT, SIGTERM] {
        signal(s) { received in
            _ = write(2, interruptionMessage, strlen(interruptionMessage))
            _exit(128 + received)
        }
    }
}

/// The models the demo makes, in the report's order.
enum Variant: CaseIterable, Hashable {
    case float32, dynamicRange, int8, float16, qatInt8

    var title: String {
        switch self {
        case .float32: "float32"
        case .dynamicRange: "dynamic range"
        case .int8: "int8 (PTQ)"
        case .float16: "float16"
        case .qatInt8: "int8 (QAT)"
        }
    }

    var fileName: String {
        switch self {
        case .float32: "float32.tflite"
        case .dynamicRange: "dynamic_range.tflite"
        case .int8: "int8.tflite"
        case .float16: "float16.tflite"
        case .qatInt8: "qat_int8.tflite"
        }
    }
}

/// How a saved model was trained (`NAME-run.json` next to it): a rerun reuses or continues a
/// model only when these match (more epochs may be asked for; they continue it).
struct DemoRunSettings: Codable, Equatable {
    var kind: String
    var seed: UInt64
    var batchSize: Int
    var limit: Int?
    var validation: Int
    var learningRate: Float
    /// For QAT fine-tuning: the float model's epochs it started from.
    var floatEpochs: Int?
}

/// One resumable training run of the demo (the float model, or the QAT model), with its files:
///
///     NAME.qkmodel, NAME-history.json, NAME-run.json                       the finished model
///     NAME.checkpoint.qkmodel, NAME.checkpoint-history.json, NAME.checkpoint-run.json   after each epoch
///
/// A checkpoint whose settings match is continued (it is newer than any finished model: it is
/// removed when its run finishes); else a finished model whose settings match is reused, or
/// continued when more epochs are asked for; else (or with `fresh`) a new model is trained. The
/// finished files are replaced only when the new run finishes, so an interrupted run never touches them.
struct DemoTrainingRun {
    let files: DemoFiles
    let name: String
    let settings: DemoRunSettings
    let fresh: Bool

    var modelFile: URL { files.directory.appendingPathComponent("\(name).qkmodel") }
    var historyFile: URL { files.directory.appendingPathComponent("\(name)-history.json") }
    var runFile: URL { files.directory.appendingPathComponent("\(name)-run.json") }
    var checkpoint: URL { files.directory.appendingPathComponent("\(name).checkpoint.qkmodel") }
    var checkpointHistory: URL { files.directory.appendingPathComponent("\(name).checkpoint-history.json") }
    var checkpointRunFile: URL { files.directory.appendingPathComponent("\(name).checkpoint-run.json") }

    func savedSettings(_ url: URL) -> DemoRunSettings? {
        try? JSONDecoder().decode(DemoRunSettings.self, from: Data(contentsOf: url))
    }

    /// Trains (or reuses, or continues) to `epochs` epochs counted from `startEpoch` of the model's own count.
    func train(epochs: Int, startEpoch: Int, train: LabeledImages, validation: LabeledImages, batchSize: Int,
               makeModel: () throws -> Sequential) throws -> DemoCommand.Trained {
        let fm = FileManager.default
        var model: Sequential
        var history = History()
        var fromCheckpoint = false
        if !fresh, savedSettings(checkpointRunFile) == settings, let saved = try files.loadModel(checkpoint) {
            model = saved
            history = files.loadHistory(checkpointHistory)
            fromCheckpoint = true
            note("  continuing \(checkpoint.lastPathComponent) after epoch \(model.epochsTrained - startEpoch)")
        } else if !fresh, savedSettings(runFile) == settings, let saved = try files.loadModel(modelFile) {
            model = saved
            history = files.loadHistory(historyFile)
            if model.epochsTrained - startEpoch > epochs {
                note("  \(modelFile.lastPathComponent) has \(model.epochsTrained - startEpoch) epochs (more than the \(epochs) asked for); reusing it")
            } else if model.epochsTrained - startEpoch < epochs {
                note("  continuing the saved \(modelFile.lastPathComponent) after epoch \(model.epochsTrained - startEpoch)")
            }
        } else {
            if !fresh, fm.fileExists(atPath: modelFile.path) {
                note("  \(modelFile.lastPathComponent) was trained with other settings (\(runFile.lastPathComponent)); training a new one (the old file stays until it is replaced)")
            }
            model = try makeModel()
        }
        if model.optimizer == nil { model.compile(optimizer: Adam(learningRate: settings.learningRate)) }
        history.epochs.removeAll { $0.epoch > model.epochsTrained }
        let remaining = max(epochs - (model.epochsTrained - startEpoch), 0)
        if remaining > 0 {
            try AtomicFile.write(try JSONEncoder().encode(settings), to: checkpointRunFile)
            let saver = DemoCheckpoint(model: checkpoint, history: checkpointHistory, recorded: history)
            // A run that starts over puts its TensorBoard logs in a fresh directory (an earlier run's are kept aside).
            let logs = try files.tensorBoard(name, startingOver: model.epochsTrained == startEpoch)
            model.dataParallel = true
            try model.fit(train, epochs: remaining, batchSize: batchSize, validation: validation.count > 0 ? validation : nil,
                          callbacks: [saver] + logs)
            history = saver.history
        } else if !fromCheckpoint {
            return DemoCommand.Trained(model: model, history: history, trainedNow: 0)
        }
        // Finish: the model, its history, then its settings (a crash in between leaves the checkpoint to continue).
        try model.save(to: modelFile)
        try history.write(to: historyFile)
        try AtomicFile.write(try JSONEncoder().encode(settings), to: runFile)
        for url in [checkpoint, checkpointHistory, checkpointRunFile] { try? fm.removeItem(at: url) }
        return DemoCommand.Trained(model: model, history: history, trainedNow: remaining)
    }
}

/// The demo's files in its output directory.
struct DemoFiles {
    let directory: URL

    var logs: URL { directory.appendingPathComponent("logs") }
    func tflite(_ variant: Variant) -> URL { directory.appendingPathComponent(variant.fileName) }

    /// Creates the directory and proves it writable before any long work starts.
    func prepare() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw CLIError("\(directory.path) is a file, not a directory: choose another --output")
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let probe = directory.appendingPathComponent(".quantkit-write-test-\(getpid())")
            try AtomicFile.write("", to: probe)
            try FileManager.default.removeItem(at: probe)
        } catch {
            throw CLIError("cannot write to \(directory.path): \(error). Choose a writable directory with --output DIR")
        }
        removeStaleTemporaryFiles()
    }

    /// Removes the hidden temporary files (`.NAME.tmp-PID-N`) an interrupted write left behind, when
    /// the process that wrote them is gone.
    func removeStaleTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-") else { continue }
            let pidText = name[range.upperBound...].prefix { $0.isNumber }
            guard let pid = Int32(pidText), pid != getpid(), kill(pid, 0) != 0 else { continue }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// The model at `url`, nil when there is none; a file that is there but unreadable is an error
    /// (it is the user's, and the demo will not overwrite it silently).
    func loadModel(_ url: URL) throws -> Sequential? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try Sequential.load(from: url)
        } catch {
            throw CLIError("\(url.path) cannot be read (\(error)): move it away, or pass --fresh to train again")
        }
    }

    /// The history at `url`, empty when missing or unreadable (it is only for the report).
    func loadHistory(_ url: URL) -> History {
        (try? JSONDecoder().decode(History.self, from: Data(contentsOf: url))) ?? History()
    }

    func modificationDate(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    func size(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// A training callback that writes TensorBoard event files under logs/`run` (Keras's train/ and
    /// validation/ runs inside it). A run continuing a saved model adds files beside the earlier ones
    /// (its steps continue); a run `startingOver` first moves an earlier run's logs aside to
    /// logs/`run`.previous-N, so TensorBoard does not draw two runs as one line.
    func tensorBoard(_ run: String, startingOver: Bool) throws -> [any TrainingCallback] {
        let dir = logs.appendingPathComponent(run)
        let fm = FileManager.default
        if startingOver, fm.fileExists(atPath: dir.path) {
            var n = 1
            while fm.fileExists(atPath: logs.appendingPathComponent("\(run).previous-\(n)").path) { n += 1 }
            try fm.moveItem(at: dir, to: logs.appendingPathComponent("\(run).previous-\(n)"))
        }
        return [try TensorBoardLogger(directory: dir)]
    }
}

/// Saves the model and its history after every epoch, so an interrupted run can continue.
final class DemoCheckpoint: TrainingCallback {
    let modelURL: URL
    let historyURL: URL
    private(set) var history: History
    private var warned = false

    init(model: URL, history url: URL, recorded: History) {
        modelURL = model
        historyURL = url
        history = recorded
    }

    func epochEnded(_ record: EpochRecord, model: Sequential) {
        history.epochs.append(record)
        // The history first: a run stopped between the two writes keeps a history at most one epoch
        // ahead of the checkpoint, which the resume trims, never a checkpoint without its history.
        do {
            try history.write(to: historyURL)
            try model.save(to: modelURL)
        } catch {
            if !warned { note("warning: could not save the checkpoint (\(error)); an interrupted run will start this training over") }
            warned = true
        }
    }
}

/// Numbered step headers with elapsed times on standard error.
struct DemoSteps {
    let total: Int
    let start: Double
    private var index = 0
    private var stepStart = 0.0

    init(total: Int, start: Double) {
        self.total = total
        self.start = start
    }

    mutating func begin(_ title: String) {
        index += 1
        stepStart = Clock.monotonicSeconds()
        note("[\(index)/\(total)] \(title) ...")
    }

    func end(_ summary: String) {
        let now = Clock.monotonicSeconds()
        note(String(format: "[%d/%d] done in %.1f s%@ (%.1f min so far)", index, total, now - stepStart,
                    summary.isEmpty ? "" : ": " + summary, (now - start) / 60))
    }
}

/// `text` padded with spaces to `width` characters.
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
