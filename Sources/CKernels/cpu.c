// CPU feature detection: each kernel picks its AVX2, AVX-512 or portable form at run time
// from these, so one binary runs everywhere and uses what it finds.
#include "kernels.h"
#include "cpu.h"

#if defined(__x86_64__)
int fdb_cpu_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

int fdb_cpu_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    }
    return cached;
}

int fdb_cpu_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = fdb_cpu_avx512() && __builtin_cpu_supports("avx512vnni");
    }
    return cached;
}
#else
int fdb_cpu_avx2(void) { return 0; }
int fdb_cpu_avx512(void) { return 0; }
int fdb_cpu_vnni(void) { return 0; }
#endif

int fdb_kernels_avx2(void) { return fdb_cpu_avx2(); }
int fdb_q8_supported(void) { return fdb_cpu_vnni(); }
