/// A ``Graph`` that breaks a structural rule: what is wrong and where (operator and tensor, by
/// index and name).
///
/// A struct with a ``Kind`` so that new kinds can be added without breaking callers; the message
/// is complete on its own (`"operator 1 (CONV_2D): filter tensor 9 'conv/w' has 3 input channels,
/// but input tensor 0 'x' has 1"`).
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A tensor or operator index outside the graph.
        case indexOutOfRange
        /// A shape is invalid on its own (negative dimension, too many elements, wrong rank).
        case invalidShape
        /// Shapes of an operator's operands do not fit together.
        case shapeMismatch
        /// Element types of an operator's operands are not a supported combination.
        case typeMismatch
        /// Quantization parameters are missing, malformed or inconsistent.
        case invalidQuantization
        /// Constant data has the wrong length, or a constant operand is missing.
        case invalidConstantData
        /// Operator options out of range (stride 0, ...).
        case invalidOptions
        /// Wrong number of inputs or outputs, or an absent operand that is required.
        case invalidOperands
        /// An operand is read before any operator writes it, or a tensor is written twice.
        case invalidDataflow
        /// Valid TFLite, but outside what QuantKit supports.
        case unsupported
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

    public var description: String { "invalid graph (\(kind.rawValue)): \(message)" }
}
