#!/usr/bin/env bash
# Replication figures (release build): write rate with and without a replica following, the
# replica's lag, WAIT after the last write, a full sync and a resume. N and DIM set the load
# (default 50,000 × 384). Everything on 127.0.0.1; the servers stop by themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product fragrancedb
exec python3 Benchmarks/Replication/replication_bench.py "$PWD/.build/release/fragrancedb"
