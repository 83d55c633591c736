import Foundation
import TensorCore
import Datasets

/// Something told about training as it happens (e.g. a TensorBoard writer).
public protocol TrainingCallback: AnyObject {
    /// After each epoch, with its record.
    func epochEnded(_ record: EpochRecord, model: Sequential)
}

/// One copy of the model's layers that trains on a share of each batch, with its own caches,
/// gradients and dropout stream (data-parallel training).
final class Replica {
    let layers: [any Layer]
    var random: SeededRandom
    var batch = Tensor(shape: [0])
    var labels: [Int32] = []
    var lossSum = 0.0
    var correct = 0
    var diverged = false

    init(layers: [any Layer], seed: UInt64) {
        self.layers = layers
        self.random = SeededRandom(seed: seed)
    }

    var trainableParameters: [Parameter] { layers.flatMap(\.parameters).filter(\.trainable) }

    /// Forward, loss and backward on `indices` of `data`; gradients are scaled for a whole
    /// batch of `batchSize` samples so that the replicas' gradients add up to the batch's.
    func step(_ data: LabeledImages, _ indices: ArraySlice<Int>, batchSize: Int, loss: Loss) {
        if batch.batchSize != indices.count || batch.shape.count != data.sampleShape.count + 1 {
            batch = Tensor(shape: [indices.count] + data.sampleShape)
        }
        data.gather(indices, into: &batch, labels: &labels)
        var x = batch
        for layer in layers { x = layer.forward(x, training: true, random: &random) }
        let (meanLoss, stepCorrect) = loss.evaluate(x, labels: labels)
        lossSum = meanLoss * Double(indices.count)
        correct = stepCorrect
        diverged = !meanLoss.isFinite || !x.storage.allSatisfy { $0.isFinite }
        if diverged { return }
        let endsInSoftmax = layers.last?.outputActivation == .softmax
        var gradient = endsInSoftmax
            ? loss.logitsGradient(x, labels: labels, batchSize: batchSize)
            : loss.probabilityGradient(x, labels: labels, batchSize: batchSize)
        // Layers before the first one with trainable parameters (a QAT model's input fake-quant)
        // need no gradient: the backward pass stops there.
        let firstTrainable = layers.firstIndex { $0.parameters.contains(where: \.trainable) } ?? 0
        for (index, layer) in layers.enumerated().reversed() {
            let options = BackwardOptions(needsInputGradient: index > firstTrainable,
                                          gradientBypassesActivation: endsInSoftmax && index == layers.count - 1)
            // Hand the gradient over (no copy): the layer may reuse its storage.
            guard let g = layer.backward(consume gradient, options: options) else { break }
            gradient = g
        }
    }
}

extension Sequential {
    /// Trains on `data` for `epochs` epochs of shuffled mini-batches, like Keras's `fit`.
    ///
    /// Each epoch draws a new seeded permutation of the data (the last batch may be smaller),
    /// runs forward, the loss, backward and one optimizer step per batch, then evaluates on
    /// `validation` if given. Progress goes to standard error (see `Verbosity`).
    ///
    /// On several cores, a model without batch normalization trains data-parallel: each batch
    /// is split in fixed halves that two replicas of the layers process at once, and their
    /// gradients are summed before the step — the same update as one pass over the batch, up to
    /// float rounding, and the same bits on every run.
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

        let replicas = try trainingReplicas(batchSize: batchSize)
        let trainable = trainableParameters
        let replicaParameters = replicas.map(\.trainableParameters)
        // State updated by forward passes (QAT ranges): merged after each data-parallel step.
        let mergeable = layers.indices.filter { layers[$0] is any ReplicaMergeable }
        let replicaState = replicas.map { r in mergeable.flatMap { r.layers[$0].parameters.filter { !$0.trainable } } }
        let steps = (data.count + batchSize - 1) / batchSize
        var progress = ProgressPrinter(verbose)
        var history = History()

        // Data-parallel replicas each run single-threaded BLAS; restore the setting afterwards.
        let blasThreads = BLAS.threadCount
        if replicas.count > 1 { BLAS.threadCount = 1 }
        defer { if replicas.count > 1 { BLAS.threadCount = blasThreads } }

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
                let count = hi - lo
                if replicas.count == 1 || count < replicas.count {
                    replicas[0].step(data, order[lo..<hi], batchSize: count, loss: loss)
                    replicas.dropFirst().forEach { $0.lossSum = 0; $0.correct = 0; $0.diverged = false }
                } else {
                    Parallel.run(replicas.count) { r in
                        let a = lo + count * r / replicas.count, b = lo + count * (r + 1) / replicas.count
                        Parallel.serially { replicas[r].step(data, order[a..<b], batchSize: count, loss: loss) }
                    }
                    sumGradients(into: replicaParameters[0], from: replicaParameters.dropFirst())
                    for i in mergeable {
                        (replicas[0].layers[i] as! any ReplicaMergeable).mergeReplicaState(from: replicas.dropFirst().map { $0.layers[i] })
                    }
                }
                let stepLoss = replicas.reduce(0) { $0 + $1.lossSum } / Double(count)
                guard !replicas.contains(where: \.diverged), stepLoss.isFinite else {
                    throw ModelError(.nonFiniteLoss, """
                        training diverged: the loss became \(stepLoss) at epoch \(epoch), step \(step + 1) of \(steps). \
                        Try a lower learning rate or check the input data for NaN/infinite values.
                        """)
                }
                optimizer.step(trainable)
                copyValues(from: replicaParameters[0], to: replicaParameters.dropFirst())
                if !mergeable.isEmpty { copyValues(from: replicaState[0], to: replicaState.dropFirst()) }

