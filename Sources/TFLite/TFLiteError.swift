import Runtime

/// A `.tflite` file that cannot be read: what is wrong, and where (byte offset, operator, tensor).
///
/// A struct with a ``Kind`` so that kinds can be added without breaking callers (like
/// swift-binary-parsing's `ParsingError`). The reader throws this and nothing else; it never traps
/// on file data.
public struct TFLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The file could not be opened or read.
        case fileUnreadable
        /// An offset, length or field lies outside the buffer.
        case outOfBounds
        /// A scalar, table or vector is not aligned as the FlatBuffers format requires.
        case misaligned
        /// A uoffset is zero, or a vtable is malformed.
        case invalidOffset
        /// A string is not NUL-terminated within the buffer.
        case invalidString
        /// The structure needs more table visits, depth or decoded bytes than a sane file could.
        case tooComplex
        /// Not a TFLite flatbuffer (identifier is not "TFL3").
        case wrongIdentifier
        /// `Model.version` is not 3.
        case unsupportedVersion
        /// A required field (subgraphs, ...) is absent.
        case missingField
        /// A field holds a value outside its domain (index out of range, unknown enum value, ...).
        case invalidValue
        /// An operator QuantKit does not implement (or a custom operator).
        case unsupportedOperator
        /// A tensor element type QuantKit does not implement (STRING, BOOL, INT4, ...).
        case unsupportedTensorType
        /// A TFLite feature QuantKit does not implement (sparsity, external buffers, shuffled weights, ...).
        case unsupportedFeature
        /// A tensor shape is negative or too large.
        case invalidShape
        /// A constant buffer's length is not the tensor's element count × element size.
        case bufferSizeMismatch
        /// The file decodes, but the graph breaks a structural rule; see ``TFLiteError/graphError``.
        case invalidGraph
    }

    public var kind: Kind
    /// The complete explanation, including the context (operator, tensor) where known.
    public var message: String
    /// The byte offset in the file where the problem was found, if it has one.
    public var offset: Int?
    /// The validation failure behind an ``Kind/invalidGraph`` error.
    public var graphError: GraphError?

    public init(_ kind: Kind, _ message: String, offset: Int? = nil, graphError: GraphError? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
        self.graphError = graphError
    }

    public var description: String {
        if let offset { return "TFLite (\(kind.rawValue)) at byte \(offset): \(message)" }
        return "TFLite (\(kind.rawValue)): \(message)"
    }

    /// The same error with `context` (e.g. `"tensor 5 'conv/w'"`) put in front of the message.
    func within(_ context: String) -> TFLiteError {
        var e = self
        e.message = "\(context): \(message)"
        return e
    }
}

/// Runs `body`, prefixing any ``TFLiteError`` it throws with `context`.
@inline(__always)
func within<T>(_ context: @autoclosure () -> String, _ body: () throws(TFLiteError) -> T) throws(TFLiteError) -> T {
    do {
        return try body()
    } catch {
        throw error.within(context())
    }
}
