// Run-time input quantization of the dynamic-range (hybrid) kernels: the range scan and the
// float -> int8 loop, in portable C, AVX2 and AVX-512. See CKernels.h for the contract; the Swift
// `HybridInputQuantization` (Kernels/Reference) is the specification, value for value.
#include "CKernels.h"
#include "internal.h"

// Every product and sum below is rounded to float on its own, as in the Swift specification: no
// multiply-add contraction.
#pragma clang fp contract(off)

// MARK: - Scalar helpers (the portable kernels and the tails of the SIMD ones)

/// `x` truncated toward zero, with x86's out-of-range result (INT32_MIN for NaN and |x| >= 2^31):
/// Swift's `Quantization.truncatedToInt32`, `cvttss2si`.
QK_INLINE int32_t qk_truncated(float x) {
    return (x >= -2147483648.0f && x < 2147483648.0f) ? (int32_t)x : INT32_MIN;
}

/// `trunc(x)` for any float (NaN and infinities pass through), without libm.
QK_INLINE float qk_trunc(float x) {
    // |x| >= 2^23 (or NaN, inf) is already an integer; below that, the int32 conversion is exact.
    return (x > -8388608.0f && x < 8388608.0f) ? (float)(int32_t)x : x;
}

/// `x` rounded half away from zero, as a float (Swift's `.toNearestOrAwayFromZero`, C's `roundf`).
QK_INLINE float qk_round_away(float x) {
    float t = qk_trunc(x);
    float d = x - t;                       // exact
    if (d >= 0.5f) return t + 1.0f;
    if (d <= -0.5f) return t - 1.0f;
    return t;
}

/// `x` rounded to nearest, ties to even, as a float (Swift's `.toNearestOrEven`).
QK_INLINE float qk_round_even(float x) {
    float t = qk_trunc(x);
    float d = x - t;                       // exact
    // t is an integer below 2^23 here whenever d != 0, so the int conversion is exact.
    int odd = (d != 0.0f) && (((int32_t)t) & 1);
    if (d > 0.5f || (d == 0.5f && odd)) return t + 1.0f;
    if (d < -0.5f || (d == -0.5f && odd)) return t - 1.0f;
    return t;
}

/// One lane: `laneRound(inverse * x)` as an int32 (x86 out-of-range convention).
QK_INLINE int32_t qk_lane_round(float v, int rounding) {
    switch (rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE: {
        float half = v < 0.0f ? -0.5f : 0.5f;
        return qk_truncated(v + half);
    }
    case QK_HYBRID_LANE_TIES_TO_EVEN: return qk_truncated(qk_round_even(v));
    default: return qk_truncated(qk_round_away(v));
    }
}

QK_INLINE int32_t qk_clamp_i32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : x > hi ? hi : x; }

/// The tail, `count & ~7 ..< count`: `clamp(truncated((float)zp + round_half_away(inverse * x)))`.
QK_INLINE void qk_hybrid_tail(const float *x, size_t begin, size_t count, float inverse, int32_t zero_point,
                              int32_t lo, int32_t hi, int8_t *q) {
    const float zp = (float)zero_point;
    for (size_t i = begin; i < count; i++) {
        float v = inverse * x[i];
        float r = qk_round_away(v);
        q[i] = (int8_t)qk_clamp_i32(qk_truncated(zp + r), lo, hi);
    }
}

// MARK: - Portable

void qk_hybrid_range_portable(const float *x, size_t count, float *min_out, float *max_out) {
    float lo = 0.0f, hi = 0.0f;
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        if (v < lo) lo = v;
        if (hi < v) hi = v;
    }
    *min_out = lo;
    *max_out = hi;
}

QK_INLINE void qk_hybrid_lanes_portable(const float *x, size_t lanes, float inverse, int32_t zero_point,
                                        int32_t lo, int32_t hi, int rounding, int8_t *q) {
    for (size_t i = 0; i < lanes; i++) {
        float v = inverse * x[i];
        int32_t r = (int32_t)((uint32_t)qk_lane_round(v, rounding) + (uint32_t)zero_point);   // wraps
        q[i] = (int8_t)qk_clamp_i32(r, lo, hi);
    }
}

