/// The element type of a tensor's storage.
///
/// The cases are the ones QuantKit computes with; a `.tflite` file may name others, which
/// the reader rejects with an error that names the tensor.
public enum ElementType: String, Sendable, Hashable, CaseIterable, Codable {
    case float32
    case float16
    case int8
    case uint8
    case int16
    case int32
    case int64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .int8, .uint8: 1
        case .float16, .int16: 2
        case .float32, .int32: 4
        case .int64: 8
        }
    }

    /// `true` for the integer types that carry quantized values.
    public var isInteger: Bool {
        switch self {
        case .float32, .float16: false
        default: true
        }
    }
}
