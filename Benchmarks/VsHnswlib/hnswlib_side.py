#!/usr/bin/env python3
"""hnswlib on the files vs-hnswlib wrote (vectors.f32, queries.f32, rating.f32): build M 16,
efConstruction 200, one thread, and print {"build_s", "rss_mb"}; then for each "case:ef" line
on stdin (case 0 unfiltered, 1/2/3 the 50%, 10%, 1% rating filters, applied with hnswlib's
filter callback), recall@10 against exact ground truth and queries per second (best of three
passes), one thread, one JSON object per line on stdout. Ends at the end of stdin.
Usage: hnswlib_side.py DIR DIM"""
import json
import resource
import sys
import time

import hnswlib
import numpy as np

d, dim = sys.argv[1], int(sys.argv[2])
X = np.fromfile(f"{d}/vectors.f32", dtype=np.float32).reshape(-1, dim)
Q = np.fromfile(f"{d}/queries.f32", dtype=np.float32).reshape(-1, dim)
rating = np.fromfile(f"{d}/rating.f32", dtype=np.float32)
thresholds = [None, 0.5, 0.9, 0.99]


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


before = rss_mb()
index = hnswlib.Index(space="cosine", dim=dim)
index.init_index(max_elements=len(X), ef_construction=200, M=16, random_seed=42)
index.set_num_threads(1)
t = time.perf_counter()
index.add_items(X, np.arange(len(X)))
build = time.perf_counter() - t
print(json.dumps({"build_s": build, "rss_mb": rss_mb() - before}), flush=True)

scores = Q @ X.T   # unit vectors: cosine is the dot product
for request in sys.stdin:
    case, ef = (int(x) for x in request.strip().split(":"))
    th = thresholds[case]
    allowed = None if th is None else rating >= np.float32(th)
    truth = []
    for row in scores:
        s = row if allowed is None else np.where(allowed, row, -np.inf)
        truth.append(set(np.argpartition(-s, 10)[:10].tolist()))
    index.set_ef(ef)
    qps = 0.0
    for _ in range(3):   # best of three passes, as the FragranceDB side
        got = []
        t = time.perf_counter()
        if allowed is None:
            for q in Q:
                got.append(index.knn_query(q, k=10)[0][0])
        else:
            mask = allowed.tolist()
            keep = lambda i: mask[i]
            for q in Q:
                got.append(index.knn_query(q, k=10, filter=keep)[0][0])
        qps = max(qps, len(Q) / (time.perf_counter() - t))
    recall = sum(len(truth[i] & set(g.tolist())) for i, g in enumerate(got)) / (10 * len(Q))
    print(json.dumps({"case": case, "ef": ef, "recall": recall, "qps": qps}), flush=True)
