#!/usr/bin/env python3
"""hnswlib on exactly the data index-bench generated (BENCH_EXPORT=DIR), for a side-by-side
baseline: build time, recall@10 vs QPS (single thread) unfiltered and with hnswlib's in-graph
filter at the same selectivities. Usage: hnswlib_baseline.py DIR DIM"""
import sys, time
import numpy as np
import hnswlib

d, dim = sys.argv[1], int(sys.argv[2])
X = np.fromfile(f"{d}/vectors.f32", dtype=np.float32).reshape(-1, dim)
Q = np.fromfile(f"{d}/queries.f32", dtype=np.float32).reshape(-1, dim)
rating = np.fromfile(f"{d}/rating.f32", dtype=np.float32)
family = np.fromfile(f"{d}/family.f32", dtype=np.float32).astype(int)
qcluster = np.fromfile(f"{d}/query_clusters.f32", dtype=np.float32).astype(int)
n = len(X)
Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)

p = hnswlib.Index(space="cosine", dim=dim)
p.init_index(max_elements=n, ef_construction=200, M=16, random_seed=42)
p.set_num_threads(1)
t = time.perf_counter(); p.add_items(X, np.arange(n)); build = time.perf_counter() - t
print(f"hnswlib: build {build:.1f} s for {n} vectors (M=16 efC=200, 1 thread)")

cases = [
    ("unfiltered", lambda c: None),
    ("50%", lambda c: rating >= 3.0 - 1e-6),
    ("10%", lambda c: rating >= 4.6 - 1e-6),
    ("1%", lambda c: rating >= 4.96 - 1e-6),
    ("0.1%", lambda c: rating >= 4.996 - 1e-6),
    ("anti-corr 50%", lambda c: np.isin(family, [(c + j) % 8 for j in (1, 2, 3, 4)])),
    ("anti-corr 12.5%", lambda c: family == (c + 4) % 8),
    ("anti-corr 1%", lambda c: (family == (c + 4) % 8) & (rating >= 4.68 - 1e-6)),
]
print("case               | ef   | recall@10 | QPS")
for name, mask_of in cases:
    truth, masks = [], []
    for i, q in enumerate(Qn):
        m = mask_of(qcluster[i])
        s = Xn @ q
        if m is not None: s = np.where(m, s, -np.inf)
        top = np.argsort(-s)[:10]
        truth.append(set(int(j) for j in top if np.isfinite(s[j])))
        masks.append(m)
    for ef in [10, 16, 32, 64, 128, 256]:
        p.set_ef(ef)
        got = []
        t = time.perf_counter()
        for i, q in enumerate(Q):
            m = masks[i]
            f = None if m is None else (lambda label, m=m: bool(m[label]))
            labels, _ = p.knn_query(q, k=min(10, len(truth[i])) or 1, filter=f)
            got.append(set(int(x) for x in labels[0]))
        qps = len(Q) / (time.perf_counter() - t)
        rec = np.mean([len(g & t) / len(t) for g, t in zip(got, truth) if t])
        print(f"{name:18} | {ef:4} | {rec:9.3f} | {qps:8.0f}", flush=True)
