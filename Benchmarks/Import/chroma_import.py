#!/usr/bin/env python3
"""The baseline: the same rows and vectors added to Chroma (PersistentClient, HNSW cosine),
in batches as its docs recommend, with the scalar attributes as metadata.

With `--documents`, each row also gets a document holding the text our keyword index holds
(name, family, brand, accords, notes), which Chroma indexes for `where_document` search: the
same searchable content as our import stores.

Usage: chroma_import.py ROWS_WITH_VECTORS.jsonl DIR [BATCH] [--documents]"""
import json, sys, time
import chromadb

args = [a for a in sys.argv[1:] if a != "--documents"]
with_documents = "--documents" in sys.argv
path, target = args[0], args[1]
batch = int(args[2]) if len(args) > 2 else 256
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
    docs = None
    if with_documents:
        docs = ["; ".join([r["name"], r.get("family", ""), r.get("brand", ""), ", ".join(r.get("accords", [])),
                           ", ".join(n for tier in r.get("notes", {}).values() for n in tier)]) for r in part]
    col.add(ids=[r["id"] for r in part], embeddings=[r["vector"] for r in part], metadatas=metas, documents=docs)
dt = time.time() - t0
print(f"chroma {chromadb.__version__}: {len(rows)} rows with vectors in {dt:.1f} s = {len(rows) / dt:.0f} rows/s (batch {batch}{', with documents' if with_documents else ''})")
