// QuantKit's SIMD micro-kernels: the few loops that need instructions Swift cannot enable per
// function (AVX-512 VNNI, AVX2). Each kernel is compiled for its instruction set with a
// per-function target attribute, so this target builds for any x86-64 (and for other
// architectures, where only the detection functions exist and report nothing). Callers check
// `qk_cpu_supports_*` once and never call a kernel the CPU lacks.
//
// Everything else (packing, im2col, scheduling, the portable path) is Swift in Kernels/Fast.
#ifndef QUANTKIT_CKERNELS_H
#define QUANTKIT_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

// The float micro-kernels have their own header; including it here puts it in the module SwiftPM generates
// (which uses this file as its umbrella header).
#include "CKernelsFloat.h"

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - CPU detection

/// 1 when the CPU (and OS) support AVX-512 F + BW + VL + VNNI, the set the VNNI kernels use.
int qk_cpu_supports_avx512vnni(void);
/// 1 when the CPU (and OS) support AVX2 (+ FMA), the set the AVX2 kernels use.
int qk_cpu_supports_avx2(void);
/// 1 when the CPU has AMX-TILE + AMX-INT8 and the AVX-512 VNNI set, the OS has enabled the tile
/// state, and (on Linux) the process was granted it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once
/// by the first call; the grant covers every thread).
int qk_cpu_supports_amx_int8(void);

// MARK: - u8 x s8 GEMM
//
// C[m][n] = sum_k a(m, k) * B[n][k], int32, wrapping (no saturation anywhere), where
//
//   a(m, k) = A[m * lda + k] ^ flip   as an unsigned byte (flip 0x80 turns int8 x into x + 128)
//
// B is packed as [n / 16 blocks][ceil(K / 4)][16 channels][4 k] int8 (zeros in the padding), 64-byte
// aligned, `block_stride` bytes per block (= ceil(K / 4) * 64). A rows hold exactly K bytes: the last
// partial group of 4 is read byte by byte, never past the row.
//
// Only the blocks [block_begin, block_end) are computed; block j writes C columns 16j ..< 16j + 16
// of every row (so `ldc` >= 16 * block_end). With `reverse` != 0 the blocks are visited last to first
// (the int32 results do not depend on the order).

/// The AVX-512 VNNI kernel (vpdpbusd), register tiles of up to 4 rows x 64 channels.
void qk_gemm_u8s8_avx512vnni(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                             const int8_t *b, size_t block_stride, size_t block_begin, size_t block_end,
                             int reverse, int32_t *c, ptrdiff_t ldc);

/// The AMX kernel: 16-row x 64-k tiles (tdpbusd; tdpbssd plus 128 * sums[n] for `flip`, which tiles
/// only when k % 64 == 0), blocks of 32 rows x 32 channels; the rows past m & ~15 and the k past the
/// tiled depth run on the VNNI kernel into the same C. `sums` holds sum_k B[n][k] for the `n` real
/// channels (PackedInt8Weights.rowSums). Needs `qk_cpu_supports_amx_int8()`.
void qk_gemm_u8s8_amx(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                      const int8_t *b, size_t block_stride, const int32_t *sums, size_t n,
                      size_t block_begin, size_t block_end, int reverse, int32_t *c, ptrdiff_t ldc);

/// The tile core alone, with the A bytes of each 64-k step found through `koff` (an implicit GEMM):
///
///   C[m][n] = sum_s sum_{t < 64} a[m * lda + koff[s] + t] * B[n][64 s + t]     (u8 x s8, wrapping)
///
/// for m < m16 (a multiple of 16: every row is computed, so the caller's A and C hold m16 rows) and
/// s < steps (B's depth is 64 * steps). A convolution with 64k input channels reads its (padded) input
/// in place: row m is an output pixel, `lda` the bytes per input pixel, `koff[s]` the byte offset of
/// tap s / (C / 64)'s input pixel plus its 64-channel slice. Blocks are visited first to last.
void qk_gemm_u8s8_amx_offsets(const uint8_t *a, ptrdiff_t lda, size_t m16, size_t steps, const ptrdiff_t *koff,
                              const int8_t *b, size_t block_stride, size_t block_begin, size_t block_end,
                              int32_t *c, ptrdiff_t ldc);

/// The AVX2 kernel (no VNNI): weights sign-extended to int16 (vpmovsxbw), activations zero-extended,
/// vpmaddwd (exact; vpmaddubsw would saturate), register tiles of up to 4 rows x 8 channels.
void qk_gemm_u8s8_avx2(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                       const int8_t *b, size_t block_stride, size_t block_begin, size_t block_end,
                       int reverse, int32_t *c, ptrdiff_t ldc);

