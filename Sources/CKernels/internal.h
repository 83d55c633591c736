// Shared helpers of the CKernels sources (not part of the public header).
#ifndef QUANTKIT_CKERNELS_INTERNAL_H
#define QUANTKIT_CKERNELS_INTERNAL_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define QK_X86 1
#include <immintrin.h>
#endif

#define QK_INLINE static inline __attribute__((always_inline))
#define QK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define QK_AVX2 __attribute__((target("avx2,fma")))

/// Four consecutive bytes as one little-endian word (k, k+1, k+2, k+3 from low to high).
QK_INLINE uint32_t qk_load_quad(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/// The last `count` (< 4) bytes of a row, zero-padded, without reading past them.
QK_INLINE uint32_t qk_load_partial_quad(const uint8_t *p, size_t count) {
    uint32_t v = 0;
    memcpy(&v, p, count);
    return v;
}

QK_INLINE size_t qk_min(size_t a, size_t b) { return a < b ? a : b; }

/// `qk_gemm_u8s8_avx512vnni`, adding to the values already in C when `accumulate` is non-zero (the
/// AMX kernel hands it the rows and the k it does not cover).
void qk_gemm_u8s8_avx512vnni_into(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                                  const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                                  int reverse, int32_t *c, ptrdiff_t ldc, int accumulate);

#endif
