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

#endif
