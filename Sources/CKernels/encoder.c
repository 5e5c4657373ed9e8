// Encoder kernels for Embedding: the small-batch fp32 linear layer (AVX2), int8 linear
// layers (AVX-512 VNNI) and the element-wise steps (GELU, softmax, LayerNorm; AVX-512).
#include "kernels.h"
#include "cpu.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
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
            float s = fdb_hsum256(acc[r]); \
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
        for (size_t o = 0; o < out; o++) y[r * out + o] = fdb_dot(x + r * in, w + o * in, in);
}

int fdb_linear_small(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    if (rows == 0 || rows > FDB_LINEAR_SMALL_ROWS) return 0;
    if (!fdb_has_avx2()) { linear_small_portable(x, rows, in, w, out, y); return 1; }
    // Eight rows share one pass over the weights (eight accumulators fit the registers).
    for (size_t r = 0; r < rows; r += 8) {
        size_t n = rows - r < 8 ? rows - r : 8;
        linear_small_avx2(x + r * in, n, in, w, out, y + r * out);
    }
    return 1;
}

#else
static void linear_small_portable(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < out; o++) y[r * out + o] = fdb_dot(x + r * in, w + o * in, in);
}
int fdb_linear_small(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y) {
    if (rows == 0 || rows > FDB_LINEAR_SMALL_ROWS) return 0;
    linear_small_portable(x, rows, in, w, out, y);
    return 1;
}
#endif

// ---- int8 linear layers (AVX-512 VNNI) -------------------------------------------------------
// Bulk embedding spends most of its time in the encoder's linear layers. VNNI's vpdpbusd does
// four 8-bit multiply-adds per 32-bit lane, four times fp32 FMA's work per instruction. Weights
// are quantised once per output channel (symmetric, ±127); each input row gets its own scale
// at call time (dynamic quantisation) and is stored as unsigned bytes with +128, which the
// per-channel column sums take back out.

#if defined(__x86_64__)
struct fdb_q8_matrix {
    int8_t *packed;      // [out/64][in/4][64][4]: one 256-byte line of four zmm per 4 inputs
    float *scale;        // per output channel
    int32_t *offset;     // 128 × Σ_k w_q[o][k], removed from each accumulator
    size_t in, out;
};

fdb_q8_matrix *fdb_q8_pack(const float *w, size_t out, size_t in) {
    if (!fdb_has_vnni() || out == 0 || in == 0 || out % 64 || in % 16) return NULL;
    fdb_q8_matrix *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->in = in; m->out = out;
    m->packed = aligned_alloc(64, out * in);
    m->scale = malloc(out * sizeof(float));
    m->offset = malloc(out * sizeof(int32_t));
    if (!m->packed || !m->scale || !m->offset) { fdb_q8_free(m); return NULL; }
    for (size_t o = 0; o < out; o++) {
        const float *row = w + o * in;
        float top = 0;
        for (size_t k = 0; k < in; k++) top = fmaxf(top, fabsf(row[k]));
        float s = top > 0 ? top / 127.0f : 1.0f, inv = 1.0f / s;
        int32_t sum = 0;
        size_t block = o / 64, lane = o % 64;
        for (size_t k = 0; k < in; k++) {
            int q = (int)lrintf(row[k] * inv);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            sum += q;
            m->packed[block * 64 * in + (k / 4) * 256 + lane * 4 + k % 4] = (int8_t)q;
        }
        m->scale[o] = s;
        m->offset[o] = 128 * sum;
    }
    return m;
}

void fdb_q8_free(fdb_q8_matrix *m) {
    if (!m) return;
    free(m->packed); free(m->scale); free(m->offset); free(m);
}

// Each row: scale = max|x| / 127, bytes = round(x / scale) + 128.
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void q8_quantise_rows(const float *x, size_t rows, size_t in, uint8_t *q, float *scales) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * in;
        __m512 top = _mm512_setzero_ps();
        for (size_t k = 0; k < in; k += 16) top = _mm512_max_ps(top, _mm512_abs_ps(_mm512_loadu_ps(row + k)));
        float t = _mm512_reduce_max_ps(top);
        float s = t > 0 ? t / 127.0f : 1.0f;
        __m512 inv = _mm512_set1_ps(1.0f / s);
        __m512i bias = _mm512_set1_epi32(128);
        for (size_t k = 0; k < in; k += 16) {
            __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + k), inv)), bias);
            _mm_storeu_si128((__m128i *)(q + r * in + k), _mm512_cvtusepi32_epi8(v));
        }
        scales[r] = s;
    }
}

