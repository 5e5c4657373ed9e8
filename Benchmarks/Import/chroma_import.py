#!/usr/bin/env python3
"""The baseline: the same rows and vectors added to Chroma (PersistentClient, HNSW cosine),
in batches as its docs recommend, with the scalar attributes as metadata.

Usage: chroma_import.py ROWS_WITH_VECTORS.jsonl DIR [BATCH]"""
import json, sys, time
import chromadb

path, target = sys.argv[1], sys.argv[2]
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 256
rows = [json.loads(l) for l in open(path)]
client = chromadb.PersistentClient(path=target)
col = client.get_or_create_collection("perfumes", metadata={"hnsw:space": "cosine"})
t0 = time.time()
for i in range(0, len(rows), batch):
    part = rows[i:i + batch]
    metas = []
    for r in part:
        m = {k: r[k] for k in ("name", "brand", "year", "gender", "family", "rating") if k in r}
        if r.get("accords"):
            m["accords"] = ",".join(r["accords"])
        metas.append(m or {"name": r["name"]})
    col.add(ids=[r["id"] for r in part], embeddings=[r["vector"] for r in part], metadatas=metas)
dt = time.time() - t0
print(f"chroma {chromadb.__version__}: {len(rows)} rows with vectors in {dt:.1f} s = {len(rows) / dt:.0f} rows/s (batch {batch})")
