// The graph's copy of each vector at half precision (issue #23: the float32 copy was 154 of a
// 100k × 384 server's ~285 MB; the float32 truth stays in SQLite). A row is IEEE binary16 of
// x / s, with s a power of two per vector chosen so |x / s| < 1: dividing by a power of two
// is exact, so the only error is binary16's rounding (relative 2^-11 per component), and no
// vector the store accepts can overflow or underflow it. Distances are taken from a float32
// query against a row (F16C converts 8 or 16 halves per instruction; portable code elsewhere).
#include "kernels.h"
#include "cpu.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// ---- portable conversions (round to nearest even, as F16C does) ------------------------------

static inline uint16_t half_from_float(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, mag = x & 0x7FFFFFFFu;
    if (mag >= 0x7F800000u) return (uint16_t)(sign | (mag > 0x7F800000u ? 0x7E00u : 0x7C00u));  // NaN, ±inf
    if (mag >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);          // rounds past 65504
    if (mag >= 0x38800000u) {                                           // a normal half
        uint32_t r = mag - 0x38000000u;                                 // rebias 127 → 15
        uint32_t out = r >> 13, rest = r & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (out & 1u))) out++;
        return (uint16_t)(sign | out);
    }
    if (mag < 0x33000000u) return (uint16_t)sign;                       // below half the smallest subnormal
    // A subnormal half: the float's significand (with its hidden bit) shifted into place.
    uint32_t e = mag >> 23, m = (mag & 0x7FFFFFu) | 0x800000u;
    uint32_t shift = 126u - e;                                          // 14..24 for e in 102..112
    uint32_t out = m >> shift, rest = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (out & 1u))) out++;
    return (uint16_t)(sign | out);
}

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0x1Fu) x = sign | 0x7F800000u | (m << 13);
    else if (e != 0) x = sign | ((e + 112u) << 23) | (m << 13);
    else if (m == 0) x = sign;
    else {                                                              // subnormal: normalise
        uint32_t shift = 0;
        while (!(m & 0x400u)) { m <<= 1; shift++; }
        x = sign | ((113u - shift) << 23) | ((m & 0x3FFu) << 13);
    }
    float f; memcpy(&f, &x, 4);
    return f;
}

float fdb_h_scale(const float *x, size_t n) {
    float top = 0;
    for (size_t i = 0; i < n; i++) top = fmaxf(top, fabsf(x[i]));
    if (!(top > 0) || !isfinite(top)) return 1.0f;
    int e;
    frexpf(top, &e);                                                    // top = m·2^e, m in [0.5, 1)
    return ldexpf(1.0f, e);
}

static void encode_portable(const float *x, size_t n, float inv, uint16_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = half_from_float(x[i] * inv);
}

static void decode_portable(const uint16_t *h, size_t n, float s, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = s * half_to_float(h[i]);
}

static float hdot_portable(const float *q, const uint16_t *h, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += q[i] * half_to_float(h[i]); s1 += q[i + 1] * half_to_float(h[i + 1]);
        s2 += q[i + 2] * half_to_float(h[i + 2]); s3 += q[i + 3] * half_to_float(h[i + 3]);
    }
    for (; i < n; i++) s0 += q[i] * half_to_float(h[i]);
    return (s0 + s1) + (s2 + s3);
}

static float hl2sq_portable(const float *q, const uint16_t *h, size_t n, float s) {
    float s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        float d0 = q[i] - s * half_to_float(h[i]), d1 = q[i + 1] - s * half_to_float(h[i + 1]);
        s0 += d0 * d0; s1 += d1 * d1;
    }
    for (; i < n; i++) { float d = q[i] - s * half_to_float(h[i]); s0 += d * d; }
    return s0 + s1;
}

#if defined(__x86_64__)
// F16C came with AVX2 on every x86 CPU that has both AVX2 and FMA (Haswell, Piledriver on).
static int has_f16c(void) {
    static int c = -1;
    if (c < 0) { __builtin_cpu_init(); c = fdb_has_avx2() && __builtin_cpu_supports("f16c"); }
    return c;
}

__attribute__((target("avx2,fma,f16c"))) static void encode_f16c(const float *x, size_t n, float inv, uint16_t *out) {
    const __m256 k = _mm256_set1_ps(inv);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(x + i), k), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = half_from_float(x[i] * inv);
}

__attribute__((target("avx2,fma,f16c"))) static inline __m256 load8(const uint16_t *h) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

