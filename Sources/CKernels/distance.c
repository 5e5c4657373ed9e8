// Distance kernels for HNSW: float dot and squared L2 (AVX2+FMA or portable), and the int8
// codes graph construction compares with (AVX-512 VNNI or portable).
#include "kernels.h"
#include "cpu.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float dot_portable(const float *a, const float *b, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2sq_portable(const float *a, const float *b, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    for (; i < n; i++) { float d = a[i] - b[i]; s0 += d * d; }
    return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = fdb_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static float l2sq_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    float s = fdb_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) { float d = a[i] - b[i]; s += d * d; }
    return s;
}

// AVX-512: half the instructions of AVX2 for a 384-d vector (24 loads per side, not 48), so
// the out-of-order window reaches further into the next vector's cache misses; a masked load
// takes the tail. Graph search is bound by those misses (perf: the loads of these loops).
__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) static float l2sq_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

float fdb_dot(const float *a, const float *b, size_t n) {
    return fdb_has_avx512() ? dot_avx512(a, b, n) : fdb_has_avx2() ? dot_avx2(a, b, n) : dot_portable(a, b, n);
}
float fdb_l2sq(const float *a, const float *b, size_t n) {
    return fdb_has_avx512() ? l2sq_avx512(a, b, n) : fdb_has_avx2() ? l2sq_avx2(a, b, n) : l2sq_portable(a, b, n);
}
#else
float fdb_dot(const float *a, const float *b, size_t n) { return dot_portable(a, b, n); }
float fdb_l2sq(const float *a, const float *b, size_t n) { return l2sq_portable(a, b, n); }
#endif

#if defined(__x86_64__)
// Σ (a[i] + 128)·b[i]: a ^ 0x80 is a + 128 as an unsigned byte. Two accumulators halve the
// dependency chain.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
static inline int32_t i8_dot_shifted(const int8_t *a, const int8_t *b, size_t stride) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= stride; i += 128) {
        a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(a + i), flip), _mm512_loadu_si512(b + i));
        a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_loadu_si512(a + i + 64), flip), _mm512_loadu_si512(b + i + 64));
    }
    if (i < stride) a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(a + i), flip), _mm512_loadu_si512(b + i));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
static int32_t i8_dot_vnni(const int8_t *a, const int8_t *b, size_t stride, int32_t sum_b) {
    return i8_dot_shifted(a, b, stride) - 128 * sum_b;
}

// One query against many rows, each row's lines (and its Σ codes) prefetched two rows ahead.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
static void i8_dots_vnni(const int8_t *q, const int8_t *codes, size_t stride, const uint8_t *infos, size_t info_bytes,
                         const uint32_t *slots, size_t n, int32_t *out) {
    for (size_t j = 0; j < n && j < 2; j++) {
        fdb_prefetch_range(codes + (size_t)slots[j] * stride, stride);
        fdb_prefetch(infos + (size_t)slots[j] * info_bytes);
    }
    for (size_t j = 0; j < n; j++) {
        if (j + 2 < n) {
            fdb_prefetch_range(codes + (size_t)slots[j + 2] * stride, stride);
            fdb_prefetch(infos + (size_t)slots[j + 2] * info_bytes);
        }
        int32_t sum_b;
        memcpy(&sum_b, infos + (size_t)slots[j] * info_bytes + 4, sizeof sum_b);
        out[j] = i8_dot_shifted(q, codes + (size_t)slots[j] * stride, stride) - 128 * sum_b;
    }
}
#endif

// ---- int8 vector codes for graph construction ------------------------------------------------

float fdb_i8_encode(const float *x, size_t n, int8_t *codes, size_t stride, int32_t *sum) {
    float top = 0;
    for (size_t i = 0; i < n; i++) top = fmaxf(top, fabsf(x[i]));
    float s = top > 0 ? top / 127.0f : 1.0f, inv = 1.0f / s;
    int32_t total = 0;
    for (size_t i = 0; i < stride; i++) {
        int q = i < n ? (int)lrintf(x[i] * inv) : 0;
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        codes[i] = (int8_t)q;
        total += q;
    }
    *sum = total;
    return s;
}

void fdb_i8_dots(const int8_t *q, const void *codes, size_t stride, const void *infos, size_t info_bytes,
                 const uint32_t *slots, size_t n, int32_t *out) {
    const int8_t *c = (const int8_t *)codes;
    const uint8_t *inf = (const uint8_t *)infos;
#if defined(__x86_64__)
    if (fdb_has_vnni()) { i8_dots_vnni(q, c, stride, inf, info_bytes, slots, n, out); return; }
#endif
    for (size_t j = 0; j < n; j++) {
        int32_t sum_b;
        memcpy(&sum_b, inf + (size_t)slots[j] * info_bytes + 4, sizeof sum_b);
        out[j] = fdb_i8_dot(q, c + (size_t)slots[j] * stride, stride, sum_b);
    }
}

int32_t fdb_i8_dot(const int8_t *a, const int8_t *b, size_t stride, int32_t sum_b) {
#if defined(__x86_64__)
    if (fdb_has_vnni()) return i8_dot_vnni(a, b, stride, sum_b);
#endif
    (void)sum_b;
    int32_t s = 0;
    for (size_t i = 0; i < stride; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}