void qk_hybrid_quantize_portable(const float *x, size_t count, float inverse, int32_t zero_point,
                                 int32_t lo, int32_t hi, int lane_rounding, int8_t *q) {
    const size_t lanes = count & ~(size_t)7;
    // One copy of the loop per mode, so the rounding is chosen once, outside it.
    switch (lane_rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE:
        qk_hybrid_lanes_portable(x, lanes, inverse, zero_point, lo, hi, QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE, q);
        break;
    case QK_HYBRID_LANE_TIES_TO_EVEN:
        qk_hybrid_lanes_portable(x, lanes, inverse, zero_point, lo, hi, QK_HYBRID_LANE_TIES_TO_EVEN, q);
        break;
    default:
        qk_hybrid_lanes_portable(x, lanes, inverse, zero_point, lo, hi, QK_HYBRID_LANE_HALF_AWAY_FROM_ZERO, q);
        break;
    }
    qk_hybrid_tail(x, lanes, count, inverse, zero_point, lo, hi, q);
}

#if QK_X86

// MARK: - AVX2

/// Per-lane `laneRound(v)` (see CKernels.h); every mode is exact in float, NaN and out-of-range lanes
/// convert to INT32_MIN (`vcvttps2dq`), as the scalar code does.
QK_INLINE QK_AVX2 __m256i qk_lane_round_256(__m256 v, int rounding) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
    switch (rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE: {
        // (v < 0 ? -0.5 : 0.5): a compare, not the sign bit (-0.0 and -NaN get +0.5).
        __m256 negative = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_or_ps(half, _mm256_and_ps(negative, sign))));
    }
    case QK_HYBRID_LANE_TIES_TO_EVEN:
        return _mm256_cvttps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    default: {
        __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256 fraction = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
        __m256 away = _mm256_cmp_ps(fraction, half, _CMP_GE_OQ);
        __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, v));
        return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, step)));
    }
    }
}

QK_INLINE QK_AVX2 __m256i qk_hybrid_lanes_256(const float *x, __m256 inverse, __m256i zp, __m256i lo, __m256i hi,
                                              int rounding) {
    __m256i r = qk_lane_round_256(_mm256_mul_ps(inverse, _mm256_loadu_ps(x)), rounding);
    return _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi);
}

QK_INLINE QK_AVX2 void qk_hybrid_quantize_avx2_mode(const float *x, size_t count, float inverse, int32_t zero_point,
                                                    int32_t lo, int32_t hi, int rounding, int8_t *q) {
    const size_t lanes = count & ~(size_t)7;
    const __m256 vinv = _mm256_set1_ps(inverse);
    const __m256i zp = _mm256_set1_epi32(zero_point), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
    // packs interleaves 128-bit halves; this permutation puts the 32 bytes back in order.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 32 <= lanes; i += 32) {
        __m256i y0 = qk_hybrid_lanes_256(x + i, vinv, zp, vlo, vhi, rounding);
        __m256i y1 = qk_hybrid_lanes_256(x + i + 8, vinv, zp, vlo, vhi, rounding);
        __m256i y2 = qk_hybrid_lanes_256(x + i + 16, vinv, zp, vlo, vhi, rounding);
        __m256i y3 = qk_hybrid_lanes_256(x + i + 24, vinv, zp, vlo, vhi, rounding);
        __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(y0, y1), _mm256_packs_epi32(y2, y3));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(bytes, order));
    }
    for (; i < lanes; i += 8) {
        __m256i y = qk_hybrid_lanes_256(x + i, vinv, zp, vlo, vhi, rounding);
        __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(words, words));
    }
    qk_hybrid_tail(x, lanes, count, inverse, zero_point, lo, hi, q);
}

QK_AVX2 void qk_hybrid_quantize_avx2(const float *x, size_t count, float inverse, int32_t zero_point,
                                     int32_t lo, int32_t hi, int lane_rounding, int8_t *q) {
    // One copy of the loop per mode, so the rounding is chosen once, outside it.
    switch (lane_rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE:
        qk_hybrid_quantize_avx2_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE, q);
        break;
    case QK_HYBRID_LANE_TIES_TO_EVEN:
        qk_hybrid_quantize_avx2_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_TIES_TO_EVEN, q);
        break;
    default:
        qk_hybrid_quantize_avx2_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_HALF_AWAY_FROM_ZERO, q);
        break;
    }
}

