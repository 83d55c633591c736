#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import QuantKit

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a .tflite model on raw input samples with QuantKit's interpreter.",
        discussion: """
            --input holds samples back to back as raw little-endian values of the model's input type and shape \
            (float32 or int8; see `quantkit inspect`). Without --count, the number of samples is the file size \
            divided by the size of one sample, which must divide it exactly; with --count N, the first N samples \
            are used. --output receives the raw outputs, written atomically: the input is streamed in chunks and \
            the outputs go to a temporary file next to --output, renamed over it only when the whole run succeeded \
            (an existing file there is untouched by a failed run). Memory does not grow with the number of samples.
            """
    )

    @Argument(help: ArgumentHelp("A TFLite flatbuffer.", valueName: "model.tflite")) var model: String
    @Option(help: ArgumentHelp("Raw input samples.", valueName: "file")) var input: String
    @Option(help: ArgumentHelp("Where to write the raw outputs.", valueName: "file")) var output: String
    @Option(help: ArgumentHelp("Number of samples to run (default: all in --input).", valueName: "n")) var count: Int?
    @OptionGroup var interpreterArguments: InterpreterArguments
    @Option(name: .customLong("chunk-samples"),
            help: ArgumentHelp("Samples read from --input at a time (default: about 4 MB of input).", valueName: "n", visibility: .hidden))
    var chunkSamples: Int?

    /// Input bytes read per chunk (rounded to whole batches of every thread).
    static let chunkBytes = 4 << 20

    func validate() throws {
        if let count, count < 0 { throw ValidationError("--count must be 0 or more") }
        if let chunkSamples, chunkSamples < 1 { throw ValidationError("--chunk-samples must be at least 1") }
    }

    func run() throws {
        let graph = try readTFLite(model)
        let interpreter = try Interpreter(graph: graph, options: interpreterArguments.options())
        let inputURL = URL(fileURLWithPath: input)
        guard FileManager.default.fileExists(atPath: inputURL.path) else { throw CLIError("\(input): no such file") }
        let reader = try RawFileReader(path: input)
        let sample = interpreter.inputTensor
        let sampleBytes = sample.byteCount
        let outputBytes = interpreter.outputTensor.byteCount
        let what = "one sample of \(sample.elementType) \(Shape.describe(sample.shape)) is \(sampleBytes) bytes"
        let n: Int
        if let count {
            let (needed, overflow) = count.multipliedReportingOverflow(by: sampleBytes)
            guard !overflow, reader.size >= needed else {
                throw CLIError("\(input) has \(reader.size) bytes, but \(count) samples need \(overflow ? "more" : String(needed)) (\(what))")
            }
            n = count
        } else {
            guard sampleBytes > 0, reader.size % sampleBytes == 0 else {
                throw CLIError("\(input) has \(reader.size) bytes, which is not a whole number of samples (\(what))")
            }
            n = reader.size / sampleBytes
        }
        // Chunks of whole batches for every thread, about `chunkBytes` of input each.
        let step = interpreter.batchCapacity * interpreter.threadCount
        let chunk = chunkSamples ?? max(step, Self.chunkBytes / max(sampleBytes, 1) / step * step)
        let inputBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(min(chunk, n) * sampleBytes, 1), alignment: 64)
        defer { inputBuffer.deallocate() }
        let outputBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(min(chunk, n) * outputBytes, 1), alignment: 64)
        defer { outputBuffer.deallocate() }

        let start = Date()
        let progress = ProgressNote(total: n, label: "run")
        let writer = try AtomicFileWriter(destination: URL(fileURLWithPath: output))
        defer { writer.discard() }
        var done = 0
        while done < n {
            let k = min(chunk, n - done)
            let inBytes = UnsafeMutableRawBufferPointer(rebasing: inputBuffer[0..<(k * sampleBytes)])
            try reader.read(into: inBytes, at: done * sampleBytes)
            let outBytes = UnsafeMutableRawBufferPointer(rebasing: outputBuffer[0..<(k * outputBytes)])
            let base = done
            let report = progress.callback.map { callback in { (d: Int) in callback(base + d) } }
            try interpreter.run(input: UnsafeRawBufferPointer(inBytes), count: k, output: outBytes, progress: report)
            try writer.write(UnsafeRawBufferPointer(outBytes))
            done += k
        }
        try writer.commit()
        let o = interpreter.outputTensor
        note(String(format: "ran %d samples in %.2f s (%@ kernels, %d thread%@); wrote %d bytes (%@ %@ per sample) to %@",
                    n, Date().timeIntervalSince(start), interpreter.options.kernels.rawValue, interpreter.threadCount,
                    interpreter.threadCount == 1 ? "" : "s", n * outputBytes, "\(o.elementType)", Shape.describe(o.shape), output))
    }
}

/// Reads byte ranges of a file with `pread`, without mapping or loading it whole.
final class RawFileReader {
    let path: String
    let size: Int
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CLIError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CLIError("\(path): cannot stat: \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CLIError("\(path): not a regular file")
        }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Fills `buffer` with the bytes at `offset`; a short file is an error.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var got = 0
        while got < buffer.count {
            let r = pread(fd, buffer.baseAddress! + got, buffer.count - got, off_t(offset + got))
            if r < 0 {
                if errno == EINTR { continue }
                throw CLIError("\(path): read failed at byte \(offset + got): \(String(cString: strerror(errno)))")
            }
            if r == 0 { throw CLIError("\(path): ends at byte \(offset + got), expected \(offset + buffer.count) (file shrank?)") }
            got += r
        }
    }
}

extension CLIError {
    /// "cannot write PATH: REASON", as `AtomicFile.WriteError` says it.
    static func cannotWrite(_ path: String, _ reason: String) -> CLIError { CLIError("cannot write \(path): \(reason)") }
}

/// Writes a file atomically in pieces, with `AtomicFile`'s conventions: the bytes go to a hidden
/// temporary file `.NAME.tmp-PID-RANDOM` in the destination's directory, which `commit()` flushes
/// (`fsync`) and renames over the destination. Until then the destination is untouched; `discard()`
/// (or a failed write) removes the temporary file.
final class AtomicFileWriter {
    let destination: String
    let temporary: String
    private var fd: Int32
    private var finished = false

    init(destination url: URL) throws {
        destination = url.path
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CLIError.cannotWrite(destination, "cannot create directory \(directory.path): \(error.localizedDescription)")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CLIError.cannotWrite(destination, "is a directory")
        }
        temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CLIError.cannotWrite(destination, String(cString: strerror(errno))) }
    }

    deinit { discard() }

    /// Appends `bytes` to the temporary file.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "AtomicFileWriter.write after commit or discard")
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                discard()
                throw CLIError.cannotWrite(destination, reason)
            }
            offset += n
        }
    }

    /// Flushes the temporary file and renames it over the destination.
    func commit() throws {
        precondition(!finished, "AtomicFileWriter.commit after commit or discard")
        if fsync(fd) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw CLIError.cannotWrite(destination, "fsync failed: \(reason)")
        }
        close(fd)
        fd = -1
        if rename(temporary, destination) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            finished = true
            throw CLIError.cannotWrite(destination, reason)
        }
        finished = true
    }

    /// Removes the temporary file (nothing after `commit`).
    func discard() {
        guard !finished else { return }
        finished = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporary)
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
