extension TensorDescription {
    /// Quantizes float samples for an int8 input as the golden pipeline fed LiteRT.
    ///
    ///     q = x / scale + zeroPoint                  (float32, as NumPy computes float32 / float)
    ///     q = sign(q) * floor(|q| + 0.5)             (round half away from zero, float32)
    ///     clamp to [-128, 127]
    ///
    /// Matches `../shared/anchors/make_golden.py` (and `quantkit evaluate` on int8-input models).
    /// Precondition: the tensor is int8 and quantized per tensor.
    public func quantizeInput(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Int8>) {
        precondition(elementType == .int8, "quantizeInput: \(name) is \(elementType), not int8")
        guard let q = quantization, q.scales.count == 1 else {
            preconditionFailure("quantizeInput: \(name) is not quantized per tensor")
        }
        precondition(values.count == output.count, "quantizeInput: \(values.count) values into \(output.count)")
        let scale = q.scales[0], zeroPoint = Float(q.zeroPoints[0])
        for i in values.indices {
            let v = values[i] / scale + zeroPoint
            var r = (abs(v) + 0.5).rounded(.down)
            if v < 0 { r = -r }
            output[i] = r.isNaN ? 0 : Int8(Swift.min(Swift.max(r, -128), 127))
        }
    }

    /// `quantizeInput(_:into:)` on an array.
    public func quantizeInput(_ values: [Float]) -> [Int8] {
        [Int8](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            values.withUnsafeBufferPointer { quantizeInput($0, into: buffer) }
            initialized = values.count
        }
    }
}
