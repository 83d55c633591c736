import TensorCore

/// Stochastic gradient descent with optional (Nesterov) momentum, Keras's `SGD`.
///
///     velocity = momentum * velocity - lr * g
///     w += velocity                               (plain momentum)
///     w += momentum * velocity - lr * g           (Nesterov)
///
/// Defaults: lr 0.01, momentum 0 (Keras).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public private(set) var iterations = 0
    private var velocity: [[Float]] = []

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public func step(_ parameters: [Parameter]) {
        if velocity.count != parameters.count {
            velocity = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        }
        iterations += 1
        let lr = learningRate, mu = momentum
        for (index, p) in parameters.enumerated() {
            p.value.storage.withUnsafeMutableBufferPointer { w in
                p.gradient.storage.withUnsafeBufferPointer { g in
                    velocity[index].withUnsafeMutableBufferPointer { vel in
                        for i in 0..<w.count {
                            if mu == 0 {
                                w[i] -= lr * g[i]
                            } else {
                                vel[i] = mu * vel[i] - lr * g[i]
                                w[i] += nesterov ? mu * vel[i] - lr * g[i] : vel[i]
                            }
                        }
                    }
                }
            }
        }
    }

    public var state: OptimizerState {
        OptimizerState(kind: "sgd",
                       hyperparameters: ["learning_rate": Double(learningRate), "momentum": Double(momentum),
                                         "nesterov": nesterov ? 1 : 0],
                       iterations: iterations, slots: velocity.isEmpty ? [:] : ["momentum": velocity])
    }

    public func restore(_ state: OptimizerState, parameters: [Parameter]) throws {
        iterations = max(0, state.iterations)
        velocity = try checkSlots(state.slots["momentum"], name: "momentum", parameters: parameters)
    }
}
