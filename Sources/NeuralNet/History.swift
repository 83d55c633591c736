import Foundation
import TensorCore

/// What one epoch of training measured.
public struct EpochRecord: Codable, Sendable, Equatable {
    /// 1-based epoch number, counted across `fit` calls.
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    /// Wall-clock seconds of the training part of the epoch (validation excluded).
    public var seconds: Double
    /// Wall-clock seconds of the validation pass after the epoch (0 without validation data).
    public var validationSeconds: Double = 0
    public var samplesPerSecond: Double
    public var learningRate: Double

    public init(epoch: Int, loss: Double, accuracy: Double, valLoss: Double? = nil, valAccuracy: Double? = nil,
                seconds: Double, validationSeconds: Double = 0, samplesPerSecond: Double, learningRate: Double) {
        self.epoch = epoch
        self.loss = loss
        self.accuracy = accuracy
        self.valLoss = valLoss
        self.valAccuracy = valAccuracy
        self.seconds = seconds
        self.validationSeconds = validationSeconds
        self.samplesPerSecond = samplesPerSecond
        self.learningRate = learningRate
    }

    enum CodingKeys: String, CodingKey {
        case epoch, loss, accuracy, seconds
        case valLoss = "val_loss", valAccuracy = "val_accuracy"
        case samplesPerSecond = "samples_per_second", learningRate = "learning_rate"
        case validationSeconds = "validation_seconds"
    }
}

/// The per-epoch record of a `fit` call, like Keras's `History`.
public struct History: Codable, Sendable, Equatable {
    public var epochs: [EpochRecord] = []

    public init(epochs: [EpochRecord] = []) {
        self.epochs = epochs
    }

    /// The history as pretty-printed JSON (`{"epochs": [{"epoch": 1, "loss": ...}, ...]}`).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The history as CSV with a header row.
    public func csv() -> String {
        func f(_ x: Double?) -> String { x.map { String($0) } ?? "" }
        var lines = ["epoch,loss,accuracy,val_loss,val_accuracy,seconds,validation_seconds,samples_per_second,learning_rate"]
        for e in epochs {
            lines.append("\(e.epoch),\(e.loss),\(e.accuracy),\(f(e.valLoss)),\(f(e.valAccuracy)),\(e.seconds),\(e.validationSeconds),\(e.samplesPerSecond),\(e.learningRate)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the history atomically as CSV when `url` ends in `.csv`, else as JSON.
    public func write(to url: URL) throws {
        try AtomicFile.write(url.pathExtension.lowercased() == "csv" ? csv() : json() + "\n", to: url)
    }
}
