import TensorCore

/// Batch normalization over the last (channel) axis, Keras's `BatchNormalization`.
///
///     training:  y = gamma * (x - mean_batch) / sqrt(var_batch + epsilon) + beta
///                moving = momentum * moving + (1 - momentum) * batch statistic
///     inference: y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
///
/// Keras defaults: momentum 0.99, epsilon 1e-3, gamma 1, beta 0, moving mean 0, variance 1.
/// The batch variance normalizes with `1/n`; the moving variance is updated with the unbiased
/// `n/(n-1)` estimate, as TensorFlow's fused batch norm does.
public final class BatchNormalization: Layer {
    public var name = "batch_normalization"
    public var typeName: String { "BatchNormalization" }
    public let momentum: Float
    public let epsilon: Float
    public private(set) var outputShape: [Int] = []

    public private(set) var gamma: Parameter!
    public private(set) var beta: Parameter!
    public private(set) var movingMean: Parameter!
    public private(set) var movingVariance: Parameter!

    public var parameters: [Parameter] { [gamma, beta, movingMean, movingVariance].compactMap { $0 } }
    public var configuration: LayerConfiguration { .batchNormalization(momentum: momentum, epsilon: epsilon) }

    /// When `true`, training uses (and does not update) the moving statistics, as in inference.
    /// QAT sets this after a number of steps ("freeze batch-norm statistics").
    public var freezeStatistics = false

    private var channels = 0
    private var normalized: [Float] = []     // x-hat of the last training batch
    private var inverseStd: [Float] = []     // 1/sqrt(var + eps) per channel
    private var lastShape: [Int] = []
    private var usedBatchStatistics = false

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3) {
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard let c = inputShape.last else {
            throw ModelError(.shapeMismatch, "\(name) (BatchNormalization) needs inputs with a channel axis")
        }
        channels = c
        outputShape = inputShape
        gamma = Parameter(name: "gamma", value: Tensor(shape: [c], repeating: 1))
        beta = Parameter(name: "beta", value: Tensor(shape: [c]))
        movingMean = Parameter(name: "moving_mean", value: Tensor(shape: [c]), trainable: false)
        movingVariance = Parameter(name: "moving_variance", value: Tensor(shape: [c], repeating: 1), trainable: false)
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        let c = channels
        let rows = input.count / c
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        let useBatch = training && !freezeStatistics
        if useBatch {
            // Two-pass mean and variance in double for accuracy.
            var sum = [Double](repeating: 0, count: c)
            var sq = [Double](repeating: 0, count: c)
            input.storage.withUnsafeBufferPointer { x in
                for r in 0..<rows { for j in 0..<c { sum[j] += Double(x[r * c + j]) } }
                for j in 0..<c { mean[j] = Float(sum[j] / Double(rows)) }
                for r in 0..<rows {
                    for j in 0..<c {
                        let d = Double(x[r * c + j]) - Double(mean[j])
                        sq[j] += d * d
                    }
                }
            }
            for j in 0..<c { variance[j] = Float(sq[j] / Double(rows)) }
            let unbias = rows > 1 ? Float(rows) / Float(rows - 1) : 1
            for j in 0..<c {
                movingMean.value.storage[j] = momentum * movingMean.value.storage[j] + (1 - momentum) * mean[j]
                movingVariance.value.storage[j] = momentum * movingVariance.value.storage[j] + (1 - momentum) * variance[j] * unbias
            }
        } else {
            mean = movingMean.value.storage
            variance = movingVariance.value.storage
        }
        let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        let g = gamma.value.storage, b = beta.value.storage
        if training {
            normalized = [Float](repeating: 0, count: input.count)
            inverseStd = invStd
            lastShape = input.shape
            usedBatchStatistics = useBatch
        }
        return Tensor(shape: input.shape, uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                normalized.withUnsafeMutableBufferPointer { xh in
                    for r in 0..<rows {
                        for j in 0..<c {
                            let i = r * c + j
                            let n = (x[i] - mean[j]) * invStd[j]
                            if training { xh[i] = n }
                            y[i] = g[j] * n + b[j]
                        }
                    }
                }
            }
        })
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        let c = channels
        let rows = outputGradient.count / c
        var sumDy = [Float](repeating: 0, count: c)
        var sumDyXh = [Float](repeating: 0, count: c)
        outputGradient.storage.withUnsafeBufferPointer { dy in
            normalized.withUnsafeBufferPointer { xh in
                for r in 0..<rows {
                    for j in 0..<c {
                        let i = r * c + j
                        sumDy[j] += dy[i]
                        sumDyXh[j] += dy[i] * xh[i]
                    }
                }
            }
        }
        gamma.gradient.storage = sumDyXh
        beta.gradient.storage = sumDy
        guard options.needsInputGradient else { return nil }
        let g = gamma.value.storage
        let n = Float(rows)
        return Tensor(shape: lastShape, uninitialized: { dx in
            outputGradient.storage.withUnsafeBufferPointer { dy in
                normalized.withUnsafeBufferPointer { xh in
                    for r in 0..<rows {
                        for j in 0..<c {
                            let i = r * c + j
                            if usedBatchStatistics {
                                // dx = gamma * invStd / n * (n*dy - sum(dy) - xh * sum(dy*xh))
                                dx[i] = g[j] * inverseStd[j] / n * (n * dy[i] - sumDy[j] - xh[i] * sumDyXh[j])
                            } else {
                                dx[i] = g[j] * inverseStd[j] * dy[i]
                            }
                        }
                    }
                }
            }
        })
    }
}