QK_AVX2 void qk_hybrid_range_avx2(const float *x, size_t count, float *min_out, float *max_out) {
    // min_ps(v, m) is (v < m ? v : m): a NaN v leaves m alone, as `if v < lo { lo = v }` does. The
    // accumulators start at +0 and never take -0 (-0 < +0 is false), so the result is bit-identical.
    __m256 lo0 = _mm256_setzero_ps(), lo1 = lo0, lo2 = lo0, lo3 = lo0;
    __m256 hi0 = lo0, hi1 = lo0, hi2 = lo0, hi3 = lo0;
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        __m256 c = _mm256_loadu_ps(x + i + 16), d = _mm256_loadu_ps(x + i + 24);
        lo0 = _mm256_min_ps(a, lo0); hi0 = _mm256_max_ps(a, hi0);
        lo1 = _mm256_min_ps(b, lo1); hi1 = _mm256_max_ps(b, hi1);
        lo2 = _mm256_min_ps(c, lo2); hi2 = _mm256_max_ps(c, hi2);
        lo3 = _mm256_min_ps(d, lo3); hi3 = _mm256_max_ps(d, hi3);
    }
    for (; i < count; i += 8) {
        // The last partial vector: masked-off lanes load as +0, which cannot change the result.
        size_t left = count - i;
        __m256 a;
        if (left >= 8) {
            a = _mm256_loadu_ps(x + i);
        } else {
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            a = _mm256_maskload_ps(x + i, mask);
        }
        lo0 = _mm256_min_ps(a, lo0); hi0 = _mm256_max_ps(a, hi0);
    }
    __m256 lo = _mm256_min_ps(_mm256_min_ps(lo0, lo1), _mm256_min_ps(lo2, lo3));
    __m256 hi = _mm256_max_ps(_mm256_max_ps(hi0, hi1), _mm256_max_ps(hi2, hi3));
    __m128 l = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
    l = _mm_min_ps(l, _mm_movehl_ps(l, l));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    l = _mm_min_ss(l, _mm_shuffle_ps(l, l, 1));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    *min_out = _mm_cvtss_f32(l);
    *max_out = _mm_cvtss_f32(h);
}

// MARK: - AVX-512

QK_INLINE QK_AVX512 __m512i qk_lane_round_512(__m512 v, int rounding) {
    const __m512 half = _mm512_set1_ps(0.5f);
    switch (rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE: {
        __mmask16 negative = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 h = _mm512_mask_blend_ps(negative, half, _mm512_set1_ps(-0.5f));
        return _mm512_cvttps_epi32(_mm512_add_ps(v, h));
    }
    case QK_HYBRID_LANE_TIES_TO_EVEN:
        return _mm512_cvttps_epi32(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    default: {
        const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
        __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512 fraction = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(_mm512_sub_ps(v, t))));
        __mmask16 away = _mm512_cmp_ps_mask(fraction, half, _CMP_GE_OQ);
        __m512 step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)),
                                                          _mm512_and_si512(sign, _mm512_castps_si512(v))));
        return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, away, t, step));
    }
    }
}

/// `count` (<= 16) lanes from `x`, quantized and stored at `q` (masked beyond `count`).
QK_INLINE QK_AVX512 void qk_hybrid_lanes_512(const float *x, __mmask16 mask, __m512 inverse, __m512i zp, __m512i lo,
                                             __m512i hi, int rounding, int8_t *q) {
    __m512i r = qk_lane_round_512(_mm512_mul_ps(inverse, _mm512_maskz_loadu_ps(mask, x)), rounding);
    __m512i y = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, zp), lo), hi);
    _mm512_mask_cvtsepi32_storeu_epi8(q, mask, y);
}

