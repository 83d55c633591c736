// int32 -> int8 requantization with AVX-512: see CKernels.h for the contract.
#include "CKernels.h"
#include "internal.h"

#if QK_X86

/// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), right)` in 16 lanes.
///
/// With m >= 0 the high multiply is floor((x * m + 2^30) / 2^31) (gemmlowp's nudge of 1 - 2^30 for
/// negative products followed by a truncating division gives the same integer), i.e. bits 31...62
/// of the 64-bit sum. Even lanes come from vpmuldq on the low halves, odd lanes on the high halves.
QK_INLINE QK_AVX512 __m512i qk_gemmlowp_512(__m512i x, __m512i m, __m512i right) {
    const __m512i nudge = _mm512_set1_epi64(1LL << 30);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, m), nudge);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32)), nudge);
    __m512i high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    // RoundingDivideByPOT: (x >> e) + (remainder > (mask >> 1) + (x < 0)).
    __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
    __m512i remainder = _mm512_and_si512(high, mask);
    __m512i threshold = _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(high, 31));
    __m512i result = _mm512_srav_epi32(high, right);
    __mmask16 up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    return _mm512_mask_add_epi32(result, up, result, one);
}

/// The per-lane maximum of the accumulator rows at `row + window[w]`.
QK_INLINE QK_AVX512 __m512i qk_window_max_512(const int32_t *row, const ptrdiff_t *window, size_t count) {
    __m512i a = _mm512_loadu_si512((const void *)(row + window[0]));
    for (size_t w = 1; w < count; w++) a = _mm512_max_epi32(a, _mm512_loadu_si512((const void *)(row + window[w])));
    return a;
}

/// Adds the zero point (wrapping), clamps and stores `count` (<= 16) int8 values.
QK_INLINE QK_AVX512 void qk_store_512(__m512i y, __m512i zp, __m512i lo, __m512i hi, int8_t *out, size_t count) {
    y = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(y, zp), lo), hi);
    __m128i bytes = _mm512_cvtepi32_epi8(y);
    if (count >= 16) _mm_storeu_si128((__m128i *)out, bytes);
    else _mm_mask_storeu_epi8(out, (__mmask16)((1u << count) - 1), bytes);
}

QK_AVX512 void qk_requant_gemmlowp_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                          const int32_t *offset, const int32_t *multiplier,
                                          const int32_t *left_shift, const int32_t *right_shift,
                                          int32_t zero_point, int32_t lo, int32_t hi,
                                          int8_t *out, ptrdiff_t out_stride) {
    const __m512i zp = _mm512_set1_epi32(zero_point), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *row = acc + r * acc_stride;
        int8_t *dst = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            __m512i x = _mm512_add_epi32(qk_window_max_512(row + j, window, window_count),
                                         _mm512_loadu_si512((const void *)(offset + j)));
            x = _mm512_sllv_epi32(x, _mm512_loadu_si512((const void *)(left_shift + j)));
            __m512i y = qk_gemmlowp_512(x, _mm512_loadu_si512((const void *)(multiplier + j)),
                                        _mm512_loadu_si512((const void *)(right_shift + j)));
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
                                const ptrdiff_t *window, size_t window_count,
                                const int32_t *offset, const int32_t *multiplier,
                                const int32_t *left_shift, const int32_t *right_shift,
                                int32_t zero_point, int32_t lo, int32_t hi,
                                int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
void qk_requant_double_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                              const int32_t *offset, const double *scale,
                              int32_t zero_point, int32_t lo, int32_t hi,
                              int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
