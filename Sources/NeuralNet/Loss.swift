import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// A training loss over a batch of class probabilities and integer labels.
public enum Loss: String, Codable, Sendable {
    /// `-log(p[label])`, averaged over the batch, Keras's `sparse_categorical_crossentropy`
    /// on probabilities (clipped to [1e-7, 1 - 1e-7], as Keras clips them).
    case sparseCategoricalCrossentropy

    /// Keras's epsilon for clipping probabilities.
    public static let epsilon: Float = 1e-7

    /// The mean loss and number of correct argmax predictions of `probabilities` (`[batch, classes]`).
    public func evaluate(_ probabilities: Tensor, labels: some Collection<Int32>) -> (loss: Double, correct: Int) {
        let classes = probabilities.shape.last ?? 1
        var total = 0.0
        var correct = 0
        probabilities.storage.withUnsafeBufferPointer { p in
            for (row, label) in labels.enumerated() {
                let base = row * classes
                let pc = min(max(p[base + Int(label)], Loss.epsilon), 1 - Loss.epsilon)
                total -= Double(logf(pc))
                var best = 0
                for j in 1..<classes where p[base + j] > p[base + best] { best = j }
                if best == Int(label) { correct += 1 }
            }
        }
        return (total / Double(max(labels.count, 1)), correct)
    }

    /// dLoss/dLogits for a softmax output: `(p - onehot(label)) / batch`, the fused gradient
    /// Keras uses when the model ends in a softmax.
    ///
    /// `batchSize` is the size of the whole batch when `probabilities` is only part of it
    /// (data-parallel training); it defaults to `labels.count`.
    public func logitsGradient(_ probabilities: Tensor, labels: some Collection<Int32>, batchSize: Int? = nil) -> Tensor {
        let classes = probabilities.shape.last ?? 1
        var gradient = probabilities
        let scale = 1 / Float(max(batchSize ?? labels.count, 1))
        gradient.storage.withUnsafeMutableBufferPointer { g in
            for i in g.indices { g[i] *= scale }
            for (row, label) in labels.enumerated() { g[row * classes + Int(label)] -= scale }
        }
        return gradient
    }

    /// dLoss/dProbabilities, for a model whose output is not a softmax:
    /// `-1 / (batch * clip(p[label]))` at the label, 0 elsewhere.
    public func probabilityGradient(_ probabilities: Tensor, labels: some Collection<Int32>, batchSize: Int? = nil) -> Tensor {
        let classes = probabilities.shape.last ?? 1
        var gradient = Tensor(shape: probabilities.shape)
        let scale = 1 / Float(max(batchSize ?? labels.count, 1))
        probabilities.storage.withUnsafeBufferPointer { p in
            gradient.storage.withUnsafeMutableBufferPointer { g in
                for (row, label) in labels.enumerated() {
                    let i = row * classes + Int(label)
                    let pc = p[i]
                    if pc > Loss.epsilon && pc < 1 - Loss.epsilon { g[i] = -scale / pc }
                }
            }
        }
        return gradient
    }
}

/// A metric reported during training and evaluation.
public enum Metric: String, Codable, Sendable {
    /// The fraction of samples whose argmax prediction equals the label.
    case accuracy
}