QK_INLINE QK_AVX512 void qk_hybrid_quantize_avx512_mode(const float *x, size_t count, float inverse, int32_t zero_point,
                                                        int32_t lo, int32_t hi, int rounding, int8_t *q) {
    const size_t lanes = count & ~(size_t)7;
    const __m512 vinv = _mm512_set1_ps(inverse);
    const __m512i zp = _mm512_set1_epi32(zero_point), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    size_t i = 0;
    for (; i + 64 <= lanes; i += 64) {
        qk_hybrid_lanes_512(x + i, 0xFFFF, vinv, zp, vlo, vhi, rounding, q + i);
        qk_hybrid_lanes_512(x + i + 16, 0xFFFF, vinv, zp, vlo, vhi, rounding, q + i + 16);
        qk_hybrid_lanes_512(x + i + 32, 0xFFFF, vinv, zp, vlo, vhi, rounding, q + i + 32);
        qk_hybrid_lanes_512(x + i + 48, 0xFFFF, vinv, zp, vlo, vhi, rounding, q + i + 48);
    }
    for (; i < lanes; i += 16) {
        size_t left = lanes - i;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        qk_hybrid_lanes_512(x + i, mask, vinv, zp, vlo, vhi, rounding, q + i);
    }
    qk_hybrid_tail(x, lanes, count, inverse, zero_point, lo, hi, q);
}

QK_AVX512 void qk_hybrid_quantize_avx512(const float *x, size_t count, float inverse, int32_t zero_point,
                                         int32_t lo, int32_t hi, int lane_rounding, int8_t *q) {
    switch (lane_rounding) {
    case QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE:
        qk_hybrid_quantize_avx512_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE, q);
        break;
    case QK_HYBRID_LANE_TIES_TO_EVEN:
        qk_hybrid_quantize_avx512_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_TIES_TO_EVEN, q);
        break;
    default:
        qk_hybrid_quantize_avx512_mode(x, count, inverse, zero_point, lo, hi, QK_HYBRID_LANE_HALF_AWAY_FROM_ZERO, q);
        break;
    }
}

QK_AVX512 void qk_hybrid_range_avx512(const float *x, size_t count, float *min_out, float *max_out) {
    // As in the AVX2 kernel: vminps/vmaxps return the accumulator for a NaN element, and
    // masked-off lanes load as +0.
    __m512 lo0 = _mm512_setzero_ps(), lo1 = lo0, hi0 = lo0, hi1 = lo0;
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        lo0 = _mm512_min_ps(a, lo0); hi0 = _mm512_max_ps(a, hi0);
        lo1 = _mm512_min_ps(b, lo1); hi1 = _mm512_max_ps(b, hi1);
    }
    for (; i < count; i += 16) {
        size_t left = count - i;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 a = _mm512_maskz_loadu_ps(mask, x + i);
        lo0 = _mm512_min_ps(a, lo0); hi0 = _mm512_max_ps(a, hi0);
    }
    __m512 lo = _mm512_min_ps(lo0, lo1), hi = _mm512_max_ps(hi0, hi1);
    __m256 l8 = _mm256_min_ps(_mm512_castps512_ps256(lo), _mm512_extractf32x8_ps(lo, 1));
    __m256 h8 = _mm256_max_ps(_mm512_castps512_ps256(hi), _mm512_extractf32x8_ps(hi, 1));
    __m128 l = _mm_min_ps(_mm256_castps256_ps128(l8), _mm256_extractf128_ps(l8, 1));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
    l = _mm_min_ps(l, _mm_movehl_ps(l, l));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    l = _mm_min_ss(l, _mm_shuffle_ps(l, l, 1));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    *min_out = _mm_cvtss_f32(l);
    *max_out = _mm_cvtss_f32(h);
}

#else
void qk_hybrid_range_avx2(const float *x, size_t count, float *min_out, float *max_out) { __builtin_trap(); }
void qk_hybrid_quantize_avx2(const float *x, size_t count, float inverse, int32_t zero_point,
                             int32_t lo, int32_t hi, int lane_rounding, int8_t *q) { __builtin_trap(); }
void qk_hybrid_range_avx512(const float *x, size_t count, float *min_out, float *max_out) { __builtin_trap(); }
void qk_hybrid_quantize_avx512(const float *x, size_t count, float inverse, int32_t zero_point,
                               int32_t lo, int32_t hi, int lane_rounding, int8_t *q) { __builtin_trap(); }
#endif
