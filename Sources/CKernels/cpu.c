#include "CKernels.h"
#include "internal.h"

#if QK_X86
int qk_cpu_supports_avx512vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vnni");
}

int qk_cpu_supports_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int qk_cpu_supports_avx512vnni(void) { return 0; }
int qk_cpu_supports_avx2(void) { return 0; }
#endif
