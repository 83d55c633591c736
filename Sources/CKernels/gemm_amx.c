// u8 x s8 GEMM on AMX-INT8 tiles (tdpbusd / tdpbssd), with the AVX-512 VNNI kernel for the edges:
// see CKernels.h for the contract.
//
// The tile registers are set up as
//
//   tmm0..tmm3  C: 16 rows x 16 int32 channels (a 2 x 2 block of 32 rows x 32 channels)
//   tmm4, tmm5  A: 16 rows x 64 bytes (64 k of 16 rows)
//   tmm6, tmm7  B: 16 rows x 64 bytes (16 groups of 4 k x 16 channels: one block of
//               PackedInt8Weights covers 64 k in 16 consecutive 64-byte rows, exactly this layout)
//
// and every tdpbusd adds 16 x 16 x 64 u8 x s8 products to a C tile, wrapping (AMX has no
// saturating form). The rows m & ~15 and the depth k & ~63 go through the tiles; the remaining
// rows, and the remaining k of the tiled rows, go through the VNNI kernel (accumulating into the
// same C), so the results are the VNNI kernel's, value for value.
//
// Signed activations (`flip`): tdpbssd multiplies the int8 values as they are, and the
// 128 * sum_k B[n][k] that `x + 128` adds is added to C afterwards (wrapping, so exact mod 2^32).
// That needs the full-depth row sums, so a flipped call tiles only when k is a multiple of 64.
#include "CKernels.h"
#include "internal.h"

#if QK_X86
#include <sys/syscall.h>
#include <unistd.h>
#include <cpuid.h>

#define QK_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/// The 64-byte operand of ldtilecfg (palette 1).
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} qk_tile_config;

int qk_cpu_supports_amx_int8(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    int ok = qk_cpu_supports_avx512vnni();
    unsigned eax, ebx, ecx, edx;
    if (ok) ok = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 24)) && (edx & (1u << 25));
    if (ok) {
        // The OS must have enabled the tile state (XCR0 bits 17 XTILECFG, 18 XTILEDATA) ...
        ok = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 27));  // OSXSAVE
        if (ok) {
            uint32_t lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ok = (lo & (3u << 17)) == (3u << 17);
        }
    }
#if defined(__linux__)
    // ... and Linux hands the 8 KB of tile data only to processes that ask (ARCH_REQ_XCOMP_PERM,
    // XFEATURE_XTILEDATA); the permission covers every thread of the process.
    if (ok) ok = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
    cached = ok;
    return ok;
}

/// One 2 x 2 (or smaller) block of C tiles: rows 0 ..< 16 * mt of `a`, blocks 0 ..< nt of `b`, `steps`
/// steps of 64 k. Step s reads A at `a + row * lda + (koff ? koff[s] : 64 * s)` and the 16 B rows of
/// k 64 s ..< 64 s + 64.
QK_INLINE QK_AMX void qk_amx_block(const uint8_t *a, ptrdiff_t lda, size_t steps, const ptrdiff_t *koff,
                                   const int8_t *b, size_t bs, int32_t *c, ptrdiff_t ldc, int mt, int nt, int is_signed) {
    const size_t cs = (size_t)ldc * 4;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (size_t s = 0; s < steps; s++) {
        const int8_t *bp = b + s * 1024;
        const uint8_t *ap = a + (koff ? koff[s] : (ptrdiff_t)(64 * s));
        _tile_loadd(4, ap, lda);
        _tile_loadd(6, bp, 64);
        if (nt > 1) _tile_loadd(7, bp + bs, 64);
        if (mt > 1) _tile_loadd(5, ap + 16 * lda, lda);
        if (is_signed) {
            _tile_dpbssd(0, 4, 6);
            if (nt > 1) _tile_dpbssd(1, 4, 7);
            if (mt > 1) _tile_dpbssd(2, 5, 6);
            if (mt > 1 && nt > 1) _tile_dpbssd(3, 5, 7);
        } else {
            _tile_dpbusd(0, 4, 6);
            if (nt > 1) _tile_dpbusd(1, 4, 7);
            if (mt > 1) _tile_dpbusd(2, 5, 6);
            if (mt > 1 && nt > 1) _tile_dpbusd(3, 5, 7);
        }
    }
    _tile_stored(0, c, cs);
    if (nt > 1) _tile_stored(1, c + 16, cs);
    if (mt > 1) _tile_stored(2, c + 16 * ldc, cs);
    if (mt > 1 && nt > 1) _tile_stored(3, c + 16 * ldc + 16, cs);
}

