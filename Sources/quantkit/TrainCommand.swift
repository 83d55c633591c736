import ArgumentParser
import Foundation
import QuantKit

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the seed FashionMNIST CNN and save it.",
        discussion: """
            Trains Conv2D(64,2)-MaxPool-Dropout-Conv2D(128,2)-MaxPool-Dropout-Flatten-Dense(256)-ReLU-Dropout-\
            Dense(10)-Softmax with Adam on 55,000 training images (5,000 held out for validation), \
            then reports accuracy on the 10,000 test images. Progress goes to standard error.

            --qat trains quantization-aware (TFMOT's default 8-bit scheme): from scratch on a fresh model, or \
            fine-tuning the float model given with --from (1 epoch by default). The saved model holds the \
            learned ranges; `quantkit quantize MODEL --mode int8` converts it with no calibration data, and \
            the accuracy reported is the simulated int8 model's.

            --logdir DIR writes TensorBoard event files as Keras does: DIR/train (loss, accuracy, learning \
            rate, epoch seconds) and DIR/validation (validation loss and accuracy under the same tags, so \
            both runs share a chart), one point per epoch, written as each epoch ends. View them with \
            `tensorboard --logdir DIR`. A resumed run adds new files beside the old ones.
            """
    )

    @Option(help: ArgumentHelp("Epochs to train (default 5; 1 when fine-tuning with --qat --from).", valueName: "n"))
    var epochs: Int?
    @Flag(help: "Quantization-aware training (fake-quantized weights and activations, learned int8 ranges).") var qat = false
    @Option(help: ArgumentHelp("Start from this saved model (.qkmodel) instead of a fresh one; with --qat, the float model to fine-tune.",
                               valueName: "model"))
    var from: String?
    @Option(name: .customLong("float-layer"), help: ArgumentHelp("With --qat: keep this layer in float32 (repeatable).", valueName: "name"))
    var floatLayers: [String] = []
    @Flag(name: .customLong("per-channel-dense"), help: "With --qat: one weight scale per output channel for Dense layers (default: per tensor, as TFMOT).")
    var perChannelDense = false
    @Option(name: .customLong("freeze-bn-after"), help: ArgumentHelp("With --qat: freeze folded batch-norm statistics after N steps.", valueName: "n"))
    var freezeBatchNormAfter: Int?
    @Flag(name: .customLong("tfmot-ranges"), help: "With --qat: start activation ranges at ±6 as TFMOT does (default: from the first batch).")
    var tfmotRanges = false
    @Option(name: .customLong("batch-size"), help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Seed for weights, shuffling and dropout.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp("Use only the first N training images.", valueName: "n")) var limit: Int?
    @Option(help: "Training images held out for validation.") var validation = 5000
    @Option(name: .customLong("learning-rate"), help: ArgumentHelp("Adam learning rate (default 0.001; 0.0001 when fine-tuning with --qat --from).",
                                                                  valueName: "lr"))
    var learningRateOption: Float?
    @Option(help: ArgumentHelp("Write the per-epoch history (.json or .csv).", valueName: "file")) var history: String?
    @Option(help: ArgumentHelp("Write TensorBoard event files (per-epoch scalars) under this directory.", valueName: "dir"))
    var logdir: String?
    @Flag(help: "Continue training the model already at --output (its weights and optimizer state).") var resume = false
    @Flag(help: "Replace an existing file at --output.") var overwrite = false
    @Flag(name: .customLong("no-data-parallel"), help: ArgumentHelp("Train in one replica even on several cores (for comparison).", visibility: .hidden))
    var noDataParallel = false
    @OptionGroup var dataOptions: DataOptions
    @Option(help: ArgumentHelp("Where to save the trained model (.qkmodel).", valueName: "path")) var output: String

    func validate() throws {
        if let epochs, epochs < 0 { throw ValidationError("--epochs must be 0 or more") }
        if !qat && (!floatLayers.isEmpty || perChannelDense || freezeBatchNormAfter != nil || tfmotRanges) {
            throw ValidationError("--float-layer, --per-channel-dense, --freeze-bn-after and --tfmot-ranges need --qat")
        }
        if let freezeBatchNormAfter, freezeBatchNormAfter < 0 { throw ValidationError("--freeze-bn-after must be 0 or more") }
        if resume && from != nil { throw ValidationError("--resume continues the model at --output; it cannot be combined with --from") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard validation >= 0, validation < 60_000 else { throw ValidationError("--validation must be in 0..<60000") }
        if let learningRateOption, !(learningRateOption > 0 && learningRateOption.isFinite) {
            throw ValidationError("--learning-rate must be positive")
        }
    }

    func run() throws {
        OpenBLASCoreType.restartIfNeeded()
        let outputURL = URL(fileURLWithPath: output)
        let exists = FileManager.default.fileExists(atPath: outputURL.path)
        if exists && !resume && !overwrite {
            throw CLIError("\(output) already exists: pass --resume to continue training it, or --overwrite to replace it")
        }
        let tensorBoard = try logdir.map { try TensorBoardLogger(directory: URL(fileURLWithPath: $0)) }
        note("Loading FashionMNIST from \(FashionMNIST.directory(dataOptions.data).path) ...")
        let all = try FashionMNIST.load(.train, directory: dataOptions.data)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        var (train, val) = all.split(validationCount: validation, seed: 0)
        if let limit { train = train.prefix(limit) }

        var model: Sequential
        var epochs = self.epochs ?? 5
        var learningRate = learningRateOption ?? 1e-3
        if resume && exists {
            model = try Sequential.load(from: outputURL)
            if model.optimizer == nil { model.compile(optimizer: Adam(learningRate: learningRate)) }
            note("Resuming \(output) after \(model.epochsTrained) epochs")
            if qat && !model.isQuantizationAware { throw CLIError("\(output) is a float model: fine-tune it with --qat --from \(output) --output NEW") }
        } else if let from {
            model = try Sequential.load(from: URL(fileURLWithPath: from))
            note("Starting from \(from) (\(model.epochsTrained) epochs\(model.isQuantizationAware ? ", quantization-aware" : ""))")
            if qat && !model.isQuantizationAware {
                // QAT fine-tuning: one epoch at a tenth of the learning rate, staying near the trained optimum.
                epochs = self.epochs ?? 1
                learningRate = learningRateOption ?? 1e-4
            }
            model.compile(optimizer: Adam(learningRate: learningRate), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
        } else {
            model = seedCNN(seed: seed)
            model.compile(optimizer: Adam(learningRate: learningRate), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
        }
        if qat && !model.isQuantizationAware {
            let options = QAT.Options(perChannelDense: perChannelDense, floatLayers: Set(floatLayers),
                                      freezeBatchNormAfter: freezeBatchNormAfter, rangesStartFromFirstBatch: !tfmotRanges)
            model = try QAT.prepare(model, options: options).model
            model.compile(optimizer: Adam(learningRate: learningRate), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
            note("Quantization-aware training (fake-quantized int8 weights and activations)")
        }
        model.dataParallel = !noDataParallel
        note(model.summary())
        note("Training on \(train.count) images, validating on \(val.count), batch \(batchSize), \(epochs) epochs")
        if let logdir { note("TensorBoard logs in \(logdir): view them with `tensorboard --logdir \(logdir)`") }
        let result = try model.fit(train, epochs: epochs, batchSize: batchSize, validation: val.count > 0 ? val : nil,
                                   callbacks: tensorBoard.map { [$0] } ?? [])
        try model.save(to: outputURL)
        if let history { try result.write(to: URL(fileURLWithPath: history)) }
        let evaluation = try model.evaluate(test)
        let seconds = result.epochs.map(\.seconds)
        if model.isQuantizationAware {
            for warning in try QATModel(model).rangeWarnings { note("warning: \(warning)") }
        }
        print(String(format: "test accuracy %.2f%% (loss %.4f) on %d images after %d epochs%@; median epoch %.1f s; saved %@",
                     evaluation.accuracy * 100, evaluation.loss, evaluation.count,
                     model.epochsTrained, model.isQuantizationAware ? " (quantization-aware: simulated int8)" : "",
                     median(seconds), output))
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
