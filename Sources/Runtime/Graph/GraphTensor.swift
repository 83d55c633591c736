import TensorCore

/// One tensor of a ``Graph``: an activation, a model input or output, or a constant (weights, bias,
/// shape operands).
///
/// Mirrors a TFLite `Tensor` table: `shape` is the static shape (row-major, NHWC for images), the
/// element type is the storage type, `quantization` maps stored integers to reals as
/// `real = scale * (q - zeroPoint)`, and `data` holds the little-endian bytes of a constant.
/// A tensor without `data` is computed at run time (or fed as a graph input).
public struct GraphTensor: Sendable, Equatable {
    /// Name as written by the converter (for messages and for round trips); may be empty.
    public var name: String
    /// Static dimensions, outermost first. Never negative in a valid graph.
    public var shape: [Int]
    /// Storage type of the elements.
    public var elementType: ElementType
    /// Affine quantization parameters, or `nil` for a plain float (or plain integer) tensor.
    public var quantization: Quantization?
    /// The constant value, or `nil` for a tensor computed at run time.
    public var data: ConstantData?
    /// TFLite's `shape_signature` (`-1` marks a dynamic dimension, usually the batch), if the file had one.
    public var shapeSignature: [Int]?
    /// TFLite's `is_variable` (state written by an operator); QuantKit's ops never set it.
    public var isVariable: Bool

    public init(name: String, shape: [Int], elementType: ElementType, quantization: Quantization? = nil,
                data: ConstantData? = nil, shapeSignature: [Int]? = nil, isVariable: Bool = false) {
        self.name = name
        self.shape = shape
        self.elementType = elementType
        self.quantization = quantization
        self.data = data
        self.shapeSignature = shapeSignature
        self.isVariable = isVariable
    }

    /// `true` when the tensor carries constant data.
    public var isConstant: Bool { data != nil }

    /// The number of elements, or `nil` when a dimension is negative or the product overflows.
    public var elementCount: Int? { Shape.elementCount(shape) }

    /// Storage bytes the tensor needs (`elementCount × elementType.byteSize`), `nil` on overflow.
    public var byteCount: Int? {
        guard let count = elementCount else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: elementType.byteSize)
        return overflow ? nil : bytes
    }
}

extension GraphTensor {
    /// Affine quantization parameters of a tensor, per tensor or per axis.
    ///
    ///     real = scales[c] * (q - zeroPoints[c])     c = index along quantizedDimension (0 if per tensor)
    ///
    /// Same fields as TFLite's `QuantizationParameters` (`scale`, `zero_point` (int64),
    /// `quantized_dimension`, and the rarely used `min`/`max`). The interpreter's load-time rules
    /// (`interpreter_builder.cc ParseQuantization`) are enforced by ``Graph/validate()``: as many zero
    /// points as scales, `quantizedDimension < rank`, and 1 or `shape[quantizedDimension]` scales.
    public struct Quantization: Sendable, Equatable {
        public var scales: [Float]
        public var zeroPoints: [Int64]
        /// The axis the scales run along; meaningful only when there is more than one scale.
        public var quantizedDimension: Int
        /// Calibration minimum(s) recorded by the converter; usually empty.
        public var min: [Float]
        /// Calibration maximum(s) recorded by the converter; usually empty.
        public var max: [Float]

        public init(scales: [Float], zeroPoints: [Int64], quantizedDimension: Int = 0,
                    min: [Float] = [], max: [Float] = []) {
            self.scales = scales
            self.zeroPoints = zeroPoints
            self.quantizedDimension = quantizedDimension
            self.min = min
            self.max = max
        }

        /// Per-tensor parameters: one scale and one zero point.
        public init(scale: Float, zeroPoint: Int64) {
            self.init(scales: [scale], zeroPoints: [zeroPoint])
        }

        /// `true` for one scale (a single pair for the whole tensor).
        public var isPerTensor: Bool { scales.count == 1 }

        /// The scale when per-tensor, else `nil`.
        public var scale: Float? { scales.count == 1 ? scales[0] : nil }

        /// The zero point when per-tensor, else `nil`.
        public var zeroPoint: Int64? { zeroPoints.count == 1 ? zeroPoints[0] : nil }
    }
}

/// The bytes of a constant tensor: little-endian, row-major, `elementCount × byteSize` of them.
///
/// Stored as raw bytes so that every element type round-trips unchanged (TFLite `Buffer.data`);
/// the typed accessors copy out. Value semantics; copies share storage until written.
public struct ConstantData: Sendable, Equatable {
    /// The raw little-endian bytes.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Number of bytes.
    public var byteCount: Int { bytes.count }

    public init(float32 values: [Float]) { self.init(littleEndian: values.map(\.bitPattern)) }
    /// Half-precision values given as IEEE binary16 bit patterns.
    public init(float16Bits values: [UInt16]) { self.init(littleEndian: values) }
    public init(int8 values: [Int8]) { self.bytes = values.map { UInt8(bitPattern: $0) } }
    public init(uint8 values: [UInt8]) { self.bytes = values }
    public init(int16 values: [Int16]) { self.init(littleEndian: values) }
    public init(int32 values: [Int32]) { self.init(littleEndian: values) }
    public init(int64 values: [Int64]) { self.init(littleEndian: values) }

    private init<T: FixedWidthInteger>(littleEndian values: [T]) {
        let size = MemoryLayout<T>.size
        var out = [UInt8](repeating: 0, count: values.count * size)
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: v.littleEndian, toByteOffset: i * size, as: T.self)
            }
        }
        self.bytes = out
    }

    private func decode<T: FixedWidthInteger>(_: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        precondition(bytes.count % size == 0,
                     "ConstantData: \(bytes.count) bytes is not a whole number of \(size)-byte elements")
        let count = bytes.count / size
        return bytes.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: T.self))
                }
                initialized = count
            }
        }
    }

    /// The elements as float32 (the bytes must be a float32 tensor's).
    public func float32Values() -> [Float] { decode(UInt32.self).map(Float.init(bitPattern:)) }
    /// The elements as IEEE binary16 bit patterns.
    public func float16Bits() -> [UInt16] { decode(UInt16.self) }
    /// The float16 elements widened exactly to float32 (what TFLite's fp16 DEQUANTIZE computes).
    public func float16Values() -> [Float] { decode(UInt16.self).map(ConstantData.float(fromHalfBits:)) }
    public func int8Values() -> [Int8] { bytes.map { Int8(bitPattern: $0) } }
    public func uint8Values() -> [UInt8] { bytes }
    public func int16Values() -> [Int16] { decode(Int16.self) }
    public func int32Values() -> [Int32] { decode(Int32.self) }
    public func int64Values() -> [Int64] { decode(Int64.self) }

    /// Exact widening of an IEEE binary16 bit pattern to float32 (subnormals, infinities and NaN kept).
    public static func float(fromHalfBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa × 2^-24, exact in float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
        }
    }
}