// R rows × 64 outputs: sixteen accumulators at most, four weight loads per four inputs.
#define FDB_Q8_ROWS(R) \
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) \
static void q8_block_##R(const fdb_q8_matrix *m, const uint8_t *q, const float *qs, size_t block, const float *bias, float *y) { \
    size_t in = m->in, out = m->out; \
    const int8_t *w = m->packed + block * 64 * in; \
    __m512i acc[R][4]; \
    for (int r = 0; r < R; r++) for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_si512(); \
    for (size_t kk = 0; kk < in / 4; kk++) { \
        const int8_t *wl = w + kk * 256; \
        __m512i w0 = _mm512_load_si512(wl), w1 = _mm512_load_si512(wl + 64); \
        __m512i w2 = _mm512_load_si512(wl + 128), w3 = _mm512_load_si512(wl + 192); \
        for (int r = 0; r < R; r++) { \
            int32_t four; memcpy(&four, q + r * in + kk * 4, 4); \
            __m512i a = _mm512_set1_epi32(four); \
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, w0); \
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, w1); \
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], a, w2); \
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], a, w3); \
        } \
    } \
    for (int j = 0; j < 4; j++) { \
        size_t o = block * 64 + j * 16; \
        __m512i off = _mm512_loadu_si512(m->offset + o); \
        __m512 ws = _mm512_loadu_ps(m->scale + o); \
        __m512 b = bias ? _mm512_loadu_ps(bias + o) : _mm512_setzero_ps(); \
        for (int r = 0; r < R; r++) { \
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][j], off)); \
            _mm512_storeu_ps(y + r * out + o, _mm512_fmadd_ps(v, _mm512_mul_ps(ws, _mm512_set1_ps(qs[r])), b)); \
        } \
    } \
}
FDB_Q8_ROWS(1) FDB_Q8_ROWS(2) FDB_Q8_ROWS(3) FDB_Q8_ROWS(4)

int fdb_q8_linear(const fdb_q8_matrix *m, const float *x, size_t rows, const float *bias, float *y) {
    if (!m || rows == 0) return rows == 0;
    size_t in = m->in;
    uint8_t *q = aligned_alloc(64, ((rows * in + 63) / 64) * 64);
    float *qs = malloc(rows * sizeof(float));
    if (!q || !qs) { free(q); free(qs); return 0; }
    q8_quantise_rows(x, rows, in, q, qs);
    // Weight blocks outermost: a block (64 × in bytes, ≤ 96 KB) stays in L2 while every row
    // group streams past it.
    for (size_t b = 0; b < m->out / 64; b++) {
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) q8_block_4(m, q + r * in, qs + r, b, bias, y + r * m->out);
        switch (rows - r) {
        case 3: q8_block_3(m, q + r * in, qs + r, b, bias, y + r * m->out); break;
        case 2: q8_block_2(m, q + r * in, qs + r, b, bias, y + r * m->out); break;
        case 1: q8_block_1(m, q + r * in, qs + r, b, bias, y + r * m->out); break;
        default: break;
        }
    }
    free(q); free(qs);
    return 1;
}

#else
struct fdb_q8_matrix { int unused; };
fdb_q8_matrix *fdb_q8_pack(const float *w, size_t out, size_t in) { (void)w; (void)out; (void)in; return NULL; }
void fdb_q8_free(fdb_q8_matrix *m) { (void)m; }
int fdb_q8_linear(const fdb_q8_matrix *m, const float *x, size_t rows, const float *bias, float *y) {
    (void)m; (void)x; (void)rows; (void)bias; (void)y; return 0;
}
#endif

// ---- the encoder's element-wise steps ---------------------------------------------------------
// GELU (exact erf form), softmax and LayerNorm were a third of a bulk forward pass once the
// linear layers ran in int8 (perf on embed-bench): Swift vectorised them 4 wide at best, and
// softmax's exp not at all. erf is x·P(x²)/Q(x²) on [-4, 4] (clamped; erf is ±1 within 2e-8
// beyond), the rational form XLA and Eigen use; exp(x ≤ 0) is 2^k·e^r with a degree-6
// polynomial for e^r. Both stay within 2e-6 of libm (FastMathTests).

static const float erf_p[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
    -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f};
static const float erf_q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
    -7.37332916720468e-03f, -1.42647390514189e-02f};
#define LN2_HI 0.693145751953125f
#define LN2_LO 1.428606765330187e-06f
#define LOG2E 1.44269504088896341f

static inline float erf_scalar(float v) {
    float x = v < -4 ? -4 : v > 4 ? 4 : v, x2 = x * x, p = erf_p[0], q = erf_q[0];
    for (int i = 1; i < 7; i++) p = p * x2 + erf_p[i];
    for (int i = 1; i < 5; i++) q = q * x2 + erf_q[i];
    return x * p / q;
}

