// Float32 GEMM / indirect convolution with AVX-512F: see CKernelsFloat.h for the contract.
#include "CKernelsFloat.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define F32_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define F32_INLINE static inline __attribute__((always_inline))

/// `a + o`, or `zero` when `o` < 0, without a branch (padded taps are irregular: a branch mispredicts).
F32_INLINE const float *f32_tap(const float *a, const float *zero, int32_t o) {
    const uintptr_t padded = (uintptr_t)(intptr_t)(o >> 31);   // all ones when o < 0
    const uintptr_t inside = (uintptr_t)a + (uintptr_t)((intptr_t)o * (intptr_t)sizeof(float));
    return (const float *)((inside & ~padded) | ((uintptr_t)zero & padded));
}

/// Largest register tile: 6 rows x 4 blocks = 24 accumulators (+ 4 weight vectors; the row values are
/// broadcast from memory), which keeps both FMA ports busy with 10 loads per 24 FMAs.
enum { F32_MR = 6, F32_NB = 4 };

/// Depth values per K chunk of the many-row GEMM: a 4-block panel chunk is 1024 x 64 floats = 256 KB,
/// which stays in L2 while every row tile walks it.
enum { F32_CHUNK = 1024 };

F32_INLINE F32_AVX512 __mmask16 f32_mask512(size_t columns, int j) {
    const size_t first = (size_t)j * 16;
    if (columns >= first + 16) return (__mmask16)0xFFFF;
    if (columns <= first) return 0;
    return (__mmask16)((1u << (columns - first)) - 1);
}

/// Rows `row0 ..< row0 + MR` x blocks `j0 ..< j0 + NB`, depth range taps [t0, t1) x channels [i0, i1).
///
/// `first`: start from zero (else from the raw partial sums in C). `last`: add the bias, clamp, pool
/// and store the results (else store the raw partial sums; only with pool == 1). The pool bookkeeping
/// `q0`/`rem0` is row0 / pool and row0 % pool.
F32_INLINE F32_AVX512 void f32_tile512(const qk_f32_gemm *g, size_t row0, size_t q0, size_t rem0, size_t j0,
                                       size_t t0, size_t t1, size_t i0, size_t i1, int first, int last,
                                       const int MR, const int NB) {
    const size_t channels = g->channels, taps = g->taps, bs = g->block_stride;
    const size_t columns = g->columns;
    __mmask16 mask[F32_NB];
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; j++) mask[j] = f32_mask512(columns > 16 * j0 ? columns - 16 * j0 : 0, j);

    float *const c = g->c + 16 * j0;
    const ptrdiff_t ldc = g->ldc;
    __m512 acc[F32_MR][F32_NB];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) {
            acc[r][j] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(mask[j], c + (ptrdiff_t)(row0 + r) * ldc + 16 * j);
        }
    }

    const float *const wbase = g->weights + j0 * bs;
    for (size_t t = t0; t < t1; t++) {
        const float *x[F32_MR];
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
            __m512 wv[F32_NB];
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) wv[j] = _mm512_load_ps(w + j * bs);
#pragma clang loop unroll(full)
            for (int r = 0; r < MR; r++) {
                const __m512 xv = _mm512_set1_ps(x[r][i]);
#pragma clang loop unroll(full)
                for (int j = 0; j < NB; j++) acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);
            }
        }
    }

    if (!last) {
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) _mm512_mask_storeu_ps(c + (ptrdiff_t)(row0 + r) * ldc + 16 * j, mask[j], acc[r][j]);
        }
        return;
    }

    const __m512 lo = _mm512_set1_ps(g->lo), hi = _mm512_set1_ps(g->hi);
    const size_t pool = g->pool;
    __m512 bias[F32_NB];
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; j++) bias[j] = _mm512_loadu_ps(g->bias + 16 * (j0 + j));
    // Running max over the rows of the current pool group (pool == 1: every row is its own group).
    __m512 m[F32_NB];
    size_t q = q0, rem = rem0;
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) m[j] = (r == 0 || rem == 0) ? acc[r][j] : _mm512_max_ps(acc[r][j], m[j]);
        // A group that began in an earlier tile is merged with the partial result stored there.
        const int merge = (size_t)r < rem;
        rem++;
        if (rem == pool || r == MR - 1) {
            float *dst = c + (ptrdiff_t)q * ldc;
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) {
                __m512 v = _mm512_add_ps(m[j], bias[j]);
                v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
                if (merge) v = _mm512_max_ps(v, _mm512_maskz_loadu_ps(mask[j], dst + 16 * j));
                _mm512_mask_storeu_ps(dst + 16 * j, mask[j], v);
            }
            if (rem == pool) { rem = 0; q++; }
        }
    }
}

