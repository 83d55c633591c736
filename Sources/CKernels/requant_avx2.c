// int32 -> int8 requantization with AVX2: see CKernels.h for the contract (and requant_avx512.c
// for the arithmetic, which is the same in 8 lanes).
#include "CKernels.h"
#include "internal.h"

#if QK_X86

QK_INLINE QK_AVX2 __m256i qk_gemmlowp_256(__m256i x, __m256i m, __m256i right) {
    const __m256i nudge = _mm256_set1_epi64x(1LL << 30);
    const __m256i one = _mm256_set1_epi32(1);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), nudge);
    __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
    __m256i remainder = _mm256_and_si256(high, mask);
    __m256i threshold = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_srli_epi32(high, 31));
    __m256i result = _mm256_srav_epi32(high, right);
    // cmpgt gives -1 where the quotient rounds away from zero.
    return _mm256_sub_epi32(result, _mm256_cmpgt_epi32(remainder, threshold));
}

/// The per-lane maximum of the accumulator rows at `row + window[w]`.
QK_INLINE QK_AVX2 __m256i qk_window_max_256(const int32_t *row, const ptrdiff_t *window, size_t count) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(row + window[0]));
    for (size_t w = 1; w < count; w++) a = _mm256_max_epi32(a, _mm256_loadu_si256((const __m256i *)(row + window[w])));
    return a;
}

/// Zero point (wrapping), clamp, and store `count` (<= 16) int8 values from two 8-lane halves.
QK_INLINE QK_AVX2 void qk_store_256(__m256i y0, __m256i y1, __m256i zp, __m256i lo, __m256i hi,
                                    int8_t *out, size_t count) {
    y0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y0, zp), lo), hi);
    y1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y1, zp), lo), hi);
    __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
    __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    if (count >= 16) {
        _mm_storeu_si128((__m128i *)out, bytes);
    } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, bytes);
        memcpy(out, tmp, count);
    }
}

QK_AVX2 void qk_requant_gemmlowp_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                      const int32_t *offset, const int32_t *multiplier,
                                      const int32_t *left_shift, const int32_t *right_shift,
                                      int32_t zero_point, int32_t lo, int32_t hi,
                                      int8_t *out, ptrdiff_t out_stride) {
    const __m256i zp = _mm256_set1_epi32(zero_point), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *row = acc + r * acc_stride;
        int8_t *dst = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            __m256i y[2];
            for (int h = 0; h < 2; h++) {
                const size_t i = j + 8 * h;
                __m256i x = _mm256_add_epi32(qk_window_max_256(row + i, window, window_count),
                                             _mm256_loadu_si256((const __m256i *)(offset + i)));
                x = _mm256_sllv_epi32(x, _mm256_loadu_si256((const __m256i *)(left_shift + i)));
                y[h] = qk_gemmlowp_256(x, _mm256_loadu_si256((const __m256i *)(multiplier + i)),
                                       _mm256_loadu_si256((const __m256i *)(right_shift + i)));
            }
            qk_store_256(y[0], y[1], zp, vlo, vhi, dst + j, n - j);
        }
    }
}

QK_INLINE QK_AVX2 __m128i qk_scale_double_256(__m128i x, __m256d s) {
    const __m256d half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1.0), sign = _mm256_set1_pd(-0.0);
    __m256d v = _mm256_mul_pd(_mm256_cvtepi32_pd(x), s);
    __m256d t = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256d fraction = _mm256_andnot_pd(sign, _mm256_sub_pd(v, t));
    __m256d away = _mm256_cmp_pd(fraction, half, _CMP_GE_OQ);
    __m256d step = _mm256_or_pd(one, _mm256_and_pd(sign, v));
    t = _mm256_add_pd(t, _mm256_and_pd(away, step));
    return _mm256_cvttpd_epi32(t);
}

QK_AVX2 void qk_requant_double_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                    const int32_t *offset, const double *scale,
                                    int32_t zero_point, int32_t lo, int32_t hi,
                                    int8_t *out, ptrdiff_t out_stride) {
    const __m256i zp = _mm256_set1_epi32(zero_point), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *row = acc + r * acc_stride;
        int8_t *dst = out + r * out_stride;
        for (size_t j = 0; j < n; j += 16) {
            __m256i y[2];
            for (int h = 0; h < 2; h++) {
                const size_t i = j + 8 * h;
                __m256i x = _mm256_add_epi32(qk_window_max_256(row + i, window, window_count),
                                             _mm256_loadu_si256((const __m256i *)(offset + i)));
                __m128i lo4 = qk_scale_double_256(_mm256_castsi256_si128(x), _mm256_loadu_pd(scale + i));
                __m128i hi4 = qk_scale_double_256(_mm256_extracti128_si256(x, 1), _mm256_loadu_pd(scale + i + 4));
                y[h] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo4), hi4, 1);
            }
            qk_store_256(y[0], y[1], zp, vlo, vhi, dst + j, n - j);
        }
    }
}

#else
void qk_requant_gemmlowp_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                              const int32_t *offset, const int32_t *multiplier,
                              const int32_t *left_shift, const int32_t *right_shift,
                              int32_t zero_point, int32_t lo, int32_t hi,
                              int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
void qk_requant_double_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                            const int32_t *offset, const double *scale,
                            int32_t zero_point, int32_t lo, int32_t hi,
                            int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
