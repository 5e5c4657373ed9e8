// Distance kernels, int8 vector codes and cache hints for the HNSW index; the embedder's small-batch and int8
// linear layers and its element-wise steps (GELU, softmax, LayerNorm).
//
// Swift's SIMD types compile to 128-bit SSE at the baseline x86-64 target; AVX2+FMA is ~25%
// faster on graph search (measured with index-bench), but a binary built for it dies with
// SIGILL on older CPUs. So these kernels pick the AVX2 path at run time, like hnswlib does.
// Prefetch hints exist because Swift has no prefetch intrinsic.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// Dot product of two float vectors.
float fdb_dot(const float *a, const float *b, size_t n);
/// Squared Euclidean distance.
float fdb_l2sq(const float *a, const float *b, size_t n);
/// Most rows `fdb_linear_small` takes.
#define FDB_LINEAR_SMALL_ROWS 16
/// y = x·wᵀ for a few rows (x: rows × in, w: out × in, y: rows × out). A one-sentence query
/// is a handful of tokens: OpenBLAS's sgemm would pack (copy) the whole weight matrix for
/// them, which costs more than the product. Returns 0 (and does nothing) above the row limit.
int fdb_linear_small(const float *x, size_t rows, size_t in, const float *w, size_t out, float *y);
/// 1 when the AVX2+FMA kernels are in use.
int fdb_kernels_avx2(void);

static inline void fdb_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Every 64-byte line of [p, p + bytes).
static inline void fdb_prefetch_range(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}

/// A linear layer's weights quantised to int8 for `fdb_q8_linear` (opaque).
typedef struct fdb_q8_matrix fdb_q8_matrix;
/// 1 when this CPU has AVX-512 VNNI, which the int8 path needs.
int fdb_q8_supported(void);
/// Quantises w (out × in) per output channel. NULL without VNNI or when out is not a multiple
/// of 64 or in of 16 (the caller keeps the float path).
fdb_q8_matrix *fdb_q8_pack(const float *w, size_t out, size_t in);
void fdb_q8_free(fdb_q8_matrix *m);
/// y = x·wᵀ + bias (bias may be NULL) with x quantised per row at call time. Returns 0 when
/// it could not run (no memory), 1 otherwise.
int fdb_q8_linear(const fdb_q8_matrix *m, const float *x, size_t rows, const float *bias, float *y);

/// Quantises x (n floats) to int8 codes with scale max|x| / 127, zero-padded to `stride` bytes
/// (a multiple of 64); returns the scale and puts Σ codes in *sum.
float fdb_i8_encode(const float *x, size_t n, int8_t *codes, size_t stride, int32_t *sum);
/// Σ a[i]·b[i] over `stride` bytes; `sum_b` is b's Σ codes (VNNI multiplies unsigned by signed
/// bytes, so it takes a + 128 and removes 128·Σb).
int32_t fdb_i8_dot(const int8_t *a, const int8_t *b, size_t stride, int32_t sum_b);
/// fdb_i8_dot of the query codes `q` with row slots[j] of `codes` (rows of `stride` bytes),
/// into out[j]; row k's Σ codes is the int32 at byte 4 of `infos + k * info_bytes`.
void fdb_i8_dots(const int8_t *q, const void *codes, size_t stride, const void *infos, size_t info_bytes,
                 const uint32_t *slots, size_t n, int32_t *out);

/// Half-precision rows (half.c): the graph's copy of a vector is binary16 of x / s, s a power
/// of two with |x / s| < 1 (`fdb_h_scale`). Encodes n floats into `out`, returns s.
float fdb_h_encode(const float *x, size_t n, uint16_t *out);
/// The power of two `fdb_h_encode` divides by: 2^e with max|x| in [2^(e-1), 2^e); 1 for zeros.
float fdb_h_scale(const float *x, size_t n);
/// out[i] = s · h[i] as floats.
void fdb_h_decode(const uint16_t *h, size_t n, float s, float *out);
/// Σ q[i]·h[i] (the caller multiplies by the row's scale).
float fdb_h_dot(const float *q, const uint16_t *h, size_t n);
/// Σ (q[i] − s·h[i])².
float fdb_h_l2sq(const float *q, const uint16_t *h, size_t n, float s);
/// Tests: one implementation of each kernel, 0 portable, 1 AVX2 + F16C, 2 AVX-512 (NaN when
/// this CPU lacks it), so every path is checked against the others on a machine that has them.
float fdb_h_dot_at(int level, const float *q, const uint16_t *h, size_t n);
float fdb_h_l2sq_at(int level, const float *q, const uint16_t *h, size_t n, float s);
/// Encodes x · inv into out and decodes out · s into `decoded`, portable (0) or F16C (1).
void fdb_h_encode_at(int level, const float *x, size_t n, float inv, uint16_t *out, float s, float *decoded);
/// One value each way, round to nearest even (the portable conversions, for tests).
uint16_t fdb_h_from_float(float f);
float fdb_h_to_float(uint16_t h);

/// x ← 0.5·x·(1 + erf(x/√2)) in place (BERT's exact GELU), erf within 1e-6 of libm.
void fdb_gelu(float *x, size_t n);
/// Each row of m (rows × cols) ← softmax(row) in place.
void fdb_softmax_rows(float *m, size_t rows, size_t cols);
/// Each row of x (rows × h) ← (row − mean) / √(var + eps) · w + b.
void fdb_layernorm(float *x, size_t rows, size_t h, const float *w, const float *b, float eps);

/// malloc's heap: bytes in use (arenas and mmapped blocks) and bytes held free in arenas
/// (fragmentation), for INFO memory. Zero where glibc's mallinfo2 is missing.
void fdb_heap_stats(size_t *in_use, size_t *held_free);
/// Gives the heap's free pages back to the kernel (glibc's malloc_trim): after a save has freed
/// a graph-sized image and a build's request buffers, the arenas otherwise keep them resident.
void fdb_heap_trim(void);
/// Zeroed memory for one of the index's big arrays: 2 MiB or more is mapped on its own,
/// 2 MiB aligned and advised for transparent huge pages; less comes from calloc. NULL when
/// out of memory. Free with `fdb_region_free` and the same byte count.
void *fdb_region_alloc(size_t bytes);
void fdb_region_free(void *p, size_t bytes);
