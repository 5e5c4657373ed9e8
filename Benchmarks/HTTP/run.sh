#!/usr/bin/env bash
# Requests/second and latency of POST /api/v1/search/semantic under wrk, against a release
# server holding the whole bundled catalogue (loopback only). Client and server share the 2 cores.
# Usage: Benchmarks/HTTP/run.sh DATA_DIR   (a data directory with the catalogue loaded, e.g. after
#        tools/run; it is opened by this script's own server, so stop any other one first)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:?data directory with the catalogue}"
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && S=sudo || S=; $S apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product fragrancedb >/dev/null
ulimit -n 65536 || true
FRAGRANCEDB_CATALOGUE_LOAD=false .build/release/fragrancedb serve --data "$DATA" --port 17791 --http-port 18091 \
    --model-dir "${FRAGRANCEDB_MODEL_DIR:-$PWD/models/all-MiniLM-L6-v2}" >/tmp/http-bench-serve.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for i in $(seq 50); do curl -sf localhost:18091/ready >/dev/null && break; sleep 0.2; done
U=http://127.0.0.1:18091
L=Benchmarks/HTTP/search.lua
echo "load $(cut -d' ' -f1-3 /proc/loadavg); $(curl -s -XPOST $U/api/v1/collections/perfumes/count) perfumes"
wrk -t1 -c4 -d3s -s $L $U >/dev/null                     # warm: every query embedded once
for c in 64 1000; do
  echo -n "closed loop, $c connections:        "; wrk -t2 -c$c -d15s --timeout 10s -s $L $U | tail -1
done
for c in 250 500 1000; do
  echo -n "paced ~1 req/s each, $c connections: "; PACE_MS=1000 wrk -t2 -c$c -d20s --timeout 10s -s $L $U | tail -1
done
curl -s $U/metrics | grep -E "^fragrancedb_query_embedding_cache|^fragrancedb_http_open" || true