/// Makes the all-16 x 64-byte tile configuration current on this thread.
///
/// ldtilecfg (with the tilerelease that would pair with it) costs about 100 ns here, a fifth of a
/// 4-band convolution's tile work, while reading the current configuration back (sttilecfg) costs
/// about 4 ns: so the configuration is loaded only when the thread's current one differs (first use,
/// or other AMX code ran in between), and the kernels never release the tiles. The psABI makes the
/// tile registers and their configuration caller-saved, so no caller relies on them surviving a call.
/// The cost of not releasing: the thread's tile data stays in use, 8 KB more XSAVE state at a
/// context switch.
QK_INLINE QK_AMX void qk_amx_configure(void) {
    qk_tile_config config, current;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_storeconfig(&current);
    if (memcmp(&current, &config, sizeof config) != 0) _tile_loadconfig(&config);
}

/// Rows 0 ..< m16 (a multiple of 16) of every block pair of [block_begin, block_end), on the tiles.
QK_INLINE QK_AMX void qk_amx_blocks(const uint8_t *a, ptrdiff_t lda, size_t m16, size_t steps, const ptrdiff_t *koff,
                                    const int8_t *b, size_t bs, size_t block_begin, size_t block_end, int reverse,
                                    int32_t *c, ptrdiff_t ldc, int is_signed) {
    const size_t pairs = (block_end - block_begin + 1) / 2;
    for (size_t pi = 0; pi < pairs; pi++) {
        const size_t p = reverse ? pairs - 1 - pi : pi;
        const size_t j0 = block_begin + 2 * p;
        const int nt = (int)qk_min(2, block_end - j0);
        for (size_t r0 = 0; r0 < m16; r0 += 32) {
            const int mt = (int)qk_min(2, (m16 - r0) / 16);
            qk_amx_block(a + r0 * lda, lda, steps, koff, b + j0 * bs, bs, c + r0 * ldc + 16 * j0, ldc, mt, nt, is_signed);
        }
    }
}

QK_AMX void qk_gemm_u8s8_amx_offsets(const uint8_t *a, ptrdiff_t lda, size_t m16, size_t steps, const ptrdiff_t *koff,
                                  const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                                  int32_t *c, ptrdiff_t ldc) {
    if (m16 == 0 || block_end <= block_begin) return;
    qk_amx_configure();
    qk_amx_blocks(a, lda, m16 & ~(size_t)15, steps, koff, b, bs, block_begin, block_end, 0, c, ldc, 0);
}

QK_AMX void qk_gemm_u8s8_amx(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                             const int8_t *b, size_t bs, const int32_t *sums, size_t n,
                             size_t block_begin, size_t block_end, int reverse, int32_t *c, ptrdiff_t ldc) {
    if (m == 0 || block_end <= block_begin) return;
    const size_t m16 = m & ~(size_t)15;
    const size_t k64 = flip ? ((k & 63) == 0 ? k : 0) : (k & ~(size_t)63);
    if (m16 == 0 || k64 == 0) {
        qk_gemm_u8s8_avx512vnni_into(a, lda, m, k, flip, b, bs, block_begin, block_end, reverse, c, ldc, 0);
        return;
    }
    qk_amx_configure();
    qk_amx_blocks(a, lda, m16, k64 / 64, NULL, b, bs, block_begin, block_end, reverse, c, ldc, flip != 0);

    if (flip) {
        // x + 128 = (signed x) + 128: add 128 * sum_k B[n][k] (padding channels n >= N have sum 0).
        for (size_t j = 16 * block_begin; j < 16 * block_end; j += 16) {
            int32_t extra[16];
            for (int t = 0; t < 16; t++) extra[t] = j + t < n ? (int32_t)((uint32_t)sums[j + t] << 7) : 0;
            const __m512i e = _mm512_loadu_si512((const void *)extra);
            for (size_t r = 0; r < m16; r++) {
                int32_t *p = c + r * ldc + j;
                _mm512_storeu_si512((void *)p, _mm512_add_epi32(_mm512_loadu_si512((const void *)p), e));
            }
        }
    }
    if (k64 < k) {
        qk_gemm_u8s8_avx512vnni_into(a + k64, lda, m16, k - k64, flip, b + (k64 / 4) * 64, bs,
                                     block_begin, block_end, reverse, c, ldc, 1);
    }
    if (m16 < m) {
        qk_gemm_u8s8_avx512vnni_into(a + m16 * lda, lda, m - m16, k, flip, b, bs, block_begin, block_end, reverse,
                                     c + m16 * ldc, ldc, 0);
    }
}

#else
int qk_cpu_supports_amx_int8(void) { return 0; }

void qk_gemm_u8s8_amx_offsets(const uint8_t *a, ptrdiff_t lda, size_t m16, size_t steps, const ptrdiff_t *koff,
                           const int8_t *b, size_t bs, size_t block_begin, size_t block_end,
                           int32_t *c, ptrdiff_t ldc) {
    __builtin_trap();
}

void qk_gemm_u8s8_amx(const uint8_t *a, ptrdiff_t lda, size_t m, size_t k, uint8_t flip,
                      const int8_t *b, size_t bs, const int32_t *sums, size_t n,
                      size_t block_begin, size_t block_end, int reverse, int32_t *c, ptrdiff_t ldc) {
    __builtin_trap();
}
#endif
