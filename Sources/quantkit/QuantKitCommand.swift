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
                      BenchCommand.self, QuantizeCommand.self, ExportCommand.self, DemoCommand.self]
    )
}

/// Options shared by the commands that read FashionMNIST.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory with the FashionMNIST IDX files.", valueName: "dir"))
    var data: String?
}

/// How the commands that run a .tflite model build the interpreter: kernels and threads.
struct InterpreterArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Kernels: fast (SIMD, threads) or reference (plain loops, bit-exact with LiteRT's BUILTIN_REF).",
                               valueName: "fast|reference"))
    var kernels: InterpreterOptions.KernelSet = .fast
    @Option(help: ArgumentHelp("Threads (default: all cores, at most 8).", valueName: "n")) var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The thread count to use: --threads, or all cores (at most 8).
    var threadCount: Int { threads ?? defaultThreadCount }

    /// Interpreter options with these kernels and threads (and `batchCapacity`, when given).
    func options(batchCapacity: Int? = nil) -> InterpreterOptions {
        var options = InterpreterOptions(kernels: kernels, threadCount: threadCount)
        if let batchCapacity { options.batchCapacity = batchCapacity }
        return options
    }
}

extension InterpreterOptions.KernelSet: ExpressibleByArgument {}

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