// MARK: - Requantization int32 -> int8
//
// For each of `rows` rows and each channel n < `n`:
//
//   a   = max over w < window_count of acc[r * acc_stride + window[w] + n]
//   x   = a + offset[n]                                             (wrapping)
//   y   = scale_n(x)                                                (the mode below)
//   out[r * out_stride + n] = (int8) min(max(y + zero_point, lo), hi)   (the addition wraps)
//
// `window` lists int32 offsets (from the row start) of the accumulator rows whose per-channel maximum
// is requantized: {0} with window_count 1 requantizes each row; the rows of a max-pool window fuse a
// MAX_POOL_2D (valid when requantization is monotone over the accumulators' range, which the caller
// checks). Per-channel arrays and accumulator rows must be readable up to n rounded up to 16; exactly
// `n` outputs are written per row.

/// The per-channel constants of the AVX-512 gemmlowp kernels, every array readable up to n rounded
/// up to 16: `offset`, `multiplier`, `left_shift` (L) and `right_shift` (R) as for the AVX2 kernel,
/// plus what the lanes would otherwise derive per vector: `multiplier_odd[2i] = multiplier[2i + 1]`
/// (the odd lanes' multiplier in the low half of each 64-bit lane, for vpmuldq), `remainder_mask =
/// (1 << R) - 1` and `threshold = remainder_mask >> 1`. `left_shift` is NULL when every L is 0.
typedef struct qk_gemmlowp_channels {
    const int32_t *offset;
    const int32_t *multiplier;
    const int32_t *multiplier_odd;
    const int32_t *left_shift;
    const int32_t *right_shift;
    const int32_t *remainder_mask;
    const int32_t *threshold;
} qk_gemmlowp_channels;

/// gemmlowp double rounding, `MultiplyByQuantizedMultiplier`: with L = max(shift, 0), R = max(-shift, 0)
///
///   y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << L, multiplier), R)
///
/// `left_shift[n]` = L, `right_shift[n]` = R. Multipliers are non-negative (never INT32_MIN), so the
/// saturating case of the high multiply cannot occur.
void qk_requant_gemmlowp_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count, const qk_gemmlowp_channels *channels,
                                int32_t zero_point, int32_t lo, int32_t hi,
                                int8_t *out, ptrdiff_t out_stride);
void qk_requant_gemmlowp_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                              const ptrdiff_t *window, size_t window_count,
                              const int32_t *offset, const int32_t *multiplier,
                              const int32_t *left_shift, const int32_t *right_shift,
                              int32_t zero_point, int32_t lo, int32_t hi,
                              int8_t *out, ptrdiff_t out_stride);

/// GEMM, window maximum and gemmlowp requantization fused (a CONV_2D with a MAX_POOL_2D whose
/// accumulators may be pooled; AVX-512 VNNI). Output o reads the im2col rows (u8, k bytes each) at
///
///   a + o * output_stride + window[w]      (byte offsets, w < window_count)
///
/// and writes, for each channel c < n (B packed as for the GEMM, `bs` bytes per block),
///
///   out[o * out_stride + c] = qk_requant_gemmlowp_avx512's value for max_w sum_k a(row_w, k) * B[c][k]
///
/// i.e. what qk_gemm_u8s8_avx512vnni into an accumulator buffer, then qk_requant_gemmlowp_avx512 with
/// that window, would write. Per-channel arrays must be readable up to n rounded up to 16.
void qk_conv_pool_gemmlowp_avx512(const uint8_t *a, ptrdiff_t output_stride, size_t outputs,
                                  const ptrdiff_t *window, size_t window_count, size_t k,
                                  const int8_t *b, size_t bs, size_t n, const qk_gemmlowp_channels *channels,
                                  int32_t zero_point, int32_t lo, int32_t hi,
                                  int8_t *out, ptrdiff_t out_stride);

/// The reference FULLY_CONNECTED: y = (int32_t) round_half_away((double) x * scale[n]), where a
/// rounded value outside int32 gives INT32_MIN (x86's conversion result, as the C++ cast does).
void qk_requant_double_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                              const ptrdiff_t *window, size_t window_count,
                              const int32_t *offset, const double *scale,
                              int32_t zero_point, int32_t lo, int32_t hi,
                              int8_t *out, ptrdiff_t out_stride);
void qk_requant_double_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                            const ptrdiff_t *window, size_t window_count,
                            const int32_t *offset, const double *scale,
                            int32_t zero_point, int32_t lo, int32_t hi,
                            int8_t *out, ptrdiff_t out_stride);

