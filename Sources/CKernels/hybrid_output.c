// The output stage of the dynamic-range (hybrid) CONV_2D, AVX2 and AVX-512: int32 sums to clamped
// floats with the reference's float expression, optionally max-pooled. See CKernels.h for the contract.
#include "CKernels.h"
#include "internal.h"

#include <float.h>

// Every product and sum is rounded to float on its own, as in the reference: no multiply-add contraction.
#pragma clang fp contract(off)

/// One output, scalar (the channels past the last full AVX2 vector).
QK_INLINE float qk_hybrid_conv_value(int32_t acc, int32_t correction, int32_t sum, const float *scales, float scaling,
                                     const float *bias, size_t j, float lo, float hi) {
    const float d = (float)(int32_t)((uint32_t)acc - (uint32_t)correction * (uint32_t)sum);
    float v;
    if (scales) {
        v = d * scales[j];
        v = v * scaling;
        if (bias) v = v + bias[j];
    } else {
        const float product = d * scaling;
        v = 0.0f + product;
        v = v + (bias ? bias[j] : 0.0f);
    }
    v = v < lo ? lo : v;
    return hi < v ? hi : v;
}

#if QK_X86

// MARK: - AVX2

/// 8 clamped convolution values from channel `j` of the accumulator row `a`.
///
/// (v < lo ? lo : v) is maxps(lo, v) and (hi < w ? hi : w) is minps(hi, w): NaN and -0 as in C++.
QK_INLINE QK_AVX2 __m256 qk_hybrid_value_256(const int32_t *a, const int32_t *sums, const float *scales, const float *bias,
                                             size_t j, __m256i correction, __m256 scaling, __m256 lo, __m256 hi,
                                             int per_channel, int has_bias) {
    const __m256 zero = _mm256_setzero_ps();
    __m256i d = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(a + j)),
                                 _mm256_mullo_epi32(correction, _mm256_loadu_si256((const __m256i *)(sums + j))));
    __m256 f = _mm256_cvtepi32_ps(d), v;
    if (per_channel) {
        v = _mm256_mul_ps(_mm256_mul_ps(f, _mm256_loadu_ps(scales + j)), scaling);
        if (has_bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
    } else {
        v = _mm256_add_ps(zero, _mm256_mul_ps(f, scaling));
        v = _mm256_add_ps(v, has_bias ? _mm256_loadu_ps(bias + j) : zero);
    }
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

QK_INLINE QK_AVX2 void qk_hybrid_conv_output_avx2_mode(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                                       const ptrdiff_t *window, size_t window_count,
                                                       int32_t correction, const int32_t *sums, const float *scales,
                                                       float scaling, const float *bias, float lo, float hi,
                                                       float pool_lo, float pool_hi, float *out, ptrdiff_t out_stride,
                                                       int per_channel, int has_bias) {
    const __m256i vcorrection = _mm256_set1_epi32(correction);
    const __m256 vscaling = _mm256_set1_ps(scaling), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const __m256 vplo = _mm256_set1_ps(pool_lo), vphi = _mm256_set1_ps(pool_hi), lowest = _mm256_set1_ps(-FLT_MAX);
    const size_t full = n & ~(size_t)7;
    for (size_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * acc_stride;
        float *o = out + r * out_stride;
        if (!window) {
            for (size_t j = 0; j < full; j += 8) {
                __m256 v = qk_hybrid_value_256(a, sums, scales, bias, j, vcorrection, vscaling, vlo, vhi, per_channel, has_bias);
                _mm256_storeu_ps(o + j, v);
            }
            for (size_t j = full; j < n; j++) {
                o[j] = qk_hybrid_conv_value(a[j], correction, sums[j], scales, scaling, bias, j, lo, hi);
            }
        } else {
            for (size_t j = 0; j < full; j += 8) {
                // m = -FLT_MAX; (m < v ? v : m) is maxps(v, m), window rows in order; then the pool's clamp.
                __m256 m = lowest;
                for (size_t w = 0; w < window_count; w++) {
                    m = _mm256_max_ps(qk_hybrid_value_256(a + window[w], sums, scales, bias, j, vcorrection, vscaling,
                                                          vlo, vhi, per_channel, has_bias), m);
                }
                _mm256_storeu_ps(o + j, _mm256_min_ps(vphi, _mm256_max_ps(vplo, m)));
            }
            for (size_t j = full; j < n; j++) {
                float m = -FLT_MAX;
                for (size_t w = 0; w < window_count; w++) {
                    float v = qk_hybrid_conv_value(a[window[w] + j], correction, sums[j], scales, scaling, bias, j, lo, hi);
                    if (m < v) m = v;
                }
                m = m < pool_lo ? pool_lo : m;
                o[j] = pool_hi < m ? pool_hi : m;
            }
        }
    }
}

QK_AVX2 void qk_hybrid_conv_output_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                        const ptrdiff_t *window, size_t window_count,
                                        int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                        const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                        float *out, ptrdiff_t out_stride) {
    // One copy of the loops per case, so nothing is decided inside them.
#define QK_HYBRID_AVX2_CASE(PC, HB) \
    qk_hybrid_conv_output_avx2_mode(acc, acc_stride, rows, n, window, window_count, correction, sums, scales, scaling, \
                                    bias, lo, hi, pool_lo, pool_hi, out, out_stride, PC, HB)
    if (scales && bias) QK_HYBRID_AVX2_CASE(1, 1);
    else if (scales) QK_HYBRID_AVX2_CASE(1, 0);
    else if (bias) QK_HYBRID_AVX2_CASE(0, 1);
    else QK_HYBRID_AVX2_CASE(0, 0);
#undef QK_HYBRID_AVX2_CASE
}