static inline float exp_nonpositive_scalar(float v) {
    float x = v < -87 ? -87 : v;
    float k = floorf(x * LOG2E + 0.5f);
    float r = x - k * LN2_HI - k * LN2_LO;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120; p = p * r + 1.0f / 24; p = p * r + 1.0f / 6;
    p = p * r + 0.5f; p = p * r + 1; p = p * r + 1;
    return ldexpf(p, (int)k);
}

static void gelu_portable(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1 + erf_scalar(x[i] * 0.70710678118654752f));
}

static void softmax_portable(float *m, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = m + r * cols, top = -INFINITY, sum = 0;
        for (size_t j = 0; j < cols; j++) top = row[j] > top ? row[j] : top;
        for (size_t j = 0; j < cols; j++) { row[j] = exp_nonpositive_scalar(row[j] - top); sum += row[j]; }
        float inv = 1 / sum;
        for (size_t j = 0; j < cols; j++) row[j] *= inv;
    }
}

static void layernorm_portable(float *x, size_t rows, size_t h, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * h, mean = 0, var = 0;
        for (size_t j = 0; j < h; j++) mean += row[j];
        mean /= (float)h;
        for (size_t j = 0; j < h; j++) { float d = row[j] - mean; var += d * d; }
        var /= (float)h;
        float inv = 1 / sqrtf(var + eps);
        for (size_t j = 0; j < h; j++) row[j] = (row[j] - mean) * inv * w[j] + b[j];
    }
}

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

AVX512 static inline __m512 erf16(__m512 v) {
    __m512 x = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-4)), _mm512_set1_ps(4)), x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(erf_p[0]), q = _mm512_set1_ps(erf_q[0]);
    for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(erf_p[i]));
    for (int i = 1; i < 5; i++) q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(erf_q[i]));
    return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

AVX512 static inline __m512 exp16_nonpositive(__m512 v) {
    __m512 x = _mm512_max_ps(v, _mm512_set1_ps(-87));
    __m512 k = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_LO), _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_HI), x));
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120)); p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6)); p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1)); p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1));
    return _mm512_scalef_ps(p, k);
}

AVX512 static void gelu_avx512(float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 e = erf16(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1), e)));
    }
    gelu_portable(x + i, n - i);
}

AVX512 static void softmax_avx512(float *m, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = m + r * cols;
        __m512 top = _mm512_set1_ps(-INFINITY);
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 k = cols - j >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            top = _mm512_max_ps(top, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, row + j));
        }
        __m512 t = _mm512_set1_ps(_mm512_reduce_max_ps(top)), sum = _mm512_setzero_ps();
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 k = cols - j >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            __m512 e = exp16_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), t));
            e = _mm512_maskz_mov_ps(k, e);
            sum = _mm512_add_ps(sum, e);
            _mm512_mask_storeu_ps(row + j, k, e);
        }
        __m512 inv = _mm512_set1_ps(1 / _mm512_reduce_add_ps(sum));
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 k = cols - j >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            _mm512_mask_storeu_ps(row + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + j), inv));
        }
    }
}

AVX512 static void layernorm_avx512(float *x, size_t rows, size_t h, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * h;
        __m512 s = _mm512_setzero_ps();
        for (size_t j = 0; j < h; j += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(row + j));
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)h), v = _mm512_setzero_ps();
        for (size_t j = 0; j < h; j += 16) { __m512 d = _mm512_sub_ps(_mm512_loadu_ps(row + j), mean); v = _mm512_fmadd_ps(d, d, v); }
        __m512 inv = _mm512_set1_ps(1 / sqrtf(_mm512_reduce_add_ps(v) / (float)h + eps));
        for (size_t j = 0; j < h; j += 16) {
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(row + j), mean), inv);
            _mm512_storeu_ps(row + j, _mm512_fmadd_ps(d, _mm512_loadu_ps(w + j), _mm512_loadu_ps(b + j)));
        }
    }
}

void fdb_gelu(float *x, size_t n) { if (fdb_has_avx512()) gelu_avx512(x, n); else gelu_portable(x, n); }
void fdb_softmax_rows(float *m, size_t rows, size_t cols) {
    if (fdb_has_avx512()) softmax_avx512(m, rows, cols); else softmax_portable(m, rows, cols);
}
void fdb_layernorm(float *x, size_t rows, size_t h, const float *w, const float *b, float eps) {
    if (fdb_has_avx512() && h % 16 == 0) layernorm_avx512(x, rows, h, w, b, eps); else layernorm_portable(x, rows, h, w, b, eps);
}
#else
void fdb_gelu(float *x, size_t n) { gelu_portable(x, n); }
void fdb_softmax_rows(float *m, size_t rows, size_t cols) { softmax_portable(m, rows, cols); }
void fdb_layernorm(float *x, size_t rows, size_t h, const float *w, const float *b, float eps) { layernorm_portable(x, rows, h, w, b, eps); }
#endif