#define F32_CASE(MR, NB) \
    case (MR) * 8 + (NB): f32_tile512(g, row0, q0, rem0, j0, t0, t1, i0, i1, first, last, MR, NB); break;

static F32_AVX512 void f32_tile512_any(const qk_f32_gemm *g, size_t mr, size_t nb, size_t row0, size_t q0, size_t rem0,
                                       size_t j0, size_t t0, size_t t1, size_t i0, size_t i1, int first, int last) {
    switch (mr * 8 + nb) {
        F32_CASE(1, 1) F32_CASE(1, 2) F32_CASE(1, 3) F32_CASE(1, 4)
        F32_CASE(2, 1) F32_CASE(2, 2) F32_CASE(2, 3) F32_CASE(2, 4)
        F32_CASE(3, 1) F32_CASE(3, 2) F32_CASE(3, 3) F32_CASE(3, 4)
        F32_CASE(4, 1) F32_CASE(4, 2) F32_CASE(4, 3) F32_CASE(4, 4)
        F32_CASE(5, 1) F32_CASE(5, 2) F32_CASE(5, 3) F32_CASE(5, 4)
        F32_CASE(6, 1) F32_CASE(6, 2) F32_CASE(6, 3) F32_CASE(6, 4)
        default: __builtin_unreachable();
    }
}

F32_AVX512 void qk_f32_gemm_avx512(const qk_f32_gemm *g) {
    const size_t m = g->rows, pool = g->pool ? g->pool : 1;
    if (m == 0 || g->block_end <= g->block_begin) return;
    // Always 6-row tiles: a pool group cut by a tile boundary is merged through C, which measured
    // faster than 4-row tiles that keep 2x2 groups in registers (the seed CNN's conv2: 75 vs 80 us).
    const size_t mr_max = F32_MR;
    // A single row tile streams the weights once. Panels of at most 1 MB of weights then keep the
    // panel read last by one call in L2 (1.25 MB here) for the next call with the opposite `reverse`;
    // 2 blocks (2 FMA chains) measured best for FULLY_CONNECTED 6272 -> 256.
    size_t panel = F32_NB;
    if (m <= mr_max) {
        const size_t block_bytes = g->taps * g->channels * 16 * sizeof(float);
        panel = block_bytes == 0 ? F32_NB : (size_t)(1u << 20) / block_bytes;
        panel = panel < 1 ? 1 : (panel > F32_NB ? F32_NB : panel);
    }
    // K chunks for many rows without a pool (FULLY_CONNECTED batches, unpooled deep convolutions).
    size_t tchunk = g->taps, ichunk = g->channels;
    if (pool == 1 && m > mr_max && g->taps * g->channels > F32_CHUNK) {
        if (g->taps == 1) ichunk = F32_CHUNK;
        else tchunk = g->channels >= F32_CHUNK ? 1 : F32_CHUNK / g->channels;
    }
    const size_t tchunks = g->taps == 0 ? 1 : (g->taps + tchunk - 1) / tchunk;
    const size_t ichunks = g->channels == 0 ? 1 : (g->channels + ichunk - 1) / ichunk;

    const size_t blocks = g->block_end - g->block_begin;
    const size_t panels = (blocks + panel - 1) / panel;
    for (size_t pi = 0; pi < panels; pi++) {
        const size_t p = g->reverse ? panels - 1 - pi : pi;
        const size_t j0 = g->block_begin + p * panel;
        const size_t nb = blocks - p * panel < panel ? blocks - p * panel : panel;
        for (size_t tc = 0; tc < tchunks; tc++) {
            const size_t t0 = tc * tchunk, t1 = t0 + tchunk < g->taps ? t0 + tchunk : g->taps;
            for (size_t ic = 0; ic < ichunks; ic++) {
                const size_t i0 = ic * ichunk, i1 = i0 + ichunk < g->channels ? i0 + ichunk : g->channels;
                const int first = tc == 0 && ic == 0, last = tc == tchunks - 1 && ic == ichunks - 1;
                size_t q = 0, rem = 0;
                for (size_t row0 = 0; row0 < m; row0 += mr_max) {
                    const size_t mr = m - row0 < mr_max ? m - row0 : mr_max;
                    f32_tile512_any(g, mr, nb, row0, q, rem, j0, t0, t1, i0, i1, first, last);
                    rem += mr;
                    while (rem >= pool) { rem -= pool; q++; }
                }
            }
        }
    }
}

#else
void qk_f32_gemm_avx512(const qk_f32_gemm *args) { (void)args; __builtin_trap(); }
#endif
