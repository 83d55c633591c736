import ArgumentParser
import Foundation
import QuantKit

@main
struct QuantKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantkit",
        abstract: "Train, quantize and run neural networks: QuantKit's command line.",
        discussion: """
            Data: FashionMNIST from the Debian package dataset-fashion-mnist \
            (\(FashionMNIST.defaultDirectory)); override with --data DIR or \(FashionMNIST.environmentVariable)=DIR.
            """,
        version: "0.1.0",
        subcommands: [TrainCommand.self, EvaluateCommand.self, InspectCommand.self, RunCommand.self,
                      QuantizeCommand.self, ExportCommand.self]
    )
}

/// Options shared by the commands that read FashionMNIST.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory with the FashionMNIST IDX files.", valueName: "dir"))
    var data: String?
}

/// Writes a line to standard error (progress and notes; standard output is for results).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints `value` as one line of JSON on standard output.
func printJSON(_ value: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// An error the command line reports as one clear line.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
