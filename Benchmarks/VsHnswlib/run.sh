#!/usr/bin/env bash
# FragranceDB over its line protocol beside hnswlib in process, on the same data, in one command:
#   Benchmarks/VsHnswlib/run.sh [--n 100000] [--dim 384] [--queries 1000]
# Builds the release server and the bench, installs hnswlib and numpy from PyPI into a virtual
# environment under .build/, and prints the table (both share this machine's two cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product fragrancedb
swift build -c release --product vs-hnswlib
venv=.build/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy hnswlib
.build/release/vs-hnswlib --server .build/release/fragrancedb --python "$PWD/$venv/bin/python" "$@"
