import TensorCore

/// A trainable or fixed tensor of a layer, with the gradient of the last backward pass.
public final class Parameter {
    /// Keras-style name within its layer: `kernel`, `bias`, `gamma`, `moving_mean`, ...
    public let name: String
    /// The current value.
    public var value: Tensor
    /// dLoss/dValue from the last backward pass (same shape as `value`).
    public var gradient: Tensor
    /// `false` for state that the optimizer must not touch (batch-norm moving statistics).
    public let trainable: Bool

    public init(name: String, value: Tensor, trainable: Bool = true) {
        self.name = name
        self.value = value
        self.gradient = Tensor(shape: value.shape)
        self.trainable = trainable
    }
}

/// What a layer's backward pass must produce.
public struct BackwardOptions: Sendable {
    /// `false` for the first layer of a model: no one needs dLoss/dInput, so it is skipped.
    public var needsInputGradient: Bool = true
    /// `true` when the incoming gradient is already with respect to the values *before* the
    /// layer's output activation (the fused softmax + cross-entropy gradient `p - y`).
    public var gradientBypassesActivation: Bool = false

    public init(needsInputGradient: Bool = true, gradientBypassesActivation: Bool = false) {
        self.needsInputGradient = needsInputGradient
        self.gradientBypassesActivation = gradientBypassesActivation
    }
}

/// A layer of a `Sequential` model: forward and backward side by side, NHWC float32.
///
/// A layer is built once for an input shape (without the batch dimension), which creates its
/// parameters from the model's seeded generator. `forward` caches what `backward` needs; a
/// `backward` call always refers to the most recent `forward(training: true)`.
public protocol Layer: AnyObject {
    /// The Keras-style instance name (`conv2d`, `conv2d_1`, `dense`, ...).
    var name: String { get set }
    /// The Keras class name (`Conv2D`, `Dense`, ...).
    var typeName: String { get }
    /// The output shape without the batch dimension; valid after `build`.
    var outputShape: [Int] { get }
    /// All parameters, trainable first, in a fixed order (the order of the saved file).
    var parameters: [Parameter] { get }
    /// The configuration that recreates this layer (without its weights).
    var configuration: LayerConfiguration { get }
    /// The output activation, for layers that have one (`.linear` otherwise).
    var outputActivation: ActivationFunction { get }

    /// Creates the parameters for inputs of `inputShape` (no batch dimension).
    ///
    /// - Throws: `ModelError` naming the layer when the shape does not fit.
    func build(inputShape: [Int], random: inout SeededRandom) throws

    /// Computes the output for a batch. `training` turns on dropout and batch statistics.
    func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor

    /// Given dLoss/dOutput, fills the parameters' gradients and returns dLoss/dInput
    /// (or `nil` when `options.needsInputGradient` is `false`).
    func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor?
}

extension Layer {
    public var outputActivation: ActivationFunction { .linear }

    /// Number of scalars in all parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// A model built wrongly or given data that does not fit it.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A layer's input shape does not fit the layer.
        case shapeMismatch
        /// The model was used before `compile` / `build`.
        case notReady
        /// Training diverged: the loss became NaN or infinite.
        case nonFiniteLoss
        /// A model file is unreadable, foreign, truncated or corrupt.
        case badModelFile
        /// An argument is out of range.
        case invalidArgument
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
