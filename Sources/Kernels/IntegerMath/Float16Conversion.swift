/// Float32 <-> IEEE binary16 conversions used by float16 models.
public enum Float16Conversion {
    /// `x` as the converter stores a float16 weight.
    ///
    ///     half = Eigen::half(clamp(x, -65504, 65504))   // round to nearest even, subnormals kept
    ///
    /// NaN stays NaN. Matches `convertToFloat16Constant` in the MLIR quantizer.
    @inlinable
    public static func weight(_ x: Float) -> Float16 {
        if x.isNaN { return .nan }
        return Float16(Swift.min(Swift.max(x, -65504), 65504))
    }

    /// The exact widening of `h` to float32 (DEQUANTIZE of a FLOAT16 tensor).
    @inlinable
    public static func widen(_ h: Float16) -> Float { Float(h) }

    /// Converts a float32 buffer to float16 with `weight(_:)`.
    public static func weights(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float16>) {
        precondition(source.count == destination.count, "Float16Conversion: \(source.count) values into \(destination.count)")
        for i in source.indices { destination[i] = weight(source[i]) }
    }

    /// The raw little-endian bits of `h`, as stored in a `.tflite` buffer.
    @inlinable
    public static func bits(_ h: Float16) -> UInt16 { h.bitPattern }

    /// The float16 whose bit pattern is `bits`.
    @inlinable
    public static func value(bits: UInt16) -> Float16 { Float16(bitPattern: bits) }
}
