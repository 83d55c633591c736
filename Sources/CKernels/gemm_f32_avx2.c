// Float32 GEMM / indirect convolution with AVX2 + FMA: see CKernelsFloat.h for the contract.
#include "CKernelsFloat.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define F32_AVX2 __attribute__((target("avx2,fma")))
#define F32_INLINE static inline __attribute__((always_inline))

/// `a + o`, or `zero` when `o` < 0, without a branch (padded taps are irregular: a branch mispredicts).
F32_INLINE const float *f32_tap(const float *a, const float *zero, int32_t o) {
    const uintptr_t padded = (uintptr_t)(intptr_t)(o >> 31);   // all ones when o < 0
    const uintptr_t inside = (uintptr_t)a + (uintptr_t)((intptr_t)o * (intptr_t)sizeof(float));
    return (const float *)((inside & ~padded) | ((uintptr_t)zero & padded));
}

/// Register tile: 6 rows x one 16-channel block (two vectors) = 12 accumulators, 2 weight vectors and
/// a broadcast: 15 of the 16 ymm registers.
enum { F32_MR2 = 6 };
/// Depth values per K chunk of the many-row GEMM (a block chunk of 1024 x 16 floats is 64 KB).
enum { F32_CHUNK2 = 1024 };

/// Lane masks for the columns of one block that exist: lanes < `count` (0...16) of the two halves.
F32_INLINE F32_AVX2 void f32_mask256(size_t count, __m256i *lo, __m256i *hi) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int n = count > 16 ? 16 : (int)count;
    *lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
    *hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lanes);
}

/// Rows `row0 ..< row0 + MR` of block j, depth range taps [t0, t1) x channels [i0, i1); `first`,
/// `last`, `q0`, `rem0` as in the AVX-512 kernel.
F32_INLINE F32_AVX2 void f32_tile256(const qk_f32_gemm *g, size_t row0, size_t q0, size_t rem0, size_t j,
                                     size_t t0, size_t t1, size_t i0, size_t i1, int first, int last, const int MR) {
    const size_t channels = g->channels, taps = g->taps;
    const size_t columns = g->columns;
    const int full = columns >= 16 * j + 16;
    __m256i mlo, mhi;
    f32_mask256(columns > 16 * j ? columns - 16 * j : 0, &mlo, &mhi);

    float *const c = g->c + 16 * j;
    const ptrdiff_t ldc = g->ldc;
    __m256 acc[F32_MR2][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        if (first) {
            acc[r][0] = _mm256_setzero_ps();
            acc[r][1] = _mm256_setzero_ps();
        } else {
            const float *src = c + (ptrdiff_t)(row0 + r) * ldc;
            acc[r][0] = _mm256_maskload_ps(src, mlo);
            acc[r][1] = _mm256_maskload_ps(src + 8, mhi);
        }
    }

    const float *const wbase = g->weights + j * g->block_stride;
    for (size_t t = t0; t < t1; t++) {
        const float *x[F32_MR2];
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (g->offsets) {
                x[r] = f32_tap(g->a, g->zero, g->offsets[(row0 + r) * taps + t]);
            } else {
                x[r] = g->a + (ptrdiff_t)(row0 + r) * g->lda + t * channels;
            }
        }
        const float *w = wbase + (t * channels + i0) * 16;
        for (size_t i = i0; i < i1; i++, w += 16) {
            const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
#pragma clang loop unroll(full)
            for (int r = 0; r < MR; r++) {
                const __m256 xv = _mm256_broadcast_ss(x[r] + i);
                acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
            }
        }
    }

    if (!last) {
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            float *dst = c + (ptrdiff_t)(row0 + r) * ldc;
            if (full) {
                _mm256_storeu_ps(dst, acc[r][0]);
                _mm256_storeu_ps(dst + 8, acc[r][1]);
            } else {
                _mm256_maskstore_ps(dst, mlo, acc[r][0]);
                _mm256_maskstore_ps(dst + 8, mhi, acc[r][1]);
            }
        }
        return;
    }

    const __m256 lo = _mm256_set1_ps(g->lo), hi = _mm256_set1_ps(g->hi);
    const __m256 b0 = _mm256_loadu_ps(g->bias + 16 * j), b1 = _mm256_loadu_ps(g->bias + 16 * j + 8);
    const size_t pool = g->pool;
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    size_t q = q0, rem = rem0;
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        if (r == 0 || rem == 0) {
            m0 = acc[r][0];
            m1 = acc[r][1];
        } else {
            m0 = _mm256_max_ps(acc[r][0], m0);
            m1 = _mm256_max_ps(acc[r][1], m1);
        }
        const int merge = (size_t)r < rem;   // the group began in an earlier tile
        rem++;
        if (rem == pool || r == MR - 1) {
            float *dst = c + (ptrdiff_t)q * ldc;
            __m256 v0 = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(m0, b0)));
            __m256 v1 = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(m1, b1)));
            if (full) {
                if (merge) {
                    v0 = _mm256_max_ps(v0, _mm256_loadu_ps(dst));
                    v1 = _mm256_max_ps(v1, _mm256_loadu_ps(dst + 8));
                }
                _mm256_storeu_ps(dst, v0);
                _mm256_storeu_ps(dst + 8, v1);
            } else {
                if (merge) {
                    v0 = _mm256_max_ps(v0, _mm256_maskload_ps(dst, mlo));
                    v1 = _mm256_max_ps(v1, _mm256_maskload_ps(dst + 8, mhi));
                }
                _mm256_maskstore_ps(dst, mlo, v0);
                _mm256_maskstore_ps(dst + 8, mhi, v1);
            }
            if (rem == pool) { rem = 0; q++; }
        }
    }
}

