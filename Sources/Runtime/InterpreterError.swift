/// Why an ``Interpreter`` cannot be built or cannot run: what is wrong and where (operator and
/// tensor, by index and name).
///
/// A struct with a ``Kind`` so that new kinds can be added without breaking callers; the message is
/// complete on its own (`"operator 3 (DEPTHWISE_CONV_2D): hybrid (float input, int8 filter) depthwise
/// convolution is not supported"`).
public struct InterpreterError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The graph fails ``Graph/validate()``.
        case invalidGraph
        /// Valid TFLite, but no kernel in the chosen kernel set computes it.
        case unsupported
        /// The input buffer does not hold a whole number of samples, or not `count` of them.
        case inputSize
        /// The output buffer has the wrong size.
        case outputSize
        /// A typed convenience was called with the wrong element type for the model.
        case typeMismatch
        /// An argument is out of range (negative count, unknown tensor index, ...).
        case invalidArgument
        /// An intermediate tensor was asked for, but its memory was reused during the run
        /// (build the interpreter with ``InterpreterOptions/preservesIntermediates``).
        case notPreserved
    }

    public var kind: Kind
    /// The complete human-readable explanation.
    public var message: String
    /// The operator concerned, if any.
    public var operatorIndex: Int?
    /// The tensor concerned, if any.
    public var tensorIndex: Int?

    public init(_ kind: Kind, _ message: String, operator operatorIndex: Int? = nil, tensor tensorIndex: Int? = nil) {
        self.kind = kind
        self.message = message
        self.operatorIndex = operatorIndex
        self.tensorIndex = tensorIndex
    }

    public var description: String { message }
}