// MARK: - AVX-512

/// 16 clamped convolution values from channel `j` of the accumulator row `a` (lanes outside `m` are
/// not read and come out as garbage).
QK_INLINE QK_AVX512 __m512 qk_hybrid_value_512(const int32_t *a, const int32_t *sums, const float *scales, const float *bias,
                                               size_t j, __mmask16 m, __m512i correction, __m512 scaling, __m512 lo,
                                               __m512 hi, int per_channel, int has_bias) {
    const __m512 zero = _mm512_setzero_ps();
    __m512i d = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, a + j),
                                 _mm512_mullo_epi32(correction, _mm512_maskz_loadu_epi32(m, sums + j)));
    __m512 f = _mm512_cvtepi32_ps(d), v;
    if (per_channel) {
        v = _mm512_mul_ps(_mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, scales + j)), scaling);
        if (has_bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
    } else {
        v = _mm512_add_ps(zero, _mm512_mul_ps(f, scaling));
        v = _mm512_add_ps(v, has_bias ? _mm512_maskz_loadu_ps(m, bias + j) : zero);
    }
    return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

QK_INLINE QK_AVX512 void qk_hybrid_conv_output_avx512_mode(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                                           const ptrdiff_t *window, size_t window_count,
                                                           int32_t correction, const int32_t *sums, const float *scales,
                                                           float scaling, const float *bias, float lo, float hi,
                                                           float pool_lo, float pool_hi, float *out, ptrdiff_t out_stride,
                                                           int per_channel, int has_bias) {
    const __m512i vcorrection = _mm512_set1_epi32(correction);
    const __m512 vscaling = _mm512_set1_ps(scaling), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 vplo = _mm512_set1_ps(pool_lo), vphi = _mm512_set1_ps(pool_hi), lowest = _mm512_set1_ps(-FLT_MAX);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * acc_stride;
        float *o = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            const size_t left = n - j;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            if (!window) {
                __m512 v = qk_hybrid_value_512(a, sums, scales, bias, j, m, vcorrection, vscaling, vlo, vhi, per_channel, has_bias);
                _mm512_mask_storeu_ps(o + j, m, v);
            } else {
                // m = -FLT_MAX; (m < v ? v : m) is maxps(v, m), window rows in order; then the pool's clamp.
                __m512 mx = lowest;
                for (size_t w = 0; w < window_count; w++) {
                    mx = _mm512_max_ps(qk_hybrid_value_512(a + window[w], sums, scales, bias, j, m, vcorrection, vscaling,
                                                           vlo, vhi, per_channel, has_bias), mx);
                }
                _mm512_mask_storeu_ps(o + j, m, _mm512_min_ps(vphi, _mm512_max_ps(vplo, mx)));
            }
        }
    }
}

QK_AVX512 void qk_hybrid_conv_output_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                            const ptrdiff_t *window, size_t window_count,
                                            int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                            const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                            float *out, ptrdiff_t out_stride) {
#define QK_HYBRID_AVX512_CASE(PC, HB) \
    qk_hybrid_conv_output_avx512_mode(acc, acc_stride, rows, n, window, window_count, correction, sums, scales, scaling, \
                                      bias, lo, hi, pool_lo, pool_hi, out, out_stride, PC, HB)
    if (scales && bias) QK_HYBRID_AVX512_CASE(1, 1);
    else if (scales) QK_HYBRID_AVX512_CASE(1, 0);
    else if (bias) QK_HYBRID_AVX512_CASE(0, 1);
    else QK_HYBRID_AVX512_CASE(0, 0);
#undef QK_HYBRID_AVX512_CASE
}

#else
void qk_hybrid_conv_output_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                float *out, ptrdiff_t out_stride) { __builtin_trap(); }
void qk_hybrid_conv_output_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                  const ptrdiff_t *window, size_t window_count,
                                  int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                  const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                  float *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
