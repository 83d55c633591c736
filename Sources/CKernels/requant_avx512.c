// int32 -> int8 requantization with AVX-512: see CKernels.h for the contract.
#include "CKernels.h"
#include "internal.h"
#include "requant_avx512.h"

#if QK_X86

QK_AVX512 void qk_requant_gemmlowp_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                          const ptrdiff_t *window, size_t window_count, const qk_gemmlowp_channels *channels,
                                          int32_t zero_point, int32_t lo, int32_t hi,
                                          int8_t *out, ptrdiff_t out_stride) {
    const __m512i zp = _mm512_set1_epi32(zero_point), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *row = acc + r * acc_stride;
        int8_t *dst = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            __m512i y = qk_requant_gemmlowp_512(qk_window_max_512(row + j, window, window_count), j, channels);
            qk_store_512(y, zp, vlo, vhi, dst + j, n - j);
        }
    }
}

/// round_half_away(x * s) converted with x86's truncating conversion (INT32_MIN when out of range).
QK_INLINE QK_AVX512 __m256i qk_scale_double_512(__m256i x, __m512d s) {
    const __m512d half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0);
    const __m512d sign = _mm512_set1_pd(-0.0);
    __m512d v = _mm512_mul_pd(_mm512_cvtepi32_pd(x), s);
    __m512d t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512d fraction = _mm512_andnot_pd(sign, _mm512_sub_pd(v, t));   // |v - trunc(v)|, exact
    __mmask8 away = _mm512_cmp_pd_mask(fraction, half, _CMP_GE_OQ);
    __m512d step = _mm512_or_pd(one, _mm512_and_pd(sign, v));        // copysign(1, v)
    t = _mm512_mask_add_pd(t, away, t, step);
    return _mm512_cvttpd_epi32(t);
}

QK_AVX512 void qk_requant_double_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                        const int32_t *offset, const double *scale,
                                        int32_t zero_point, int32_t lo, int32_t hi,
                                        int8_t *out, ptrdiff_t out_stride) {
    const __m512i zp = _mm512_set1_epi32(zero_point), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *row = acc + r * acc_stride;
        int8_t *dst = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            __m512i x = _mm512_add_epi32(qk_window_max_512(row + j, window, window_count),
                                         _mm512_loadu_si512((const void *)(offset + j)));
            __m256i y0 = qk_scale_double_512(_mm512_castsi512_si256(x), _mm512_loadu_pd(scale + j));
            __m256i y1 = qk_scale_double_512(_mm512_extracti64x4_epi64(x, 1), _mm512_loadu_pd(scale + j + 8));
            __m512i y = _mm512_inserti64x4(_mm512_castsi256_si512(y0), y1, 1);
            qk_store_512(y, zp, vlo, vhi, dst + j, n - j);
        }
    }
}

#else
void qk_requant_gemmlowp_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count, const qk_gemmlowp_channels *channels,
                                int32_t zero_point, int32_t lo, int32_t hi,
                                int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
void qk_requant_double_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                              const int32_t *offset, const double *scale,
                              int32_t zero_point, int32_t lo, int32_t hi,
                              int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