#define F32_CASE2(MR) \
    case MR: f32_tile256(g, row0, q0, rem0, j, t0, t1, i0, i1, first, last, MR); break;

static F32_AVX2 void f32_tile256_any(const qk_f32_gemm *g, size_t mr, size_t row0, size_t q0, size_t rem0, size_t j,
                                     size_t t0, size_t t1, size_t i0, size_t i1, int first, int last) {
    switch (mr) {
        F32_CASE2(1) F32_CASE2(2) F32_CASE2(3) F32_CASE2(4) F32_CASE2(5) F32_CASE2(6)
        default: __builtin_unreachable();
    }
}

F32_AVX2 void qk_f32_gemm_avx2(const qk_f32_gemm *g) {
    const size_t m = g->rows, pool = g->pool ? g->pool : 1;
    if (m == 0 || g->block_end <= g->block_begin) return;
    // Always 6-row tiles; a pool group cut by a tile boundary is merged through C.
    const size_t mr_max = F32_MR2;
    size_t tchunk = g->taps, ichunk = g->channels;
    if (pool == 1 && m > mr_max && g->taps * g->channels > F32_CHUNK2) {
        if (g->taps == 1) ichunk = F32_CHUNK2;
        else tchunk = g->channels >= F32_CHUNK2 ? 1 : F32_CHUNK2 / g->channels;
    }
    const size_t tchunks = g->taps == 0 ? 1 : (g->taps + tchunk - 1) / tchunk;
    const size_t ichunks = g->channels == 0 ? 1 : (g->channels + ichunk - 1) / ichunk;

    const size_t blocks = g->block_end - g->block_begin;
    for (size_t bi = 0; bi < blocks; bi++) {
        const size_t j = g->block_begin + (g->reverse ? blocks - 1 - bi : bi);
        for (size_t tc = 0; tc < tchunks; tc++) {
            const size_t t0 = tc * tchunk, t1 = t0 + tchunk < g->taps ? t0 + tchunk : g->taps;
            for (size_t ic = 0; ic < ichunks; ic++) {
                const size_t i0 = ic * ichunk, i1 = i0 + ichunk < g->channels ? i0 + ichunk : g->channels;
                const int first = tc == 0 && ic == 0, last = tc == tchunks - 1 && ic == ichunks - 1;
                size_t q = 0, rem = 0;
                for (size_t row0 = 0; row0 < m; row0 += mr_max) {
                    const size_t mr = m - row0 < mr_max ? m - row0 : mr_max;
                    f32_tile256_any(g, mr, row0, q, rem, j, t0, t1, i0, i1, first, last);
                    rem += mr;
                    while (rem >= pool) { rem -= pool; q++; }
                }
            }
        }
    }
}

#else
void qk_f32_gemm_avx2(const qk_f32_gemm *args) { (void)args; __builtin_trap(); }
#endif
