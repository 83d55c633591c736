import TensorCore

/// Updates a model's trainable parameters from their gradients.
public protocol Optimizer: AnyObject {
    /// The learning rate of the next step.
    var learningRate: Float { get set }
    /// Steps taken so far.
    var iterations: Int { get }
    /// Applies one step to the trainable `parameters` (the same list, in the same order, every step).
    func step(_ parameters: [Parameter])
    /// The configuration and state, for saving and resuming.
    var state: OptimizerState { get }
    /// Restores what `state` returned; the slot shapes must match `parameters`.
    func restore(_ state: OptimizerState, parameters: [Parameter]) throws
}

/// An optimizer's configuration and per-parameter slots, as saved in a model file.
public struct OptimizerState: Codable, Sendable {
    public var kind: String
    public var hyperparameters: [String: Double]
    public var iterations: Int
    /// Per slot name (`m`, `v`, `momentum`), one array per trainable parameter.
    public var slots: [String: [[Float]]]

    public init(kind: String, hyperparameters: [String: Double], iterations: Int, slots: [String: [[Float]]]) {
        self.kind = kind
        self.hyperparameters = hyperparameters
        self.iterations = iterations
        self.slots = slots
    }

    /// A new optimizer with this configuration and state.
    public func makeOptimizer(parameters: [Parameter]) throws -> any Optimizer {
        let optimizer: any Optimizer
        switch kind {
        case "adam":
            optimizer = Adam(learningRate: Float(hyperparameters["learning_rate"] ?? 1e-3),
                             beta1: Float(hyperparameters["beta_1"] ?? 0.9),
                             beta2: Float(hyperparameters["beta_2"] ?? 0.999),
                             epsilon: Float(hyperparameters["epsilon"] ?? 1e-7))
        case "sgd":
            optimizer = SGD(learningRate: Float(hyperparameters["learning_rate"] ?? 0.01),
                            momentum: Float(hyperparameters["momentum"] ?? 0),
                            nesterov: (hyperparameters["nesterov"] ?? 0) != 0)
        default:
            throw ModelError(.badModelFile, "model file: unknown optimizer '\(kind)' (QuantKit knows adam and sgd)")
        }
        try optimizer.restore(self, parameters: parameters)
        return optimizer
    }
}

func checkSlots(_ slots: [[Float]]?, name: String, parameters: [Parameter]) throws -> [[Float]] {
    guard let slots else {
        return parameters.map { [Float](repeating: 0, count: $0.value.count) }
    }
    guard slots.count == parameters.count, zip(slots, parameters).allSatisfy({ $0.count == $1.value.count }) else {
        throw ModelError(.badModelFile, "model file: optimizer slot '\(name)' does not match the model's parameters")
    }
    return slots
}
