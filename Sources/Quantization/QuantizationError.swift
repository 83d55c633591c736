/// Why a ``Quantizer`` cannot quantize a graph: what is wrong and where (operator, tensor, sample).
///
/// A struct with a ``Kind`` so that new kinds can be added without breaking callers; the message is
/// complete on its own (`"operator 5 (FULLY_CONNECTED): weights are not a constant ..."`).
public struct QuantizationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The graph is not a float32 model (or fails ``Runtime/Graph/validate()``).
        case invalidGraph
        /// An operator cannot be quantized in the requested mode and float fallback was not allowed.
        case unsupportedOperator
        /// The representative dataset yielded no sample.
        case emptyRepresentativeData
        /// A representative batch does not hold a whole number of samples of the model input.
        case malformedSample
        /// A calibration sample, or an activation computed from one, is NaN or infinite.
        case nonFiniteValue
        /// Running the float graph for calibration failed.
        case calibrationFailed
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
