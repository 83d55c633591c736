// The AVX-512 requantization steps shared by the requantization and fused kernels (internal).
#ifndef QUANTKIT_CKERNELS_REQUANT_AVX512_H
#define QUANTKIT_CKERNELS_REQUANT_AVX512_H

#include "internal.h"

#if QK_X86

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

/// The gemmlowp requantization of 16 accumulators, channels j ..< j + 16 (`x + offset`, the left shift,
/// then `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), right)`).
///
/// With m >= 0 the high multiply is floor((x * m + 2^30) / 2^31) (gemmlowp's nudge of 1 - 2^30 for
/// negative products followed by a truncating division gives the same integer), i.e. bits 31...62
/// of the 64-bit sum: even lanes from vpmuldq on the low halves, odd lanes on the high halves.
/// RoundingDivideByPOT is (x >> R) + (remainder > (mask >> 1) + (x < 0)).
QK_INLINE QK_AVX512 __m512i qk_requant_gemmlowp_512(__m512i acc, size_t j, const qk_gemmlowp_channels *ch) {
    const __m512i nudge = _mm512_set1_epi64(1LL << 30);
    __m512i x = _mm512_add_epi32(acc, _mm512_loadu_si512((const void *)(ch->offset + j)));
    if (ch->left_shift) x = _mm512_sllv_epi32(x, _mm512_loadu_si512((const void *)(ch->left_shift + j)));
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, _mm512_loadu_si512((const void *)(ch->multiplier + j))), nudge);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32),
                                                    _mm512_loadu_si512((const void *)(ch->multiplier_odd + j))), nudge);
    __m512i high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    __m512i remainder = _mm512_and_si512(high, _mm512_loadu_si512((const void *)(ch->remainder_mask + j)));
    __m512i threshold = _mm512_add_epi32(_mm512_loadu_si512((const void *)(ch->threshold + j)), _mm512_srli_epi32(high, 31));
    __m512i result = _mm512_srav_epi32(high, _mm512_loadu_si512((const void *)(ch->right_shift + j)));
    __mmask16 up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    return _mm512_mask_add_epi32(result, up, result, _mm512_set1_epi32(1));
}

#endif
#endif
