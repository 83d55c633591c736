// QuantKit's float32 SIMD micro-kernels: a register-tiled GEMM that also runs convolutions through an
// indirection table (XNNPACK's "indirect GEMM", here with int32 offsets so the table is built once per
// geometry, not per call; no im2col copy), with bias, the fused activation clamp
// and an optional max over groups of consecutive rows (a fused MAX_POOL_2D) applied before the store.
//
// Each kernel is compiled for its instruction set with a per-function target attribute, so this
// file builds for any x86-64 (and other architectures, where the kernels trap and must not be called).
// Callers check `qk_cpu_supports_*` (CKernels.h) once and never call a kernel the CPU lacks.
// Everything else (packing, the indirection buffer, scheduling, the portable path) is Swift in
// Kernels/Fast/Float.
#ifndef QUANTKIT_CKERNELS_FLOAT_H
#define QUANTKIT_CKERNELS_FLOAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Output channels per packed weight block (one AVX-512 vector, two AVX2 vectors).
#define QK_F32_BLOCK 16

/// One call of a float GEMM kernel. All fields are 8 bytes wide except `lo`/`hi` (two floats in one
/// 8-byte slot), so the layout is the same on every 64-bit ABI (144 bytes).
///
/// Rows r < `rows`, depth index k = t * channels + i (tap t < `taps`, channel i < `channels`):
///
///     a(r, k) = a[o + i]  with o = offsets[r * taps + t], or zero[i] when o < 0   (offsets != NULL)
///             = a[r * lda + t * channels + i]                                     (offsets == NULL)
///     acc(r, n) = Σ_k a(r, k) * B(k, n)               (float32 FMA, k ascending: the result for one
///                                                      (r, n) does not depend on the tiling, the
///                                                      thread split or `reverse`)
///     v(r, n) = min(max(acc(r, n) + bias[n], lo), hi) (NaN-propagating like `std::min(std::max(x, lo), hi)`)
///
/// B is packed in blocks of 16 output channels: block j holds float[K][16] (K = taps * channels) at
/// `weights + j * block_stride`, 64-byte aligned, zeros in the channels >= the real count.
/// `bias` holds 16 * block_end floats (zeros in the padding).
///
/// With `pool` == 1, v(r, n) is stored at c[r * ldc + n]. With `pool` > 1 (`rows` a multiple of it),
/// output row q = max over r in [q * pool, q * pool + pool) of v(r, n) is stored at c[q * ldc + n]:
/// a max pool whose taps were gathered as consecutive rows. (max commutes with the bias and the clamp.)
///
/// Only blocks [block_begin, block_end) are computed; block j writes columns 16j ..< min(16j + 16,
/// columns) of every output row; nothing at or past `columns` is written. With `reverse` != 0 the
/// blocks are visited last to first (for L2 reuse between calls; results do not change).
typedef struct qk_f32_gemm {
    const int32_t *offsets;
    const float *a;
    const float *zero;
    ptrdiff_t lda;
    size_t rows;
    size_t taps;
    size_t channels;
    const float *weights;
    size_t block_stride;
    size_t block_begin;
    size_t block_end;
    const float *bias;
    float lo;
    float hi;
    size_t pool;
    float *c;
    ptrdiff_t ldc;
    size_t columns;
    size_t reverse;
} qk_f32_gemm;

/// AVX-512F: register tiles of up to 6 rows x 64 channels (4 rows when pooling 4 taps in registers).
void qk_f32_gemm_avx512(const qk_f32_gemm *args);

/// AVX2 + FMA: register tiles of up to 6 rows x 16 channels.
void qk_f32_gemm_avx2(const qk_f32_gemm *args);

#ifdef __cplusplus
}
#endif

#endif
