// The output stage of the dynamic-range (hybrid) CONV_2D, AVX2 and AVX-512: int32 sums to clamped
// floats with the reference's float expression. See CKernels.h for the contract.
#include "CKernels.h"
#include "internal.h"

// Every product and sum is rounded to float on its own, as in the reference: no multiply-add contraction.
#pragma clang fp contract(off)

/// One output, scalar (the channels past the last full vector).
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

QK_INLINE QK_AVX2 void qk_hybrid_conv_output_avx2_mode(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                                       int32_t correction, const int32_t *sums, const float *scales,
                                                       float scaling, const float *bias, float lo, float hi, float *out,
                                                       ptrdiff_t out_stride, int per_channel, int has_bias) {
    const __m256i vcorrection = _mm256_set1_epi32(correction);
    const __m256 vscaling = _mm256_set1_ps(scaling), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const __m256 zero = _mm256_setzero_ps();
    const size_t full = n & ~(size_t)7;
    for (size_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * acc_stride;
        float *o = out + r * out_stride;
        for (size_t j = 0; j < full; j += 8) {
            __m256i d = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(a + j)),
                                         _mm256_mullo_epi32(vcorrection, _mm256_loadu_si256((const __m256i *)(sums + j))));
            __m256 f = _mm256_cvtepi32_ps(d), v;
            if (per_channel) {
                v = _mm256_mul_ps(_mm256_mul_ps(f, _mm256_loadu_ps(scales + j)), vscaling);
                if (has_bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
            } else {
                v = _mm256_add_ps(zero, _mm256_mul_ps(f, vscaling));
                v = _mm256_add_ps(v, has_bias ? _mm256_loadu_ps(bias + j) : zero);
            }
            // (v < lo ? lo : v) is maxps(lo, v); (hi < w ? hi : w) is minps(hi, w): NaN and -0 as in C++.
            _mm256_storeu_ps(o + j, _mm256_min_ps(vhi, _mm256_max_ps(vlo, v)));
        }
        for (size_t j = full; j < n; j++) {
            o[j] = qk_hybrid_conv_value(a[j], correction, sums[j], scales, scaling, bias, j, lo, hi);
        }
    }
}

QK_AVX2 void qk_hybrid_conv_output_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                        int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                        const float *bias, float lo, float hi, float *out, ptrdiff_t out_stride) {
    // One copy of the loops per case, so nothing is decided inside them.
    if (scales && bias) {
        qk_hybrid_conv_output_avx2_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 1, 1);
    } else if (scales) {
        qk_hybrid_conv_output_avx2_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 1, 0);
    } else if (bias) {
        qk_hybrid_conv_output_avx2_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 0, 1);
    } else {
        qk_hybrid_conv_output_avx2_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 0, 0);
    }
}

/// 16 channels from `j` (the lanes in `m`) of one row.
QK_INLINE QK_AVX512 void qk_hybrid_conv_output_16(const int32_t *a, const int32_t *sums, const float *scales,
                                                  const float *bias, float *o, size_t j, __mmask16 m, __m512i correction,
                                                  __m512 scaling, __m512 lo, __m512 hi, int per_channel, int has_bias) {
    __m512i d = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, a + j),
                                 _mm512_mullo_epi32(correction, _mm512_maskz_loadu_epi32(m, sums + j)));
    __m512 f = _mm512_cvtepi32_ps(d), v;
    if (per_channel) {
        v = _mm512_mul_ps(_mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, scales + j)), scaling);
        if (has_bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
    } else {
        const __m512 zero = _mm512_setzero_ps();
        v = _mm512_add_ps(zero, _mm512_mul_ps(f, scaling));
        v = _mm512_add_ps(v, has_bias ? _mm512_maskz_loadu_ps(m, bias + j) : zero);
    }
    _mm512_mask_storeu_ps(o + j, m, _mm512_min_ps(hi, _mm512_max_ps(lo, v)));
}

QK_INLINE QK_AVX512 void qk_hybrid_conv_output_avx512_mode(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                                           int32_t correction, const int32_t *sums, const float *scales,
                                                           float scaling, const float *bias, float lo, float hi, float *out,
                                                           ptrdiff_t out_stride, int per_channel, int has_bias) {
    const __m512i vcorrection = _mm512_set1_epi32(correction);
    const __m512 vscaling = _mm512_set1_ps(scaling), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const size_t full = n & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * acc_stride;
        float *o = out + r * out_stride;
        for (size_t j = 0; j < full; j += 16) {
            qk_hybrid_conv_output_16(a, sums, scales, bias, o, j, 0xFFFF, vcorrection, vscaling, vlo, vhi, per_channel, has_bias);
        }
        if (tail) qk_hybrid_conv_output_16(a, sums, scales, bias, o, full, tail, vcorrection, vscaling, vlo, vhi, per_channel, has_bias);
    }
}

QK_AVX512 void qk_hybrid_conv_output_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                            int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                            const float *bias, float lo, float hi, float *out, ptrdiff_t out_stride) {
    // One copy of the loops per case, so nothing is decided inside them.
    if (scales && bias) {
        qk_hybrid_conv_output_avx512_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 1, 1);
    } else if (scales) {
        qk_hybrid_conv_output_avx512_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 1, 0);
    } else if (bias) {
        qk_hybrid_conv_output_avx512_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 0, 1);
    } else {
        qk_hybrid_conv_output_avx512_mode(acc, acc_stride, rows, n, correction, sums, scales, scaling, bias, lo, hi, out, out_stride, 0, 0);
    }
}

#else
void qk_hybrid_conv_output_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                const float *bias, float lo, float hi, float *out, ptrdiff_t out_stride) { __builtin_trap(); }
void qk_hybrid_conv_output_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                  int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                  const float *bias, float lo, float hi, float *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
