#!/usr/bin/env python3
"""Writes the bundled perfume rows with the vectors an embedding import stored, so that the
same rows can be imported "with vectors supplied" (here and into Chroma).

Usage: export_vectors.py DATA_DIR OUT.jsonl   (reads the catalogue with the zstd command)"""
import json, sqlite3, struct, subprocess, sys, os

data, out = sys.argv[1], sys.argv[2]
db = sqlite3.connect(f"file:{os.path.join(data, 'catalog.sqlite')}?mode=ro", uri=True)
vectors = {i: v for i, v in db.execute('SELECT id, vector FROM "c_perfumes__records"')}
root = os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "Perfumery", "Resources", "perfumes.jsonl.zst")
rows = subprocess.run(["zstd", "-dc", root], capture_output=True, check=True).stdout.decode().splitlines()
n = 0
with open(out, "w") as f:
    for line in rows:
        r = json.loads(line)
        blob = vectors.get(r["id"])
        if blob is None:
            continue
        r["vector"] = [round(x, 6) for x in struct.unpack(f"<{len(blob) // 4}f", blob)]
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
        n += 1
print(f"{n} rows with vectors -> {out}")
