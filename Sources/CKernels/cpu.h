// What the CPU can do, asked once per process, and the small helpers the kernels share.
// Private to CKernels (not in include/).
#ifndef FDB_CPU_H
#define FDB_CPU_H
#include <stddef.h>

int fdb_cpu_avx2(void);     // AVX2 and FMA
int fdb_cpu_avx512(void);   // AVX-512 F, BW, VL
int fdb_cpu_vnni(void);     // the above and AVX-512 VNNI

// The hot paths ask per call (a distance is ~50 ns): each file keeps the answer in its own
// static, so the check is one load, not a call into cpu.c.
static inline int fdb_has_avx2(void) { static int c = -1; if (c < 0) c = fdb_cpu_avx2(); return c; }
static inline int fdb_has_avx512(void) { static int c = -1; if (c < 0) c = fdb_cpu_avx512(); return c; }
static inline int fdb_has_vnni(void) { static int c = -1; if (c < 0) c = fdb_cpu_vnni(); return c; }

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static inline float fdb_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#endif
#endif