__attribute__((target("avx2,fma,f16c"))) static void decode_f16c(const uint16_t *h, size_t n, float s, float *out) {
    const __m256 k = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(load8(h + i), k));
    for (; i < n; i++) out[i] = s * half_to_float(h[i]);
}

__attribute__((target("avx2,fma,f16c"))) static float hdot_avx2(const float *q, const uint16_t *h, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(h + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(h + i + 8), s1);
    }
    float s = fdb_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += q[i] * half_to_float(h[i]);
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float hl2sq_avx2(const float *q, const uint16_t *h, size_t n, float s) {
    const __m256 k = _mm256_set1_ps(s);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_fnmadd_ps(k, load8(h + i), _mm256_loadu_ps(q + i));
        __m256 d1 = _mm256_fnmadd_ps(k, load8(h + i + 8), _mm256_loadu_ps(q + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    float r = fdb_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) { float d = q[i] - s * half_to_float(h[i]); r += d * d; }
    return r;
}

// AVX-512: 16 halves per conversion, a masked load for the tail (as distance.c's float kernels).
__attribute__((target("avx512f,avx512bw,avx512vl"))) static inline __m512 load16(const uint16_t *h, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float hdot_avx512(const float *q, const uint16_t *h, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16(h + i, 0xFFFF), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load16(h + i + 16, 0xFFFF), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load16(h + i, m), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float hl2sq_avx512(const float *q, const uint16_t *h, size_t n, float s) {
    const __m512 k = _mm512_set1_ps(s);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_fnmadd_ps(k, load16(h + i, 0xFFFF), _mm512_loadu_ps(q + i));
        __m512 d1 = _mm512_fnmadd_ps(k, load16(h + i + 16, 0xFFFF), _mm512_loadu_ps(q + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_fnmadd_ps(k, load16(h + i, m), _mm512_maskz_loadu_ps(m, q + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif

float fdb_h_encode(const float *x, size_t n, uint16_t *out) {
    float s = fdb_h_scale(x, n), inv = 1.0f / s;   // a power of two: exact
#if defined(__x86_64__)
    if (has_f16c()) { encode_f16c(x, n, inv, out); return s; }
#endif
    encode_portable(x, n, inv, out);
    return s;
}

void fdb_h_decode(const uint16_t *h, size_t n, float s, float *out) {
#if defined(__x86_64__)
    if (has_f16c()) { decode_f16c(h, n, s, out); return; }
#endif
    decode_portable(h, n, s, out);
}

float fdb_h_dot(const float *q, const uint16_t *h, size_t n) {
#if defined(__x86_64__)
    if (fdb_has_avx512()) return hdot_avx512(q, h, n);
    if (has_f16c()) return hdot_avx2(q, h, n);
#endif
    return hdot_portable(q, h, n);
}

float fdb_h_l2sq(const float *q, const uint16_t *h, size_t n, float s) {
#if defined(__x86_64__)
    if (fdb_has_avx512()) return hl2sq_avx512(q, h, n, s);
    if (has_f16c()) return hl2sq_avx2(q, h, n, s);
#endif
    return hl2sq_portable(q, h, n, s);
}

float fdb_h_dot_at(int level, const float *q, const uint16_t *h, size_t n) {
    switch (level) {
    case 0: return hdot_portable(q, h, n);
#if defined(__x86_64__)
    case 1: return has_f16c() ? hdot_avx2(q, h, n) : NAN;
    case 2: return fdb_has_avx512() ? hdot_avx512(q, h, n) : NAN;
#endif
    default: return NAN;
    }
}

float fdb_h_l2sq_at(int level, const float *q, const uint16_t *h, size_t n, float s) {
    switch (level) {
    case 0: return hl2sq_portable(q, h, n, s);
#if defined(__x86_64__)
    case 1: return has_f16c() ? hl2sq_avx2(q, h, n, s) : NAN;
    case 2: return fdb_has_avx512() ? hl2sq_avx512(q, h, n, s) : NAN;
#endif
    default: return NAN;
    }
}

void fdb_h_encode_at(int level, const float *x, size_t n, float inv, uint16_t *out, float s, float *decoded) {
#if defined(__x86_64__)
    if (level == 1 && has_f16c()) {
        encode_f16c(x, n, inv, out);
        decode_f16c(out, n, s, decoded);
        return;
    }
#endif
    encode_portable(x, n, inv, out);
    decode_portable(out, n, s, decoded);
}

uint16_t fdb_h_from_float(float f) { return half_from_float(f); }
float fdb_h_to_float(uint16_t h) { return half_to_float(h); }
