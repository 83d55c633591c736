// u8 x s8 GEMM with AVX-512 VNNI (vpdpbusd): see CKernels.h for the contract.
#include "CKernels.h"
#include "internal.h"
#include "vnni_tile.h"

#if QK_X86

/// One register tile: MR rows x NB blocks (16 channels each), K values from `a` / `b`
/// (``qk_vnni_products``). With `accumulate` the tile starts from the values already in C (K split
/// into chunks).
QK_INLINE QK_AVX512 void qk_vnni_tile(const uint8_t *a, ptrdiff_t lda, size_t k, const int8_t *b,
                                      size_t bs, int32_t *c, ptrdiff_t ldc, int accumulate,
                                      const int MR, const int NB, const int FLIP) {
    __m512i acc[4][4];
    const uint8_t *rows[4];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        rows[r] = a + r * lda;
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) {
            acc[r][j] = accumulate ? _mm512_loadu_si512((const void *)(c + r * ldc + 16 * j)) : _mm512_setzero_si512();
        }
    }
    qk_vnni_products(rows, k, b, bs, acc, MR, NB, FLIP);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) _mm512_storeu_si512((void *)(c + r * ldc + 16 * j), acc[r][j]);
    }
}

#define QK_VNNI_CASE(MR, NB) \
    case (MR) * 8 + (NB): \
        if (flip) qk_vnni_tile(a, lda, k, b, bs, c, ldc, accumulate, MR, NB, 1); \
        else qk_vnni_tile(a, lda, k, b, bs, c, ldc, accumulate, MR, NB, 0); \
        break;

/// Dispatches a tile of `mr` (1...4) rows x `nb` (1...4) blocks to its unrolled instance.
static QK_AVX512 void qk_vnni_tile_any(const uint8_t *a, ptrdiff_t lda, size_t k, int flip, const int8_t *b,
                                       size_t bs, int32_t *c, ptrdiff_t ldc, int accumulate, size_t mr, size_t nb) {
    switch (mr * 8 + nb) {
        QK_VNNI_CASE(1, 1) QK_VNNI_CASE(1, 2) QK_VNNI_CASE(1, 3) QK_VNNI_CASE(1, 4)
        QK_VNNI_CASE(2, 1) QK_VNNI_CASE(2, 2) QK_VNNI_CASE(2, 3) QK_VNNI_CASE(2, 4)
        QK_VNNI_CASE(3, 1) QK_VNNI_CASE(3, 2) QK_VNNI_CASE(3, 3) QK_VNNI_CASE(3, 4)
        QK_VNNI_CASE(4, 1) QK_VNNI_CASE(4, 2) QK_VNNI_CASE(4, 3) QK_VNNI_CASE(4, 4)
        default: __builtin_unreachable();
    }
}

QK_AVX512 void qk_gemm_u8s8_avx512vnni(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                                       const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                                       int reverse, int32_t *c, ptrdiff_t ldc) {
    qk_gemm_u8s8_avx512vnni_into(a, lda, m, k, flip, b, bs, block_begin, block_end, reverse, c, ldc, 0);
}

QK_AVX512 void qk_gemm_u8s8_avx512vnni_into(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                                            const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                                            int reverse, int32_t *c, ptrdiff_t ldc, int accumulate) {
    if (m == 0 || block_end <= block_begin) return;
    // Panels of 4 blocks (64 channels); within a panel every 4-row tile reuses the panel's weights
    // from L1. With several row tiles and a long K, K is cut into chunks whose weights fit in L1.
    const size_t chunk = (m > 4 && k > 1024) ? 512 : (k == 0 ? 4 : k);
    const size_t blocks = block_end - block_begin;
    const size_t panels = (blocks + 3) / 4;
    for (size_t pi = 0; pi < panels; pi++) {
        const size_t p = reverse ? panels - 1 - pi : pi;
        const size_t j0 = block_begin + 4 * p;
        const size_t nb = qk_min(4, block_end - j0);
        for (size_t k0 = 0; k0 < k || k0 == 0; k0 += chunk) {
            const size_t kc = k == 0 ? 0 : qk_min(chunk, k - k0);
            const uint8_t *ap = a + k0;
            const int8_t *bp = b + j0 * bs + (k0 / 4) * 64;
            int32_t *cp = c + 16 * j0;
            size_t r = 0;
            for (; r + 4 <= m; r += 4) {
                qk_vnni_tile_any(ap + r * lda, lda, kc, flip != 0, bp, bs, cp + r * ldc, ldc, accumulate || k0 > 0, 4, nb);
            }
            if (r < m) qk_vnni_tile_any(ap + r * lda, lda, kc, flip != 0, bp, bs, cp + r * ldc, ldc, accumulate || k0 > 0, m - r, nb);
            if (k == 0) break;
        }
    }
}

#else
void qk_gemm_u8s8_avx512vnni(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                             const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                             int reverse, int32_t *c, ptrdiff_t ldc) {
    __builtin_trap();
}

void qk_gemm_u8s8_avx512vnni_into(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                                  const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                                  int reverse, int32_t *c, ptrdiff_t ldc, int accumulate) {
    __builtin_trap();
}
#endif
