"""Replication figures on one machine (Benchmarks/Replication/run.sh runs it on release builds).

1. Write rate without replication (no replica, replication.backlog_bytes 0), with the log kept
   and no replica, and with a replica following, in one run, same records: what the log and a
   follower cost the primary (the follower shares this machine's cores).
2. The replica's lag while the primary takes writes, sampled every batch, and the time from the
   last acknowledged write until WAIT 1 says the replica has it.
3. A fresh replica's full sync of everything, then a restarted replica's resume after more writes.
"""
import base64
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
N = int(os.environ.get("N", "50000"))
DIM = int(os.environ.get("DIM", "384"))
BATCH = 500


class Line:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        first = self.f.readline().decode().rstrip("\r\n")
        out = [first]
        if first.startswith("*"):
            out += [self.f.readline().decode().rstrip("\r\n") for _ in range(int(first[1:]))]
        if first.startswith("-ERR"):
            raise RuntimeError(first)
        return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data, replica_of=None, env=None):
    tcp, http = free_port(), free_port()
    args = [BIN, "serve", "--data", data, "--port", str(tcp), "--http-port", str(http)]
    if replica_of:
        args += ["--replica-of", f"127.0.0.1:{replica_of}"]
    e = dict(os.environ, FRAGRANCEDB_CATALOGUE_LOAD="false", FRAGRANCEDB_LOG_LEVEL="error", **(env or {}))
    p = subprocess.Popen(args, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            Line(tcp).call("PING")
            return p, tcp
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(p):
    p.terminate()
    p.wait(60)


def replication(port):
    return json.loads(Line(port).call("INFO replication")[1])["replication"]


def batches(rng, start, n):
    for b in range(start, start + n, BATCH):
        rows = []
        for i in range(b, min(b + BATCH, start + n)):
            v = [rng.gauss(0, 1) for _ in range(DIM)]
            vec = "b64:" + base64.b64encode(struct.pack(f"<{DIM}f", *v)).decode()
            rows.append(f'{{"id":"r{i}","vector":"{vec}","kind":"k{i % 7}","n":{i}}}')
        yield "UPSERT c [" + ",".join(rows) + "]"


def write(port, lines, sample=None):
    c = Line(port)
    t0 = time.time()
    lags = []
    for line in lines:
        c.call(line)
        if sample:
            r = replication(sample)
            lags.append((r.get("lag_operations", 0), r.get("lag_seconds", 0)))
    return time.time() - t0, lags


def wait_caught_up(primary, replica, seconds=600):
    t0 = time.time()
    while time.time() - t0 < seconds:
        r, p = replication(replica), replication(primary)
        if r.get("state") == "following" and r["seq"] == p["seq"]:
            return time.time() - t0
        time.sleep(0.01)
    raise RuntimeError("replica did not catch up")


def main():
    root = tempfile.mkdtemp(prefix="fdb-repl-bench-")
    rng = random.Random(24)
    lines = list(batches(rng, 0, N))
    try:
        # 1a. No replication at all.
        p, port = serve(os.path.join(root, "alone"), env={"FRAGRANCEDB_REPLICATION_BACKLOG_BYTES": "0"})
        Line(port).call('CREATE c {"dimension": %d}' % DIM)
        alone, _ = write(port, lines)
        stop(p)
        # 1b. The log kept, no replica: what logging alone costs.
        p, port = serve(os.path.join(root, "logged"))
        Line(port).call('CREATE c {"dimension": %d}' % DIM)
        logged, _ = write(port, lines)
        stop(p)
        # 1b/2. A primary with a replica following.
        p, port = serve(os.path.join(root, "primary"))
        r, rport = serve(os.path.join(root, "replica"), replica_of=port)
        Line(port).call('CREATE c {"dimension": %d}' % DIM)
        wait_caught_up(port, rport)
        followed, lags = write(port, lines, sample=rport)
        t0 = time.time()
        acked = Line(port).call("WAIT 1 60000")[0]
        wait_ms = (time.time() - t0) * 1000
        digests = [Line(x).call("DIGEST c")[1] for x in (port, rport)]
        assert digests[0] == digests[1], digests
        # 3. A fresh replica copies everything; the first one, stopped, resumes after more writes.
        stop(r)
        more = list(batches(rng, N, 5000))
        write(port, more)
        r2, r2port = serve(os.path.join(root, "fresh"), replica_of=port)
        full = wait_caught_up(port, r2port)
        t0 = time.time()
        r, rport = serve(os.path.join(root, "replica"))
        wait_caught_up(port, rport)
        resume = time.time() - t0
        resumed_syncs = replication(rport).get("full_syncs")
        for x in (r, r2, p):
            stop(x)
        size = sum(len(l) for l in lines) / 1e6
        print(f"records {N} × {DIM} dims in batches of {BATCH} over one TCP connection ({size:.0f} MB of UPSERT lines)")
        print(f"write rate, no replication (backlog 0, no replica):   {N / alone:8.0f} records/s  ({alone:.1f} s)")
        print(f"write rate, log kept (256 MiB backlog), no replica:   {N / logged:8.0f} records/s  ({logged:.1f} s, "
              f"{logged / alone:.2f}× the time)")
        print(f"write rate, log kept and one replica following:       {N / followed:8.0f} records/s  ({followed:.1f} s, "
              f"{followed / alone:.2f}× the time; the replica builds the same graph on the same 2 cores)")
        print(f"replica lag sampled after each batch:                 max {max(l[0] for l in lags)} operations, "
              f"max {max(l[1] for l in lags):.3f} s, mean {sum(l[1] for l in lags) / len(lags):.3f} s")
        print(f"WAIT 1 after the last write: {acked} in {wait_ms:.1f} ms; digests equal")
        print(f"full sync of a fresh replica ({N + 5000} records): {full:.1f} s to following and caught up")
        print(f"restarted replica, 5,000 records behind: caught up in {resume:.1f} s from process start, full syncs {resumed_syncs}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


main()
