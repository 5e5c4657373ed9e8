"""Issue #24 end to end: tools/cluster (a primary, two replicas and HAProxy on 127.0.0.1).

10,000 records are written through HAProxy with updates and deletes while one replica is
killed (kill -9) and started again; afterwards every replica holds exactly the primary's
records (digest over records and vectors) and answers searches identically, each write
landed once, the restarted replica resumed from its last applied sequence instead of copying
everything, and HAProxy served reads from the replicas. The lag seen along the way is printed.
"""
import json
import os
import random
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = str(ROOT / "tools" / "cluster")
DIM = 16


def free_base() -> int:
    """A base port whose four pairs of ports are free on loopback."""
    for _ in range(200):
        base = random.randrange(20000, 40000, 100)
        ports = [base + o for o in (0, 1, 10, 11, 20, 21, 30)]
        ok = True
        for p in ports:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    base = free_base()
    subprocess.run([CLUSTER, "start", "--dir", str(d), "--base-port", str(base)], check=True, timeout=180)
    try:
        yield {"dir": str(d), "base": base}
    finally:
        subprocess.run([CLUSTER, "stop", "--dir", str(d)], timeout=60)


def url(cluster, node):
    offset = {"primary": 1, "replica1": 11, "replica2": 21, "haproxy": 30}[node]
    return f"http://127.0.0.1:{cluster['base'] + offset}"


def replication(client, cluster, node):
    return client.get(url(cluster, node) + "/api/v1/info", params={"section": "replication"}).json()["replication"]


def vector(rng):
    return [rng.gauss(0, 1) for _ in range(DIM)]


