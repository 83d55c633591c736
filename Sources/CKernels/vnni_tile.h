// The AVX-512 VNNI register tile shared by the GEMM and the fused convolution + pool (internal).
#ifndef QUANTKIT_CKERNELS_VNNI_TILE_H
#define QUANTKIT_CKERNELS_VNNI_TILE_H

#include "internal.h"

#if QK_X86

/// Adds the products of MR rows (`rows[r]`, k bytes each, read as `byte ^ 0x80` with FLIP) with NB
/// packed blocks (16 channels each, `bs` bytes apart) to the accumulators `acc[r][j]`.
///
/// Each step over 4 k broadcasts one 4-byte group of every row and multiplies it with one 64-byte
/// vector per block (16 channels x 4 k): vpdpbusd adds the four u8 x s8 products of each lane to it.
/// The last k % 4 bytes of a row are read byte by byte, never past the row.
QK_INLINE QK_AVX512 void qk_vnni_products(const uint8_t *const *rows, size_t k, const int8_t *b, size_t bs,
                                          __m512i acc[4][4], const int MR, const int NB, const int FLIP) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const size_t quads = k >> 2;
    size_t q = 0;
    if (MR == 1) {
        // One row: each block's sum is a chain of dependent vpdpbusd, so a second set of accumulators
        // takes the odd quads (the weights stream from L2 at about 130 GB/s instead of 100).
        __m512i odd[4];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) odd[j] = _mm512_setzero_si512();
        for (; q + 2 <= quads; q += 2) {
            __m512i x0 = _mm512_set1_epi32((int)qk_load_quad(rows[0] + 4 * q));
            __m512i x1 = _mm512_set1_epi32((int)qk_load_quad(rows[0] + 4 * q + 4));
            if (FLIP) {
                x0 = _mm512_xor_si512(x0, flip);
                x1 = _mm512_xor_si512(x1, flip);
            }
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) {
                acc[0][j] = _mm512_dpbusd_epi32(acc[0][j], x0, _mm512_load_si512((const void *)(b + j * bs + q * 64)));
                odd[j] = _mm512_dpbusd_epi32(odd[j], x1, _mm512_load_si512((const void *)(b + j * bs + q * 64 + 64)));
            }
        }
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) acc[0][j] = _mm512_add_epi32(acc[0][j], odd[j]);
    }
    for (; q < quads; q++) {
        __m512i w[4];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) w[j] = _mm512_load_si512((const void *)(b + j * bs + q * 64));
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512i x = _mm512_set1_epi32((int)qk_load_quad(rows[r] + 4 * q));
            if (FLIP) x = _mm512_xor_si512(x, flip);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, w[j]);
        }
    }
    const size_t rest = k & 3;
    if (rest) {
        __m512i w[4];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) w[j] = _mm512_load_si512((const void *)(b + j * bs + quads * 64));
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512i x = _mm512_set1_epi32((int)qk_load_partial_quad(rows[r] + 4 * quads, rest));
            if (FLIP) x = _mm512_xor_si512(x, flip);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, w[j]);
        }
    }
}

#endif
#endif
