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
            """
    )

    @Option(help: "Epochs to train.") var epochs = 5
    @Option(name: .customLong("batch-size"), help: "Mini-batch size.") var batchSize = 64
    @Option(help: "Seed for weights, shuffling and dropout.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp("Use only the first N training images.", valueName: "n")) var limit: Int?
    @Option(help: "Training images held out for validation.") var validation = 5000
    @Option(name: .customLong("learning-rate"), help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: ArgumentHelp("Write the per-epoch history (.json or .csv).", valueName: "file")) var history: String?
    @Flag(help: "Continue training the model already at --output (its weights and optimizer state).") var resume = false
    @Flag(help: "Replace an existing file at --output.") var overwrite = false
    @Flag(name: .customLong("no-data-parallel"), help: ArgumentHelp("Train in one replica even on several cores (for comparison).", visibility: .hidden))
    var noDataParallel = false
    @OptionGroup var dataOptions: DataOptions
    @Option(help: ArgumentHelp("Where to save the trained model (.qkmodel).", valueName: "path")) var output: String

    func validate() throws {
        guard epochs >= 0 else { throw ValidationError("--epochs must be 0 or more") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard validation >= 0, validation < 60_000 else { throw ValidationError("--validation must be in 0..<60000") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive") }
    }

    func run() throws {
        let outputURL = URL(fileURLWithPath: output)
        let exists = FileManager.default.fileExists(atPath: outputURL.path)
        if exists && !resume && !overwrite {
            throw CLIError("\(output) already exists: pass --resume to continue training it, or --overwrite to replace it")
        }
        note("Loading FashionMNIST from \(FashionMNIST.directory(dataOptions.data).path) ...")
        let all = try FashionMNIST.load(.train, directory: dataOptions.data)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        var (train, val) = all.split(validationCount: validation, seed: 0)
        if let limit { train = train.prefix(limit) }

        let model: Sequential
        if resume && exists {
            model = try Sequential.load(from: outputURL)
            if model.optimizer == nil { model.compile(optimizer: Adam(learningRate: learningRate)) }
            note("Resuming \(output) after \(model.epochsTrained) epochs")
        } else {
            model = seedCNN(seed: seed)
            model.compile(optimizer: Adam(learningRate: learningRate), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
        }
        model.dataParallel = !noDataParallel
        note(model.summary())
        note("Training on \(train.count) images, validating on \(val.count), batch \(batchSize), \(epochs) epochs")
        let result = try model.fit(train, epochs: epochs, batchSize: batchSize, validation: val.count > 0 ? val : nil)
        try model.save(to: outputURL)
        if let history { try result.write(to: URL(fileURLWithPath: history)) }
        let evaluation = try model.evaluate(test)
        let seconds = result.epochs.map(\.seconds)
        print(String(format: "test accuracy %.2f%% (loss %.4f) on %d images after %d epochs; median epoch %.1f s; saved %@",
                     evaluation.accuracy * 100, evaluation.loss, evaluation.count,
                     model.epochsTrained, median(seconds), output))
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
