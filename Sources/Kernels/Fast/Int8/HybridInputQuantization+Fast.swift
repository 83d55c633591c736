import CKernels

/// The run-time input quantization of the fast hybrid kernels: the same arithmetic as
/// ``HybridInputQuantization/symmetric(_:into:laneRounding:)`` and
/// ``HybridInputQuantization/asymmetric(_:into:laneRounding:)``, with the range scan and the
/// quantizing loop in the `CKernels` C target (`qk_hybrid_range_*`, `qk_hybrid_quantize_*`: AVX-512,
/// AVX2 or portable C, by ``SIMDBackend``). Scale, zero point and inverse come from the same Swift
/// helpers as the reference's, so every int8 value and factor is bit-identical.
extension HybridInputQuantization {
    /// `(min(0, min x), max(0, max x))` of a row, NaN elements ignored, as the reference's
    /// asymmetric scan computes them.
    static func range(_ values: UnsafeBufferPointer<Float>, backend: SIMDBackend) -> (min: Float, max: Float) {
        guard let x = values.baseAddress, !values.isEmpty else { return (0, 0) }
        var lo: Float = 0, hi: Float = 0
        switch backend {
        case .avx512vnni, .avx512amx: qk_hybrid_range_avx512(x, values.count, &lo, &hi)
        case .avx2: qk_hybrid_range_avx2(x, values.count, &lo, &hi)
        case .portable: qk_hybrid_range_portable(x, values.count, &lo, &hi)
        }
        return (lo, hi)
    }

    /// The quantizing loop (lanes, then the tail) with the given constants.
    private static func quantize(_ values: UnsafeBufferPointer<Float>, into quantized: UnsafeMutableBufferPointer<Int8>,
                                 inverse: Float, zeroPoint: Int32, lo: Int32, hi: Int32,
                                 laneRounding: LaneRounding, backend: SIMDBackend) {
        guard let x = values.baseAddress, let q = quantized.baseAddress, !values.isEmpty else { return }
        let rounding: Int32 = switch laneRounding {
        case .addHalfAndTruncate: QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE
        case .tiesToEven: QK_HYBRID_LANE_TIES_TO_EVEN
        case .halfAwayFromZero: QK_HYBRID_LANE_HALF_AWAY_FROM_ZERO
        }
        switch backend {
        case .avx512vnni, .avx512amx: qk_hybrid_quantize_avx512(x, values.count, inverse, zeroPoint, lo, hi, rounding, q)
        case .avx2: qk_hybrid_quantize_avx2(x, values.count, inverse, zeroPoint, lo, hi, rounding, q)
        case .portable: qk_hybrid_quantize_portable(x, values.count, inverse, zeroPoint, lo, hi, rounding, q)
        }
    }

    /// ``symmetric(_:into:laneRounding:)`` on `backend`; `range` is ``range(_:backend:)`` of `values`.
    static func symmetric(
        _ values: UnsafeBufferPointer<Float>, range: (min: Float, max: Float), into quantized: UnsafeMutableBufferPointer<Int8>,
        laneRounding: LaneRounding, backend: SIMDBackend
    ) -> Float {
        precondition(values.count <= quantized.count, "symmetric: \(values.count) values into \(quantized.count)")
        // The reference scans from values[0]: a leading NaN makes the range NaN. Rare; let it handle that.
        guard !values.isEmpty, !values[0].isNaN else { return symmetric(values, into: quantized, laneRounding: laneRounding) }
        // max(|min(0, lo)|, |max(0, hi)|) == max(|lo|, |hi|), so the factor and inverse are the reference's.
        guard let (factor, inverse) = symmetricParameters(min: range.min, max: range.max) else {
            quantized.baseAddress!.update(repeating: 0, count: values.count)
            return 1
        }
        quantize(values, into: quantized, inverse: inverse, zeroPoint: 0, lo: -127, hi: 127, laneRounding: laneRounding, backend: backend)
        return factor
    }

    /// ``asymmetric(_:into:laneRounding:)`` on `backend`; `range` is ``range(_:backend:)`` of `values`.
    static func asymmetric(
        _ values: UnsafeBufferPointer<Float>, range: (min: Float, max: Float), into quantized: UnsafeMutableBufferPointer<Int8>,
        laneRounding: LaneRounding, backend: SIMDBackend
    ) -> (scalingFactor: Float, zeroPoint: Int32) {
        precondition(values.count <= quantized.count, "asymmetric: \(values.count) values into \(quantized.count)")
        guard let (factor, zeroPoint, inverse) = asymmetricParameters(min: range.min, max: range.max) else {
            if !values.isEmpty { quantized.baseAddress!.update(repeating: 0, count: values.count) }
            return (1, 0)
        }
        quantize(values, into: quantized, inverse: inverse, zeroPoint: zeroPoint, lo: -128, hi: 127,
                 laneRounding: laneRounding, backend: backend)
        return (factor, zeroPoint)
    }

    /// ``symmetric(_:into:laneRounding:)`` on `backend`, bit-identical.
    static func symmetric(_ values: UnsafeBufferPointer<Float>, into quantized: UnsafeMutableBufferPointer<Int8>,
                          laneRounding: LaneRounding, backend: SIMDBackend) -> Float {
        symmetric(values, range: range(values, backend: backend), into: quantized, laneRounding: laneRounding, backend: backend)
    }

    /// ``asymmetric(_:into:laneRounding:)`` on `backend`, bit-identical.
    static func asymmetric(_ values: UnsafeBufferPointer<Float>, into quantized: UnsafeMutableBufferPointer<Int8>,
                           laneRounding: LaneRounding, backend: SIMDBackend) -> (scalingFactor: Float, zeroPoint: Int32) {
        asymmetric(values, range: range(values, backend: backend), into: quantized, laneRounding: laneRounding, backend: backend)
    }
}