// MARK: - Hybrid (dynamic-range) input quantization
//
// The run-time quantization of a float row by the hybrid FULLY_CONNECTED and CONV_2D kernels
// (TFLite's `tensor_utils::{Symmetric,Asymmetric}QuantizeFloats` as the x86 build runs them); the
// Swift `HybridInputQuantization` is the specification and chooses scale and zero point, these
// kernels do the two loops over the row. Each exists as `_portable` (plain C, any CPU), `_avx2` and
// `_avx512` (compiled for the VNNI backend's AVX-512 set), all with the same results bit for bit.

/// How the "SIMD lanes" (elements 0 ..< count & ~7) round v = inverse * x (`LaneRounding` in Swift).
#define QK_HYBRID_LANE_ADD_HALF_AND_TRUNCATE 0  /* trunc(v + (v < 0 ? -0.5f : 0.5f)), float add */
#define QK_HYBRID_LANE_TIES_TO_EVEN 1           /* nearest, ties to even */
#define QK_HYBRID_LANE_HALF_AWAY_FROM_ZERO 2    /* nearest, ties away from zero */

/// The range of a row, including 0:
///
///   *min_out = min(0, min x),  *max_out = max(0, max x)
///
/// with the tests `x < lo` / `hi < x` (NaN elements are ignored; -0 never replaces the initial +0).
void qk_hybrid_range_portable(const float *x, size_t count, float *min_out, float *max_out);
void qk_hybrid_range_avx2(const float *x, size_t count, float *min_out, float *max_out);
void qk_hybrid_range_avx512(const float *x, size_t count, float *min_out, float *max_out);

/// Quantizes `count` floats to int8, every float operation rounded on its own (no FMA):
///
///   i <  count & ~7:  q[i] = clamp(laneRound(inverse * x[i]) + zero_point,  lo, hi)   (int32 add, wrapping)
///   i >= count & ~7:  q[i] = clamp(trunc((float)zero_point + round_half_away(inverse * x[i])), lo, hi)
///
/// where every float -> int32 conversion gives INT32_MIN for NaN and out-of-range values (x86's
/// `cvttss2si`). Symmetric quantization is zero_point 0, [lo, hi] = [-127, 127]; asymmetric is the
/// row's zero point and [-128, 127].
void qk_hybrid_quantize_portable(const float *x, size_t count, float inverse, int32_t zero_point,
                                 int32_t lo, int32_t hi, int lane_rounding, int8_t *q);
void qk_hybrid_quantize_avx2(const float *x, size_t count, float inverse, int32_t zero_point,
                             int32_t lo, int32_t hi, int lane_rounding, int8_t *q);
void qk_hybrid_quantize_avx512(const float *x, size_t count, float inverse, int32_t zero_point,
                               int32_t lo, int32_t hi, int lane_rounding, int8_t *q);

/// The output stage of the hybrid CONV_2D, for `rows` rows of `n` channels (the reference's float
/// expression, every operation rounded on its own). The clamped convolution value of accumulator row
/// `a` (a pointer to int32 sums) and channel j is
///
///   d = a[j] - correction * sums[j]                                         (int32, wrapping)
///   per-channel (scales != NULL): v = ((float)d * scales[j]) * scaling;  with bias: v = v + bias[j]
///   per-tensor  (scales == NULL): v = (0.0f + (float)d * scaling) + (bias ? bias[j] : 0.0f)
///   value(a, j) = min(max(v, lo), hi)   in C++'s order: w = v < lo ? lo : v; hi < w ? hi : w
///
/// Without a window (`window` NULL): out[r * out_stride + j] = value(acc + r * acc_stride, j).
///
/// With a window (a fused MAX_POOL_2D, as `reference_ops::MaxPool` on the stored values):
///
///   m = -FLT_MAX;  for w in 0 ..< window_count (in order): v = value(acc + r * acc_stride + window[w], j); m = m < v ? v : m
///   out[r * out_stride + j] = min(max(m, pool_lo), pool_hi)   (C++'s order, as above)
///
/// `sums`, `scales` and `bias` hold `n` values (nothing past them is read).
void qk_hybrid_conv_output_avx2(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                const ptrdiff_t *window, size_t window_count,
                                int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                float *out, ptrdiff_t out_stride);
void qk_hybrid_conv_output_avx512(const int32_t *acc, ptrdiff_t acc_stride, size_t rows, size_t n,
                                  const ptrdiff_t *window, size_t window_count,
                                  int32_t correction, const int32_t *sums, const float *scales, float scaling,
                                  const float *bias, float lo, float hi, float pool_lo, float pool_hi,
                                  float *out, ptrdiff_t out_stride);

#ifdef __cplusplus
}
#endif

#endif
