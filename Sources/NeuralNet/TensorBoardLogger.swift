import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a TensorBoard log cannot be created or written, and where.
public struct TensorBoardError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The log directory, or its `train`/`validation` subdirectory, cannot be created.
        case cannotCreateDirectory
        /// An event file cannot be created or written (permissions, disk full, closed logger).
        case cannotWrite
    }
    public var kind: Kind
    /// The directory or file concerned.
    public var path: String
    /// The system's reason (`strerror`) or what went wrong.
    public var reason: String

    public init(_ kind: Kind, path: String, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch kind {
        case .cannotCreateDirectory: "cannot create the TensorBoard log directory \(path): \(reason)"
        case .cannotWrite: "cannot write the TensorBoard event file \(path): \(reason)"
        }
    }
}

/// Writes each epoch's scalars as TensorFlow event files that TensorBoard opens, like Keras's
/// `tf.keras.callbacks.TensorBoard` with `update_freq="epoch"`.
///
/// Pass it to `fit(_:callbacks:)`, then run `tensorboard --logdir DIR`. The layout is Keras's:
///
///     DIR/train/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2       epoch_loss, epoch_accuracy,
///                                                                       epoch_learning_rate, epoch_seconds
///     DIR/validation/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2  epoch_loss, epoch_accuracy
///
/// The validation run carries `val_loss` and `val_accuracy` under the *same* tags as the training
/// run (`epoch_loss`, `epoch_accuracy`), as Keras does, so TensorBoard draws training and
/// validation as two runs on one chart per metric. Its file is created at the first epoch that
/// has validation values, so a run without validation data has no `validation` run.
///
/// Each event is `Event{wall_time, step, summary{value{tag, simple_value}}}` with `step` the
/// epoch number as `EpochRecord.epoch` counts it: 1-based and continued across `fit` calls and
/// resumed models (Keras's steps are 0-based epoch indices). Values are float32 (`simple_value`).
/// Every file starts with `Event{wall_time, file_version: "brain.Event:2"}`, in TFRecord framing
/// (see `TFRecord`).
///
/// Each epoch's records reach the operating system (one `write(2)` per file) before
/// `epochEnded` returns, so an interrupted or crashed run keeps every finished epoch. Each
/// logger writes new files, never appending to or replacing an old one: a resumed run adds a
/// file beside the earlier one and TensorBoard reads both, in name (= time) order. A run started
/// over from epoch 1 in the same directory overlays the old one; use a fresh directory for it.
///
/// Directory and file problems are thrown by `init`. If a write fails later (say, a full disk),
/// training goes on: the logger keeps the error in `writeError`, prints one warning to standard
/// error and logs nothing more (so the files stay well-formed up to the last complete epoch).
public final class TensorBoardLogger: TrainingCallback {
    /// Subdirectory names of the two runs, as Keras names them.
    public static let trainRun = "train"
    public static let validationRun = "validation"

    /// The log directory (what `tensorboard --logdir` is given).
    public let directory: URL
    /// The event file of the training run.
    public var trainEventFile: URL { train.url }
    /// The event file of the validation run, once an epoch with validation values was logged.
    public var validationEventFile: URL? { validation?.url }
    /// The first write error after `init`, after which nothing more is logged.
    public private(set) var writeError: TensorBoardError?

    private let train: EventFileWriter
    private var validation: EventFileWriter?
    private let validationDirectory: URL

    /// Creates `directory`, its `train` and `validation` subdirectories, and the training run's
    /// event file (with its file-version event).
    ///
    /// - Throws: `TensorBoardError` with `.cannotCreateDirectory` when a directory cannot be
    ///   made (a path component is a file, no permission), `.cannotWrite` when the event file
    ///   cannot be created or written, or the validation directory is not writable.
    public init(directory: URL) throws(TensorBoardError) {
        self.directory = directory
        let trainDirectory = directory.appendingPathComponent(Self.trainRun, isDirectory: true)
        validationDirectory = directory.appendingPathComponent(Self.validationRun, isDirectory: true)
        try makeDirectories(trainDirectory.path)
        try makeDirectories(validationDirectory.path)
        // The validation file is made lazily; make sure it can be.
        guard access(validationDirectory.path, W_OK | X_OK) == 0 else {
            throw TensorBoardError(.cannotWrite, path: validationDirectory.path, reason: String(cString: strerror(errno)))
        }
        train = try EventFileWriter(directory: trainDirectory)
    }