def wait_ready(client, cluster, node, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if client.get(url(cluster, node) + "/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{node} not ready: {replication(client, cluster, node)}")


def test_writes_while_a_replica_restarts_end_equal_everywhere(cluster):
    rng = random.Random(24)
    client = httpx.Client(timeout=60)
    lb = url(cluster, "haproxy")
    for node in ("replica1", "replica2"):
        wait_ready(client, cluster, node)
    time.sleep(2.5)  # HAProxy's health checks see the replicas ready
    r = client.post(lb + "/api/v1/collections", json={
        "name": "c", "dimension": DIM, "metric": "cosine",
        "schema": {"fields": [{"name": "kind", "type": "string"}, {"name": "n", "type": "int"}]}})
    assert r.status_code == 201, r.text

    expected = {}
    lag_ops, lag_seconds = [], []
    batches = 50
    for b in range(batches):
        batch = []
        for i in range(200):
            rid = f"r{b * 200 + i}"
            rec = {"id": rid, "vector": vector(rng), "kind": "new", "n": b * 200 + i}
            batch.append(rec)
        if expected:
            for rid in rng.sample(sorted(expected), min(20, len(expected))):
                rec = dict(expected[rid], kind="updated", vector=vector(rng))
                batch.append(rec)
        r = client.post(lb + "/api/v1/collections/c/records", json=batch)
        assert r.status_code in (200, 201), r.text
        assert r.headers.get("x-fragrancedb-node") == "primary"
        for rec in batch:
            expected[rec["id"]] = rec
        doomed = rng.sample(sorted(expected), 10)
        r = client.post(lb + "/api/v1/collections/c/delete", json={"ids": doomed})
        assert r.status_code == 200 and r.json()["deleted"] == 10, r.text
        for rid in doomed:
            del expected[rid]
        if b == 15:
            subprocess.run([CLUSTER, "kill", "replica2", "--dir", cluster["dir"]], check=True)
        if b == 30:
            subprocess.run([CLUSTER, "restart", "replica2", "--dir", cluster["dir"]], check=True, timeout=120)
        info = replication(client, cluster, "replica1")
        lag_ops.append(info.get("lag_operations", 0))
        lag_seconds.append(info.get("lag_seconds", 0))

    r = client.post(lb + "/api/v1/replication/wait", json={"replicas": 2, "timeout_ms": 60000})
    assert r.status_code == 200 and r.json()["replicas"] == 2, r.text

    # Every write landed once: exactly the records the test expects, on the primary.
    primary = url(cluster, "primary")
    assert client.get(primary + "/api/v1/collections/c").json()["records"] == len(expected)
    ids, after = set(), None
    while True:
        params = {"limit": 1000, **({"after": after} if after else {})}
        page = client.get(primary + "/api/v1/collections/c/records", params=params).json()
        ids.update(rec["id"] for rec in page["records"])
        after = page.get("next")
        if not after:
            break
    assert ids == set(expected)
    kinds = client.post(primary + "/api/v1/collections/c/count", json={"filter": "kind = 'updated'"}).json()["count"]
    assert kinds == sum(1 for rec in expected.values() if rec["kind"] == "updated")

    digests = {n: client.get(url(cluster, n) + "/api/v1/collections/c/digest").json() for n in ("primary", "replica1", "replica2")}
    assert digests["replica1"] == digests["primary"], digests
    assert digests["replica2"] == digests["primary"], digests
    assert digests["primary"]["records"] == len(expected)

    for q in range(20):
        body = {"vector": vector(rng), "k": 10, "ef": 400, "filter": "kind = 'updated'" if q % 2 else None}
        body = {k: v for k, v in body.items() if v is not None}
        answers = [client.post(url(cluster, n) + "/api/v1/collections/c/search", json=body).json()["results"]
                   for n in ("primary", "replica1", "replica2")]
        assert answers[1] == answers[0] and answers[2] == answers[0], q

    r2 = replication(client, cluster, "replica2")
    assert r2["state"] == "following" and r2["full_syncs"] == 0, r2  # resumed, not copied again

    served = {client.get(lb + "/api/v1/collections/c").headers.get("x-fragrancedb-node") for _ in range(20)}
    assert served <= {"replica1", "replica2"} and served, served
    r = client.post(url(cluster, "replica1") + "/api/v1/collections/c/records", json={"id": "x", "vector": vector(rng)})
    assert r.status_code == 409 and r.json()["error"]["code"] == "READONLY"

    # The primary killed (kill -9) and started again: the replicas reconnect and resume from
    # their last applied sequence, without copying anything again.
    syncs = {n: replication(client, cluster, n).get("full_syncs") for n in ("replica1", "replica2")}
    subprocess.run([CLUSTER, "restart", "primary", "--dir", cluster["dir"]], check=True, timeout=120)
    r = client.post(url(cluster, "primary") + "/api/v1/collections/c/records", json=[{"id": "after", "vector": vector(rng), "kind": "new", "n": 0}])
    assert r.status_code in (200, 201), r.text
    r = client.post(url(cluster, "primary") + "/api/v1/replication/wait", json={"replicas": 2, "timeout_ms": 30000})
    assert r.json()["replicas"] == 2, r.text
    for n in ("replica1", "replica2"):
        assert replication(client, cluster, n).get("full_syncs") == syncs[n], n
        assert client.get(url(cluster, n) + "/api/v1/collections/c/digest").json() == \
            client.get(url(cluster, "primary") + "/api/v1/collections/c/digest").json()

    print(f"\nreplica1 lag while writing 10,000 records (+1,000 updates, 500 deletes) through HAProxy: "
          f"max {max(lag_ops)} operations, max {max(lag_seconds):.3f} s; "
          f"replica2 after its restart: {r2['lag_operations']} operations behind, full syncs {r2['full_syncs']}")


def calls(client, base):
    """GET and SEARCH calls a node has answered (HAProxy's health checks and INFO not counted)."""
    stats = client.get(base + "/api/v1/info", params={"section": "stats"}).json()["stats"]["commands"]
    return sum(c["calls"] for c in stats if c["command"] in ("GET", "SEARCH"))


def test_the_python_client_routes_reads_to_replicas_and_writes_to_the_primary(cluster):
    import fragrancedb

    probe = httpx.Client(timeout=30)
    primary, r1, r2 = (url(cluster, n) for n in ("primary", "replica1", "replica2"))
    dead = f"http://127.0.0.1:{cluster['base'] + 99}"  # nothing listens: reads pass on
    with fragrancedb.Client(primary, replicas=[dead, r1, r2]) as db:
        db.create_collection("routed", dimension=2)
        db.upsert("routed", [{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}])
        assert probe.post(primary + "/api/v1/replication/wait", json={"replicas": 2, "timeout_ms": 30000}).json()["replicas"] == 2
        before = {n: calls(probe, n) for n in (primary, r1, r2)}
        for _ in range(10):
            assert db.get("routed", "a").id == "a"
            assert [h.id for h in db.search("routed", vector=[1, 0.1], k=1)] == ["a"]
        after = {n: calls(probe, n) for n in (primary, r1, r2)}
        assert after[primary] == before[primary], (before, after)
        assert (after[r1] - before[r1]) + (after[r2] - before[r2]) == 20, (before, after)
        with pytest.raises(fragrancedb.ReadOnlyError):
            fragrancedb.Client(r1).upsert("routed", [{"id": "c", "vector": [1, 1]}])
