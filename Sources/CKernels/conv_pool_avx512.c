// CONV_2D + MAX_POOL_2D + requantization in one pass with AVX-512 VNNI: see CKernels.h for the contract.
//
// For each pooled output and each group of up to 4 channel blocks, the window's im2col rows are
// multiplied in groups of up to 4 (a 4-row x 4-block register tile, as in the GEMM), the tile's
// rows are maxed into the window maximum, and the maximum is requantized and stored: the int32
// accumulators never leave the registers. The same products, maximum and requantization as
// qk_gemm_u8s8_avx512vnni followed by qk_requant_gemmlowp_avx512 with the window, value for value.
#include "CKernels.h"
#include "internal.h"
#include "requant_avx512.h"
#include "vnni_tile.h"

#if QK_X86

/// Folds the products of `MR` rows (`rows[r]`, k bytes each) with NB blocks into the maxima `m`.
QK_INLINE QK_AVX512 void qk_window_tile(const uint8_t *const *rows, size_t k, const int8_t *b, size_t bs,
                                        __m512i *m, const int MR, const int NB) {
    __m512i acc[4][4];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_si512();
    }
    qk_vnni_products(rows, k, b, bs, acc, MR, NB, 0);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) m[j] = _mm512_max_epi32(m[j], acc[r][j]);
    }
}

#define QK_WINDOW_CASE(MR, NB) \
    case (MR) * 8 + (NB): qk_window_tile(rows, k, b, bs, m, MR, NB); break;

static __attribute__((noinline)) QK_AVX512 void qk_window_tile_any(const uint8_t *const *rows, size_t k, const int8_t *b, size_t bs, __m512i *m,
                                         size_t mr, size_t nb) {
    switch (mr * 8 + nb) {
        QK_WINDOW_CASE(1, 1) QK_WINDOW_CASE(1, 2) QK_WINDOW_CASE(1, 3) QK_WINDOW_CASE(1, 4)
        QK_WINDOW_CASE(2, 1) QK_WINDOW_CASE(2, 2) QK_WINDOW_CASE(2, 3) QK_WINDOW_CASE(2, 4)
        QK_WINDOW_CASE(3, 1) QK_WINDOW_CASE(3, 2) QK_WINDOW_CASE(3, 3) QK_WINDOW_CASE(3, 4)
        QK_WINDOW_CASE(4, 1) QK_WINDOW_CASE(4, 2) QK_WINDOW_CASE(4, 3) QK_WINDOW_CASE(4, 4)
        default: __builtin_unreachable();
    }
}

QK_AVX512 void qk_conv_pool_gemmlowp_avx512(const uint8_t *a, ptrdiff_t output_stride, size_t outputs,
                                            const ptrdiff_t *window, size_t window_count, size_t k,
                                            const int8_t *b, size_t bs, size_t n, const qk_gemmlowp_channels *channels,
                                            int32_t zero_point, int32_t lo, int32_t hi,
                                            int8_t *out, ptrdiff_t out_stride) {
    if (outputs == 0 || n == 0 || window_count == 0) return;
    const __m512i zp = _mm512_set1_epi32(zero_point), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    const size_t blocks = (n + 15) / 16;
    for (size_t o = 0; o < outputs; o++) {
        const uint8_t *first = a + (ptrdiff_t)o * output_stride;
        int8_t *dst = out + (ptrdiff_t)o * out_stride;
        for (size_t j0 = 0; j0 < blocks; j0 += 4) {
            const size_t nb = qk_min(4, blocks - j0);
            __m512i m[4];
            for (int j = 0; j < 4; j++) m[j] = _mm512_set1_epi32(INT32_MIN);
            for (size_t w0 = 0; w0 < window_count; w0 += 4) {
                const size_t mr = qk_min(4, window_count - w0);
                const uint8_t *rows[4];
                for (size_t r = 0; r < mr; r++) rows[r] = first + window[w0 + r];
                qk_window_tile_any(rows, k, b + j0 * bs, bs, m, mr, nb);
            }
            for (size_t j = 0; j < nb; j++) {
                const size_t c = 16 * (j0 + j);
                __m512i y = qk_requant_gemmlowp_512(m[j], c, channels);
                qk_store_512(y, zp, vlo, vhi, dst + c, n - c);
            }
        }
    }
}

#else
void qk_conv_pool_gemmlowp_avx512(const uint8_t *a, ptrdiff_t output_stride, size_t outputs,
                                  const ptrdiff_t *window, size_t window_count, size_t k,
                                  const int8_t *b, size_t bs, size_t n, const qk_gemmlowp_channels *channels,
                                  int32_t zero_point, int32_t lo, int32_t hi,
                                  int8_t *out, ptrdiff_t out_stride) { __builtin_trap(); }
#endif
