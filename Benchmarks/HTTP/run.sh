#!/usr/bin/env bash
# Requests/second and latency of POST /api/v1/search/semantic under wrk, against a release
# server holding the whole bundled catalogue (loopback only). Client and server share the 2 cores.
# Usage: Benchmarks/HTTP/run.sh DATA_DIR   (a data directory with the catalogue loaded, e.g. after
#        tools/run; it is opened by this script's own server, so stop any other one first)
# Runs twice: as configured by default (the result cache on), then with the result cache off
# (query.result_cache_entries = 0), the baseline every request pays when it is not a repeat.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:?data directory with the catalogue}"
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && S=sudo || S=; $S apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product fragrancedb >/dev/null
ulimit -n 65536 2>/dev/null || true
U=http://127.0.0.1:18091
L=Benchmarks/HTTP/search.lua
SERVER=
stop() { [ -n "$SERVER" ] && { kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; }; SERVER=; }
trap stop EXIT
start() {   # extra environment for the server, e.g. FRAGRANCEDB_QUERY_RESULT_CACHE_ENTRIES=0
  env "$@" FRAGRANCEDB_CATALOGUE_LOAD=false .build/release/fragrancedb serve --data "$DATA" --port 17791 --http-port 18091 \
      --model-dir "${FRAGRANCEDB_MODEL_DIR:-$PWD/models/all-MiniLM-L6-v2}" >/tmp/http-bench-serve.log 2>&1 &
  SERVER=$!
  for i in $(seq 100); do curl -sf localhost:18091/ready >/dev/null && break; sleep 0.2; done
  wrk -t1 -c4 -d3s -s $L $U >/dev/null                     # warm: every query embedded once
}

echo "load $(cut -d' ' -f1-3 /proc/loadavg); $(curl -s -XPOST $U/api/v1/collections/perfumes/count 2>/dev/null || true)"
echo "== result cache on (the default): repeats are answered from it until the collection changes"
start
echo "$(curl -s -XPOST $U/api/v1/collections/perfumes/count) perfumes"
for c in 64 1000; do
  echo -n "closed loop, $c connections:        "; wrk -t2 -c$c -d15s --timeout 10s -s $L $U | tail -1
done
for c in 250 500 1000; do
  echo -n "paced ~1 req/s each, $c connections: "; PACE_MS=1000 wrk -t2 -c$c -d20s --timeout 10s -s $L $U | tail -1
done
echo -n "plain (understand false), 64:       "; EXTRA=',"understand":false' wrk -t2 -c64 -d15s --timeout 10s -s $L $U | tail -1
curl -s $U/metrics | grep -E "^fragrancedb_query_(embedding|result)_cache" || true
stop

echo "== result cache off (query.result_cache_entries = 0): every request searches"
start FRAGRANCEDB_QUERY_RESULT_CACHE_ENTRIES=0
echo -n "closed loop, 64 connections:        "; wrk -t2 -c64 -d15s --timeout 10s -s $L $U | tail -1
echo -n "paced ~1 req/s each, 250 connections: "; PACE_MS=1000 wrk -t2 -c250 -d20s --timeout 10s -s $L $U | tail -1
echo -n "plain (understand false), 64:       "; EXTRA=',"understand":false' wrk -t2 -c64 -d15s --timeout 10s -s $L $U | tail -1
