import Foundation
import TensorCore
import Datasets

/// Something told about training as it happens (e.g. a TensorBoard writer).
public protocol TrainingCallback: AnyObject {
    /// After each epoch, with its record.
    func epochEnded(_ record: EpochRecord, model: Sequential)
}

extension Sequential {
    /// Trains on `data` for `epochs` epochs of shuffled mini-batches, like Keras's `fit`.
    ///
    /// Each epoch draws a new seeded permutation of the data (the last batch may be smaller),
    /// runs forward, the loss, backward and one optimizer step per batch, then evaluates on
    /// `validation` if given. Progress goes to standard error (see `Verbosity`).
    ///
    /// - Throws: `ModelError.Kind.notReady` before `compile`; `.nonFiniteLoss` naming the epoch
    ///   and step when the loss becomes NaN or infinite; `.shapeMismatch` when the data does not fit.
    @discardableResult
    public func fit(_ data: LabeledImages, epochs: Int = 1, batchSize: Int = 32, validation: LabeledImages? = nil,
                    verbose: Verbosity = .auto, callbacks: [any TrainingCallback] = []) throws -> History {
        guard let optimizer, let loss else {
            throw ModelError(.notReady, "call compile(optimizer:loss:metrics:) before fit")
        }
        guard epochs >= 0 else { throw ModelError(.invalidArgument, "epochs must be >= 0, got \(epochs)") }
        guard batchSize >= 1 else { throw ModelError(.invalidArgument, "batch size must be >= 1, got \(batchSize)") }
        guard data.count > 0 else { throw ModelError(.invalidArgument, "the training data is empty") }
        try ensureBuilt(data.sampleShape)
        if let validation { try ensureBuilt(validation.sampleShape) }

        let trainable = trainableParameters
        let endsInSoftmax = layers.last?.outputActivation == .softmax
        let steps = (data.count + batchSize - 1) / batchSize
        var progress = ProgressPrinter(verbose)
        var history = History()
        var batch = Tensor(shape: [batchSize] + data.sampleShape)
        var labels = [Int32]()
        labels.reserveCapacity(batchSize)

        let lastEpoch = epochsTrained + epochs
        for _ in 0..<epochs {
            let epoch = epochsTrained + 1
            var shuffle = SeededRandom(seed: seed &+ 0x5_4FF1E &+ UInt64(epoch))
            let order = shuffle.permutation(data.count)
            var totalLoss = 0.0
            var correct = 0
            var seen = 0
            let start = Date()
            for step in 0..<steps {
                let lo = step * batchSize, hi = min(lo + batchSize, data.count)
                if batch.batchSize != hi - lo { batch = Tensor(shape: [hi - lo] + data.sampleShape) }
                data.gather(order[lo..<hi], into: &batch, labels: &labels)

                let probabilities = forward(batch, training: true)
                let (stepLoss, stepCorrect) = loss.evaluate(probabilities, labels: labels)
                guard stepLoss.isFinite, probabilities.storage.allSatisfy({ $0.isFinite }) else {
                    throw ModelError(.nonFiniteLoss, """
                        training diverged: the loss became \(stepLoss) at epoch \(epoch), step \(step + 1) of \(steps). \
                        Try a lower learning rate or check the input data for NaN/infinite values.
                        """)
                }
                var gradient = endsInSoftmax
                    ? loss.logitsGradient(probabilities, labels: labels)
                    : loss.probabilityGradient(probabilities, labels: labels)
                for (index, layer) in layers.enumerated().reversed() {
                    let options = BackwardOptions(needsInputGradient: index > 0,
                                                  gradientBypassesActivation: endsInSoftmax && index == layers.count - 1)
                    // Hand the gradient over (no copy): the layer may reuse its storage.
                    guard let g = layer.backward(consume gradient, options: options) else { break }
                    gradient = g
                }
                optimizer.step(trainable)

                totalLoss += stepLoss * Double(hi - lo)
                correct += stepCorrect
                seen += hi - lo
                let elapsed = Date().timeIntervalSince(start)
                progress.step(epoch: epoch, epochs: lastEpoch,
                              step: step + 1, steps: steps, loss: totalLoss / Double(seen),
                              accuracy: Double(correct) / Double(seen),
                              samplesPerSecond: Double(seen) / max(elapsed, 1e-9), elapsed: elapsed)
            }
            let seconds = Date().timeIntervalSince(start)
            var record = EpochRecord(epoch: epoch, loss: totalLoss / Double(seen), accuracy: Double(correct) / Double(seen),
                                     valLoss: nil, valAccuracy: nil, seconds: seconds,
                                     samplesPerSecond: Double(seen) / max(seconds, 1e-9),
                                     learningRate: Double(optimizer.learningRate))
            if let validation, validation.count > 0 {
                let v = try evaluate(validation)
                record.valLoss = v.loss
                record.valAccuracy = v.accuracy
            }
            epochsTrained = epoch
            history.epochs.append(record)
            progress.epochEnd(record, epochs: lastEpoch, steps: steps)
            for callback in callbacks { callback.epochEnded(record, model: self) }
        }
        return history
    }
}
