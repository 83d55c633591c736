// u8 x s8 GEMM with AVX2 and no VNNI: see CKernels.h for the contract.
//
// Per step over 4 k, the 16 weight bytes of 4 channels are sign-extended to int16 (vpmovsxbw) and
// the row's 4 activation values (widened to int16 beforehand) are broadcast to every 64-bit lane. vpmaddwd then
// gives, per channel, two int32 lanes: w0*a0 + w1*a1 and w2*a2 + w3*a3 (exact: |each| <= 2*255*128).
// The two half sums are kept apart until the end and added pairwise (vphaddd).
#include "CKernels.h"
#include "internal.h"

#if QK_X86

/// One register tile: MR rows x NH halves of a block (8 channels each, half h at block h / 2, byte
/// offset 32 * (h % 2) within each 64-byte group of 4 k).
///
/// `ax` holds the rows already widened to int16 (`ldx` values apart, `quads` groups of 4), so one
/// 64-bit broadcast load gives a row's 4 values in every lane and no shuffle is spent on them.
QK_INLINE QK_AVX2 void qk_avx2_tile(const int16_t *ax, size_t ldx, size_t quads, const int8_t *b,
                                    size_t bs, int32_t *c, ptrdiff_t ldc, int accumulate,
                                    const int MR, const int NH) {
    __m256i acc[4][2][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int h = 0; h < NH; h++) {
            acc[r][h][0] = _mm256_setzero_si256();
            acc[r][h][1] = _mm256_setzero_si256();
        }
    }
    for (size_t q = 0; q < quads; q++) {
        __m256i w[2][2];
#pragma clang loop unroll(full)
        for (int h = 0; h < NH; h++) {
            const int8_t *p = b + (h >> 1) * bs + q * 64 + (h & 1) * 32;
            w[h][0] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
            w[h][1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            long long quad;
            memcpy(&quad, ax + r * ldx + 4 * q, 8);
            const __m256i x = _mm256_set1_epi64x(quad);
#pragma clang loop unroll(full)
            for (int h = 0; h < NH; h++) {
                acc[r][h][0] = _mm256_add_epi32(acc[r][h][0], _mm256_madd_epi16(w[h][0], x));
                acc[r][h][1] = _mm256_add_epi32(acc[r][h][1], _mm256_madd_epi16(w[h][1], x));
            }
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int h = 0; h < NH; h++) {
            // hadd: [c0 c1 c4 c5 | c2 c3 c6 c7]; the 64-bit permute (0, 2, 1, 3) puts them in order.
            __m256i sum = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][h][0], acc[r][h][1]), 0xD8);
            int32_t *dst = c + r * ldc + 8 * h;
            if (accumulate) sum = _mm256_add_epi32(sum, _mm256_loadu_si256((const __m256i *)dst));
            _mm256_storeu_si256((__m256i *)dst, sum);
        }
    }
}

#define QK_AVX2_CASE(MR, NH) \
    case (MR) * 8 + (NH): qk_avx2_tile(ax, ldx, quads, b, bs, c, ldc, accumulate, MR, NH); break;

static QK_AVX2 void qk_avx2_tile_any(const int16_t *ax, size_t ldx, size_t quads, const int8_t *b,
                                     size_t bs, int32_t *c, ptrdiff_t ldc, int accumulate, size_t mr, size_t nh) {
    switch (mr * 8 + nh) {
        QK_AVX2_CASE(1, 1) QK_AVX2_CASE(1, 2) QK_AVX2_CASE(2, 1) QK_AVX2_CASE(2, 2)
        QK_AVX2_CASE(3, 1) QK_AVX2_CASE(4, 1)
        default: __builtin_unreachable();
    }
}

/// Widens `rows` rows of `kc` bytes (each ^ flip) to int16, zero-padded to a multiple of 4.
static QK_AVX2 void qk_avx2_widen(const uint8_t *a, ptrdiff_t lda, size_t rows, size_t kc, uint8_t flip,
                                  int16_t *ax, size_t ldx) {
    const __m128i f = _mm_set1_epi8((char)flip);
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *src = a + r * lda;
        int16_t *dst = ax + r * ldx;
        size_t i = 0;
        for (; i + 16 <= kc; i += 16) {
            __m128i bytes = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), f);
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_cvtepu8_epi16(bytes));
        }
        for (; i < kc; i++) dst[i] = (int16_t)(uint8_t)(src[i] ^ flip);
        for (; i < ldx; i++) dst[i] = 0;
    }
}

enum { QK_AVX2_CHUNK = 512 };

QK_AVX2 void qk_gemm_u8s8_avx2(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                               const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                               int reverse, int32_t *c, ptrdiff_t ldc) {
    if (m == 0 || block_end <= block_begin) return;
    // K in chunks of 512; per chunk, groups of 4 blocks (32 KB of weights, kept in L1) are swept by
    // tiles of 4 rows, each widened into a stack buffer first. Weight bytes are sign-extended once
    // per 4 rows.
    _Alignas(32) int16_t ax[4 * QK_AVX2_CHUNK];
    const size_t blocks = block_end - block_begin;
    const size_t groups = (blocks + 3) / 4;
    for (size_t k0 = 0; k0 < k || k0 == 0; k0 += QK_AVX2_CHUNK) {
        const size_t kc = qk_min(QK_AVX2_CHUNK, k - k0);
        const size_t quads = (kc + 3) / 4, ldx = 4 * quads;
        const int accumulate = k0 > 0;
        for (size_t gi = 0; gi < groups; gi++) {
            const size_t g = reverse ? groups - 1 - gi : gi;
            const size_t j0 = block_begin + 4 * g, j1 = qk_min(j0 + 4, block_end);
            for (size_t r = 0; r < m; r += 4) {
                const size_t mr = qk_min(4, m - r);
                qk_avx2_widen(a + r * lda + k0, lda, mr, kc, flip, ax, ldx);
                for (size_t j = j0; j < j1; j++) {
                    const int8_t *bp = b + j * bs + (k0 / 4) * 64;
                    int32_t *cp = c + r * ldc + 16 * j;
                    if (mr >= 3) {
                        // Four (three) rows x 8 channels: both halves of the block in turn.
                        qk_avx2_tile_any(ax, ldx, quads, bp, bs, cp, ldc, accumulate, mr, 1);
                        qk_avx2_tile_any(ax, ldx, quads, bp + 32, bs, cp + 8, ldc, accumulate, mr, 1);
                    } else {
                        // One or two rows: the whole block at once, so each weight byte is read once.
                        qk_avx2_tile_any(ax, ldx, quads, bp, bs, cp, ldc, accumulate, mr, 2);
                    }
                }
            }
        }
        if (k == 0) break;
    }
}

#else
void qk_gemm_u8s8_avx2(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                       const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                       int reverse, int32_t *c, ptrdiff_t ldc) {
    __builtin_trap();
}
#endif