                totalLoss += stepLoss * Double(count)
                correct += replicas.reduce(0) { $0 + $1.correct }
                seen += count
                let elapsed = Date().timeIntervalSince(start)
                progress.step(epoch: epoch, epochs: lastEpoch, step: step + 1, steps: steps,
                              loss: totalLoss / Double(seen), accuracy: Double(correct) / Double(seen),
                              samplesPerSecond: Double(seen) / max(elapsed, 1e-9), elapsed: elapsed)
            }
            let seconds = Date().timeIntervalSince(start)
            var record = EpochRecord(epoch: epoch, loss: totalLoss / Double(seen), accuracy: Double(correct) / Double(seen),
                                     valLoss: nil, valAccuracy: nil, seconds: seconds,
                                     samplesPerSecond: Double(seen) / max(seconds, 1e-9),
                                     learningRate: Double(optimizer.learningRate))
            if let validation, validation.count > 0 {
                if replicas.count > 1 { BLAS.threadCount = blasThreads }
                let validationStart = Date()
                let v = try evaluate(validation)
                record.validationSeconds = Date().timeIntervalSince(validationStart)
                record.valLoss = v.loss
                record.valAccuracy = v.accuracy
                if replicas.count > 1 { BLAS.threadCount = 1 }
            }
            epochsTrained = epoch
            history.epochs.append(record)
            progress.epochEnd(record, epochs: lastEpoch, steps: steps)
            for callback in callbacks { callback.epochEnded(record, model: self) }
        }
        return history
    }

    /// The model itself, plus a second replica when data-parallel training applies.
    func trainingReplicas(batchSize: Int) throws -> [Replica] {
        let main = Replica(layers: layers, seed: trainingRandom.next())
        let usesBatchStatistics = layers.contains { $0 is BatchNormalization || ($0 as? FakeQuantWrapper)?.usesBatchStatistics == true }
        guard dataParallel, Parallel.threadCount >= 2, batchSize >= 16, !usesBatchStatistics, let inputShape else {
            // One replica: the layers' own loops use the cores.
            main.random = trainingRandom
            return [main]
        }
        let copy = layers.map { $0.configuration.makeLayer(name: $0.name) }
        var scratch = SeededRandom(seed: 0)
        var shape = inputShape
        for layer in copy {
            try layer.build(inputShape: shape, random: &scratch)
            shape = layer.outputShape
        }
        let replica = Replica(layers: copy, seed: trainingRandom.next())
        copyValues(from: main.trainableParameters, to: [replica.trainableParameters])
        // Non-trainable state (learned QAT ranges) starts where the model's is.
        copyValues(from: layers.flatMap(\.parameters).filter { !$0.trainable }, to: [copy.flatMap(\.parameters).filter { !$0.trainable }])
        return [main, replica]
    }
}

/// `targets[i].gradient += sum over sources of sources[k][i].gradient`, in parallel chunks.
func sumGradients(into targets: [Parameter], from sources: ArraySlice<[Parameter]>) {
    for (i, target) in targets.enumerated() {
        target.gradient.storage.withUnsafeMutableBufferPointer { g in
            let gp = g.baseAddress!
            for source in sources {
                source[i].gradient.storage.withUnsafeBufferPointer { s in
                    let sp = s.baseAddress!
                    Parallel.forEachChunk(g.count) { r in Vectorized.add(sp + r.lowerBound, to: gp + r.lowerBound, count: r.count) }
                }
            }
        }
    }
}

/// Copies the values of `sources` into every list of `targets` (same shapes, same order).
func copyValues(from sources: [Parameter], to targets: ArraySlice<[Parameter]>) {
    for list in targets {
        for (source, target) in zip(sources, list) {
            source.value.storage.withUnsafeBufferPointer { s in
                target.value.storage.withUnsafeMutableBufferPointer { t in
                    let (sp, tp) = (s.baseAddress!, t.baseAddress!)
                    Parallel.forEachChunk(s.count) { r in (tp + r.lowerBound).update(from: sp + r.lowerBound, count: r.count) }
                }
            }
        }
    }
}
