#!/usr/bin/env bash
# Import throughput for the whole bundled catalogue, release build, side by side with Chroma:
#   offline and over TCP, with vectors supplied and with embedding.
# Usage: Benchmarks/Import/run.sh [WORKDIR]   (takes ~20 minutes; needs zstd, python3, network to PyPI for chromadb)
set -euo pipefail
cd "$(dirname "$0")/../.."
W="${1:-$(mktemp -d /tmp/import-bench.XXXX)}"
MODEL="${FRAGRANCEDB_MODEL_DIR:-$PWD/models/all-MiniLM-L6-v2}"
swift build -c release --product fragrancedb >/dev/null
B="$PWD/.build/release/fragrancedb"
t() { local s=$(date +%s.%N); "$@" </dev/null >"$W/last.out" 2>/dev/null || true; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
rate() { echo "$(echo "scale=0; $1 / $2" | bc)"; }
N=46977
echo "workdir $W; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -d "$W/embed-offline" ]; then
  echo "fragrancedb offline, embedding:   (reusing $W/embed-offline from an earlier run)"
else
  s=$(t "$B" import --bundled perfumes --data "$W/embed-offline" --model-dir "$MODEL")
  echo "fragrancedb offline, embedding:   $(rate $N $s) rows/s ($s s)  $(tail -1 "$W/last.out")"
fi
python3 Benchmarks/Import/export_vectors.py "$W/embed-offline" "$W/vectors.jsonl"

s=$(t "$B" import "$W/vectors.jsonl" --data "$W/vec-offline")
echo "fragrancedb offline, vectors:     $(rate $N $s) rows/s ($s s)  $(tail -1 "$W/last.out")"
s=$(t "$B" import "$W/vectors.jsonl" --data "$W/vec-offline-efc100" --ef-construction 100)
echo "  same, efConstruction 100 (Chroma's): $(rate $N $s) rows/s ($s s)  $(tail -1 "$W/last.out")"

serve() {  # a server on an empty directory, no catalogue, loopback ports 17790/18090
  FRAGRANCEDB_CATALOGUE_LOAD=false "$B" serve --data "$1" --port 17790 --http-port 18090 --model-dir "$MODEL" >"$W/serve.log" 2>&1 &
  SERVER=$!; sleep 2
}
serve "$W/vec-tcp"
s=$(t "$B" import "$W/vectors.jsonl" --server 127.0.0.1:17790)
echo "fragrancedb over TCP, vectors:    $(rate $N $s) rows/s ($s s)  $(tail -1 "$W/last.out")"
kill -TERM $SERVER; wait $SERVER || true
serve "$W/embed-tcp"
s=$(t "$B" import --bundled perfumes --server 127.0.0.1:17790)
echo "fragrancedb over TCP, embedding:  $(rate $N $s) rows/s ($s s)  $(tail -1 "$W/last.out")"
kill -TERM $SERVER; wait $SERVER || true

python3 -m venv "$W/venv" && "$W/venv/bin/pip" install -q chromadb
"$W/venv/bin/python" Benchmarks/Import/chroma_import.py "$W/vectors.jsonl" "$W/chroma" 256
# With documents Chroma also indexes the text for keyword search, as our import does (FTS5).
"$W/venv/bin/python" Benchmarks/Import/chroma_import.py "$W/vectors.jsonl" "$W/chroma-docs" 256 --documents
