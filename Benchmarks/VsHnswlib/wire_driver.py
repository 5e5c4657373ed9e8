#!/usr/bin/env python3
"""A bare line-protocol client for profiling the server (perf record -p <server>) without the
Swift client on the other core: it loads the vs-hnswlib-like data set and then sends one kind
of request for a while, 64 per round trip, and prints queries per second.

  wire_driver.py PORT load                       100,000 × 384 clustered unit vectors, b64
  wire_driver.py PORT msearch|search|json EF SECONDS [' FILTER "rating >= 0.9"']

(search: SEARCH lines with b64 vectors; json: with JSON-text vectors as Python prints them;
msearch: one MSEARCH of 64.) Loopback only; the server must hold no collection named bench
before `load`."""
import base64
import json
import socket
import sys
import time

import numpy as np

port, mode = int(sys.argv[1]), sys.argv[2]
dim = 384
rng = np.random.default_rng(1)
C = rng.standard_normal((100, dim)).astype(np.float32)


def unit(a):
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)


s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")


def send(lines):
    s.sendall("".join(l + "\n" for l in lines).encode())
    out = []
    for _ in lines:
        first = f.readline()
        out.append([f.readline() for _ in range(int(first[1:]))] if first.startswith(b"*") else first)
    return out


def b64(v):
    return "b64:" + base64.b64encode(v.astype("<f4").tobytes()).decode()


if mode == "load":
    n = 100_000
    X = unit(C[np.arange(n) % 100] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32))
    print(send(['CREATE bench {"dimension": 384, "m": 16, "ef_construction": 200, '
                '"schema": {"fields": [{"name": "rating", "type": "float"}]}}']))
    for start in range(0, n, 500):
        records = [{"id": str(i), "vector": b64(X[i]), "rating": float(rng.random())} for i in range(start, min(start + 500, n))]
        reply = send(["UPSERT bench " + json.dumps(records)])
        if not reply[0].startswith(b"+OK"):
            sys.exit(f"UPSERT: {reply}")
    print("loaded")
else:
    ef, seconds = int(sys.argv[3]), float(sys.argv[4])
    filt = sys.argv[5] if len(sys.argv) > 5 else ""
    Q = unit(C[(np.arange(1000) * 7) % 100] + 0.6 * rng.standard_normal((1000, dim)).astype(np.float32))
    if mode == "msearch":
        batches = [[f"MSEARCH bench K 10 EF {ef}{filt} VECTORS " + b64(Q[i:i + 64].ravel())] for i in range(0, 1000, 64)]
        per = [len(Q[i:i + 64]) for i in range(0, 1000, 64)]
    else:
        vec = (lambda q: "[" + ",".join(repr(float(x)) for x in q) + "]") if mode == "json" else b64
        lines = [f"SEARCH bench K 10 EF {ef}{filt} VECTOR " + vec(q) for q in Q]
        batches = [lines[i:i + 64] for i in range(0, 1000, 64)]
        per = [len(b) for b in batches]
    t, done = time.time(), 0
    while time.time() - t < seconds:
        for b, m in zip(batches, per):
            send(b)
            done += m
    print(f"{mode} ef {ef}: {done / (time.time() - t):.0f} QPS")
