"""/metrics read by Prometheus' own Python parser (prometheus_client), against the real server:
every family has help and a real type, counters end in _total, the process families and a build
info gauge are there, and searches are timed per collection and per stage (issue #20)."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from fragrancedb import Client


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url + "/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families, text


def test_metrics_follow_the_prometheus_conventions(server):
    with Client(server.url) as db:
        db.query("fresh citrus perfume for summer", top_k=3)
        db.query("woody", top_k=3, search_type="similarity", understand=False)
        db.search("perfumes", text="rose", k=3)
        db.search("perfumes", vector=[0.05] * 384, k=3)
        db.count("perfumes")
    families, text = scrape(server.url)
    assert len(families) > 20
    for name, f in families.items():
        assert f.documentation, f"{name} has no # HELP"
        assert f.type in ("counter", "gauge", "histogram"), f"{name} is typed {f.type}"
        if f.type == "counter":
            # The parser strips _total from a counter family's name; its samples keep it.
            assert all(s.name.endswith("_total") for s in f.samples), f"{name}: {[s.name for s in f.samples]}"
        else:
            assert not name.endswith("_total"), f"{name} is a running total typed {f.type}"
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line

    # The standard process families and the build.
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                 "process_open_fds", "process_max_fds", "process_start_time_seconds"):
        assert name in families, name
    assert families["process_cpu_seconds"].type == "counter"
    assert families["process_resident_memory_bytes"].samples[0].value > 10_000_000
    assert 0 < families["process_open_fds"].samples[0].value < families["process_max_fds"].samples[0].value
    build = families["fragrancedb_build_info"].samples[0]
    assert build.value == 1 and build.labels["version"]

    # Running totals the store keeps are counters now.
    for name in ("fragrancedb_model_texts_embedded", "fragrancedb_query_embedding_cache_hits", "fragrancedb_filter_cache_hits"):
        assert families[name].type == "counter", name

    # Latency per collection and operation, and per stage of an understood query.
    ops = {(s.labels["collection"], s.labels["operation"]) for s in families["fragrancedb_search_duration_seconds"].samples
           if s.name.endswith("_count")}
    assert {("perfumes", "query"), ("perfumes", "search")} <= ops
    stages = {s.labels["stage"] for s in families["fragrancedb_search_stage_duration_seconds"].samples
              if s.name.endswith("_count") and s.labels["collection"] == "perfumes"}
    assert {"embed", "vector", "keyword", "fusion", "shaping"} <= stages, stages
    requests = [s for s in families["fragrancedb_http_requests"].samples
                if s.labels.get("route") == "/api/v1/search/hybrid" and s.labels.get("status") == "200"]
    assert requests and requests[0].value >= 2


def test_a_dropped_collection_leaves_the_metrics(server):
    with Client(server.url) as db:
        db.create_collection("py_metrics_gone", dimension=2)
        db.upsert("py_metrics_gone", {"id": "a", "vector": [1, 0]})
        families, _ = scrape(server.url)
        assert any(s.labels.get("collection") == "py_metrics_gone" for s in families["fragrancedb_collection_records"].samples)
        db.drop_collection("py_metrics_gone")
        families, _ = scrape(server.url)
        assert not any(s.labels.get("collection") == "py_metrics_gone" for s in families["fragrancedb_collection_records"].samples)
