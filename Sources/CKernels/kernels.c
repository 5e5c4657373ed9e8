#include "kernels.h"

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
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
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
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) { float d = a[i] - b[i]; s += d * d; }
    return s;
}

static int has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

// y[r][o] = x[r]·w[o] for R ≤ 8 rows: each weight row is read once and dotted with every
// input row, so the weights stream through the cache once per call. R is a compile-time
// constant in each copy, so the accumulators stay in registers.
#define FDB_LINEAR_ROWS(R) \
__attribute__((target("avx2,fma"))) static void linear_rows_##R(const float *x, size_t in, const float *w, size_t out, float *y) { \
    for (size_t o = 0; o < out; o++) { \
        const float *wr = w + o * in; \
        __m256 acc[R]; \
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps(); \
        size_t k = 0; \
        for (; k + 8 <= in; k += 8) { \
            __m256 wv = _mm256_loadu_ps(wr + k); \
            for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * in + k), acc[r]); \
        } \
        for (int r = 0; r < R; r++) { \
            float s = hsum256(acc[r]); \
            for (size_t j = k; j < in; j++) s += wr[j] * x[r * in + j]; \
            y[r * out + o] = s; \
        } \
    } \
}
FDB_LINEAR_ROWS(1) FDB_LINEAR_ROWS(2) FDB_LINEAR_ROWS(3) FDB_LINEAR_ROWS(4)
FDB_LINEAR_ROWS(5) FDB_LINEAR_ROWS(6) FDB_LINEAR_ROWS(7) FDB_LINEAR_ROWS(8)

static void linear_small_avx2(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    switch (rows) {
    case 1: linear_rows_1(x, in, w, out, y); break;
    case 2: linear_rows_2(x, in, w, out, y); break;
    case 3: linear_rows_3(x, in, w, out, y); break;
    case 4: linear_rows_4(x, in, w, out, y); break;
    case 5: linear_rows_5(x, in, w, out, y); break;
    case 6: linear_rows_6(x, in, w, out, y); break;
    case 7: linear_rows_7(x, in, w, out, y); break;
    default: linear_rows_8(x, in, w, out, y); break;
    }
}

static void linear_small_portable(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < out; o++) y[r * out + o] = dot_portable(x + r * in, w + o * in, in);
}

int fdb_linear_small(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    if (rows == 0 || rows > FDB_LINEAR_SMALL_ROWS) return 0;
    if (!has_avx2()) { linear_small_portable(x, rows, in, w, out, y); return 1; }
    // Eight rows share one pass over the weights (eight accumulators fit the registers).
    for (size_t r = 0; r < rows; r += 8) {
        size_t n = rows - r < 8 ? rows - r : 8;
        linear_small_avx2(x + r * in, n, in, w, out, y + r * out);
    }
    return 1;
}

float fdb_dot(const float *a, const float *b, size_t n) { return has_avx2() ? dot_avx2(a, b, n) : dot_portable(a, b, n); }
float fdb_l2sq(const float *a, const float *b, size_t n) { return has_avx2() ? l2sq_avx2(a, b, n) : l2sq_portable(a, b, n); }
int fdb_kernels_avx2(void) { return has_avx2(); }
#else
static void linear_small_portable(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < out; o++) y[r * out + o] = dot_portable(x + r * in, w + o * in, in);
}
int fdb_linear_small(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    if (rows == 0 || rows > FDB_LINEAR_SMALL_ROWS) return 0;
    linear_small_portable(x, rows, in, w, out, y);
    return 1;
}
float fdb_dot(const float *a, const float *b, size_t n) { return dot_portable(a, b, n); }
float fdb_l2sq(const float *a, const float *b, size_t n) { return l2sq_portable(a, b, n); }
int fdb_kernels_avx2(void) { return 0; }
#endif