    /// Logs `record` (see `log(_:wallTime:)`); a failure is kept in `writeError` and reported once.
    public func epochEnded(_ record: EpochRecord, model: Sequential) {
        guard writeError == nil else { return }
        do {
            try log(record)
        } catch {
            writeError = error
            FileHandle.standardError.write(Data("warning: \(error); the TensorBoard log stops at the previous epoch\n".utf8))
        }
    }

    /// Appends `record`'s scalars at step `record.epoch`: loss, accuracy, learning rate and seconds
    /// to the training run; validation loss and accuracy, when present, to the validation run.
    ///
    /// - Throws: `TensorBoardError.Kind.cannotWrite` naming the file.
    public func log(_ record: EpochRecord, wallTime: Double = Date().timeIntervalSince1970) throws(TensorBoardError) {
        let step = Int64(record.epoch)
        try train.append(EventProto.scalars([
            ("epoch_loss", Float(record.loss)),
            ("epoch_accuracy", Float(record.accuracy)),
            ("epoch_learning_rate", Float(record.learningRate)),
            ("epoch_seconds", Float(record.seconds)),
        ], step: step, wallTime: wallTime))

        var validationScalars: [(tag: String, value: Float)] = []
        if let valLoss = record.valLoss { validationScalars.append(("epoch_loss", Float(valLoss))) }
        if let valAccuracy = record.valAccuracy { validationScalars.append(("epoch_accuracy", Float(valAccuracy))) }
        guard !validationScalars.isEmpty else { return }
        if validation == nil { validation = try EventFileWriter(directory: validationDirectory) }
        try validation!.append(EventProto.scalars(validationScalars, step: step, wallTime: wallTime))
    }

    /// Closes the event files; later epochs are not logged (`log` throws `.cannotWrite`).
    public func close() {
        train.close()
        validation?.close()
    }
}

/// One event file, opened exclusively under a fresh name, written record by record.
final class EventFileWriter {
    let url: URL
    private var fd: Int32

    /// Creates `directory/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2` (TensorFlow's
    /// naming) with the smallest `n` not yet taken, and writes the file-version event.
    init(directory: URL) throws(TensorBoardError) {
        let wallTime = Date().timeIntervalSince1970
        let prefix = "events.out.tfevents." + String(format: "%010lld", Int64(wallTime)) + ".\(Self.hostName()).\(getpid())"
        var n = 0
        while true {
            let candidate = directory.appendingPathComponent("\(prefix).\(n).v2")
            let fd = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 {
                self.url = candidate
                self.fd = fd
                break
            }
            guard errno == EEXIST, n < 10_000 else {
                throw TensorBoardError(.cannotWrite, path: candidate.path, reason: String(cString: strerror(errno)))
            }
            n += 1
        }
        try append(EventProto.fileVersion(wallTime: wallTime))
    }

    deinit { close() }

    /// Writes `event` as one TFRecord, with a single `write(2)`.
    func append(_ event: [UInt8]) throws(TensorBoardError) {
        guard fd >= 0 else { throw TensorBoardError(.cannotWrite, path: url.path, reason: "the logger was closed") }
        let record = TFRecord.frame(event)
        let failure: Int32? = record.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        if let failure {
            throw TensorBoardError(.cannotWrite, path: url.path, reason: String(cString: strerror(failure)))
        }
    }

    func close() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
    }

    /// The host name with anything but letters, digits, `-` and `_` replaced by `_` (it becomes
    /// part of a file name); "localhost" when it cannot be read.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safe = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
        return safe.isEmpty ? "localhost" : safe
    }
}

/// `mkdir -p path`; an error names `path` and, in its reason, the component that failed.
private func makeDirectories(_ path: String) throws(TensorBoardError) {
    func make(_ component: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: component, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? nil : "\(component) is a file, not a directory"
        }
        let parent = (component as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != component, let failure = make(parent) { return failure }
        if mkdir(component, 0o755) != 0 && errno != EEXIST {
            let reason = String(cString: strerror(errno))
            return component == path ? reason : "\(component): \(reason)"
        }
        return nil
    }
    if let failure = make(path) { throw TensorBoardError(.cannotCreateDirectory, path: path, reason: failure) }
}

private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
