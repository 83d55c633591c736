import ArgumentParser
import Foundation
import QuantKit

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a .tflite model on raw input samples with QuantKit's reference interpreter.",
        discussion: """
            --input holds samples back to back as raw little-endian values of the model's input type and shape \
            (float32 or int8; see `quantkit inspect`). Without --count, the number of samples is the file size \
            divided by the size of one sample, which must divide it exactly; with --count N, the first N samples \
            are used. --output receives the raw outputs, written atomically.
            """
    )

    @Argument(help: ArgumentHelp("A TFLite flatbuffer.", valueName: "model.tflite")) var model: String
    @Option(help: ArgumentHelp("Raw input samples.", valueName: "file")) var input: String
    @Option(help: ArgumentHelp("Where to write the raw outputs.", valueName: "file")) var output: String
    @Option(help: ArgumentHelp("Number of samples to run (default: all in --input).", valueName: "n")) var count: Int?
    @Option(help: ArgumentHelp("Threads (default: all cores, at most 8).", valueName: "n")) var threads: Int?

    func validate() throws {
        if let count, count < 0 { throw ValidationError("--count must be 0 or more") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let graph = try readTFLite(model)
        let interpreter = try Interpreter(graph: graph, options: InterpreterOptions(threadCount: threads ?? defaultThreadCount))
        let inputURL = URL(fileURLWithPath: input)
        guard FileManager.default.fileExists(atPath: inputURL.path) else { throw CLIError("\(input): no such file") }
        let bytes = try Data(contentsOf: inputURL, options: .mappedIfSafe)
        let sample = interpreter.inputTensor
        let sampleBytes = sample.byteCount
        let what = "one sample of \(sample.elementType) \(Shape.describe(sample.shape)) is \(sampleBytes) bytes"
        let n: Int
        if let count {
            guard bytes.count >= count * sampleBytes else {
                throw CLIError("\(input) has \(bytes.count) bytes, but \(count) samples need \(count * sampleBytes) (\(what))")
            }
            n = count
        } else {
            guard sampleBytes > 0, bytes.count % sampleBytes == 0 else {
                throw CLIError("\(input) has \(bytes.count) bytes, which is not a whole number of samples (\(what))")
            }
            n = bytes.count / sampleBytes
        }
        var result = [UInt8](repeating: 0, count: n * interpreter.outputTensor.byteCount)
        let start = Date()
        let progress = ProgressNote(total: n, label: "run")
        try bytes.withUnsafeBytes { raw in
            try result.withUnsafeMutableBytes { out in
                try interpreter.run(input: UnsafeRawBufferPointer(rebasing: raw[0..<(n * sampleBytes)]), count: n, output: out,
                                    progress: progress.callback)
            }
        }
        try AtomicFile.write(result, to: URL(fileURLWithPath: output))
        let o = interpreter.outputTensor
        note(String(format: "ran %d samples in %.2f s; wrote %d bytes (%@ %@ per sample) to %@",
                    n, Date().timeIntervalSince(start), result.count, "\(o.elementType)", Shape.describe(o.shape), output))
    }
}

/// Threads for the interpreter when not given: all cores, at most 8.
var defaultThreadCount: Int { min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 8) }

/// Reads and validates a .tflite file, with one clear line for a missing or foreign file.
func readTFLite(_ path: String) throws -> Graph {
    let url = URL(fileURLWithPath: path)
    guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("\(path): no such file") }
    do {
        return try TFLiteFile.read(contentsOf: url)
    } catch {
        throw CLIError("\(path): \(error)")
    }
}

/// `true` when the file carries the TFLite flatbuffer identifier "TFL3" at bytes 4..<8.
func isTFLiteFile(_ path: String) -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    let head = (try? handle.read(upToCount: 8)) ?? Data()
    return head.count == 8 && Array(head[4..<8]) == Array("TFL3".utf8)
}

/// Progress lines on standard error for runs of 2,000 samples or more, about every 10 %.
final class ProgressNote: @unchecked Sendable {
    let total: Int
    let label: String
    let start = Date()
    private var nextReport: Int

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        nextReport = max(total / 10, 1)
    }

    var callback: ((Int) -> Void)? {
        guard total >= 2000 else { return nil }
        return { [self] done in
            guard done >= nextReport, done < total else { return }
            nextReport = done + max(total / 10, 1)
            note(String(format: "%@: %d/%d samples (%.1f s)", label, done, total, Date().timeIntervalSince(start)))
        }
    }
}
