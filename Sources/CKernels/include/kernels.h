// Distance kernels and cache hints for the HNSW index, and the small-batch linear layer of
// the embedder.
//
// Swift's SIMD types compile to 128-bit SSE at the baseline x86-64 target; AVX2+FMA is ~25%
// faster on graph search (measured with index-bench), but a binary built for it dies with
// SIGILL on older CPUs. So these kernels pick the AVX2 path at run time, like hnswlib does.
// Prefetch hints exist because Swift has no prefetch intrinsic.
#pragma once
#include <stddef.h>

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
