import ArgumentParser
import Foundation
import QuantKit

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy and loss of a model on the 10,000 FashionMNIST test images."
    )

    @Argument(help: ArgumentHelp("A QuantKit model (.qkmodel).", valueName: "model")) var model: String
    @Flag(help: "Print one JSON object on standard output.") var json = false
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let url = URL(fileURLWithPath: model)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("\(model): no such file") }
        let network = try Sequential.load(from: url)
        let test = try FashionMNIST.load(.test, directory: dataOptions.data)
        let start = Date()
        let evaluation = try network.evaluate(test)
        let seconds = Date().timeIntervalSince(start)
        if json {
            try printJSON(["model": model, "format": "qkmodel", "accuracy": evaluation.accuracy, "loss": evaluation.loss,
                           "count": evaluation.count, "seconds": seconds])
        } else {
            print(String(format: "%@: accuracy %.2f%% (%d of %d), loss %.4f",
                         model, evaluation.accuracy * 100, Int((evaluation.accuracy * Double(evaluation.count)).rounded()),
                         evaluation.count, evaluation.loss))
        }
    }
}
