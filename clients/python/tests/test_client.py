"""The blocking client against a real server (see conftest.py)."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

import fragrancedb
from fragrancedb import (
    AlreadyExistsError, AuthenticationError, BadRequestError, Client, ConnectionFailedError, NotFoundError,
    PermissionDeniedError, RateLimitedError, Record, TooLargeError,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(server):
    with Client(server.url) as c:
        yield c


def test_server_and_collections(db, server):
    assert db.health() is True
    info = db.info()
    with urllib.request.urlopen(server.url + "/") as r:
        assert info.version == json.load(r)["version"]
    assert info.uptime_seconds > 0
    assert db.info("memory")["memory"]["rss_bytes"] > 0
    names = {c.name: c for c in db.collections()}
    assert names["perfumes"].records == 120 and names["perfumes"].embedder == "minilm"
    perfumes = db.collection("perfumes")
    assert perfumes.dimension == 384 and perfumes.field_types()["seasons"] == "set"
    with pytest.raises(NotFoundError) as e:
        db.collection("no_such_collection")
    assert e.value.code == "NOT_FOUND" and e.value.status == 404


def test_records_in_a_dynamic_collection(db, collection_name):
    created = db.create_collection(collection_name, dimension=2)
    assert created.dynamic is True and created.records == 0
    with pytest.raises(AlreadyExistsError) as e:
        db.create_collection(collection_name, dimension=2)
    assert e.value.code == "EXISTS"
    r = db.upsert(collection_name, [
        {"id": "a", "vector": [1, 0], "brand": "Maison Noir", "price": 12.5, "tags": ["sale", "new"]},
        Record(id="b", vector=[0, 1], fields={"brand": "Atelier", "price": 40.0, "tags": ["new"]}),
    ])
    assert (r.inserted, r.updated) == (2, 0)
    assert db.upsert(collection_name, {"id": "a", "vector": [1, 0.1], "brand": "Maison Noir", "price": 11.0}).updated == 1
    a = db.get(collection_name, "a", vector=True)
    assert a["price"] == 11.0 and a.get("tags") is None and len(a.vector) == 2
    assert db.collection(collection_name).field_types() == {"brand": "string", "price": "float", "tags": "set"}
    # A later value of another type names the field.
    with pytest.raises(BadRequestError) as e:
        db.upsert(collection_name, {"id": "c", "vector": [1, 1], "price": "cheap"})
    assert e.value.code == "BAD_TYPE" and "price" in e.value.message
    assert db.count(collection_name) == 2
    assert db.count(collection_name, "price < 20") == 1
    assert db.count(collection_name, {"tags": "new"}) == 1
    assert db.count(collection_name, filters={"price": {"gte": 11}}) == 2
    assert db.exists(collection_name, ["b", "zz", "a"]) == ["b", "a"]
    with pytest.raises(BadRequestError) as e:
        db.count(collection_name, "price <")
    assert e.value.code == "BAD_FILTER"
    with pytest.raises(BadRequestError) as e:
        db.count(collection_name, "colour = 'red'")
    assert e.value.code in ("BAD_FILTER", "UNKNOWN_FIELD") and "colour" in e.value.message
    altered = db.alter_collection(collection_name, fields=[{"name": "stock", "type": "integer"}], dynamic=False)
    assert altered.dynamic is False and altered.field_types()["stock"] == "int"
    assert db.delete(collection_name, ["a", "not-there"]) == 1
    with pytest.raises(NotFoundError):
        db.get(collection_name, "a")
    assert db.drop_collection(collection_name) == collection_name
    assert collection_name not in {c.name for c in db.collections()}


def test_vector_search_with_filter_plan_and_facets(db, collection_name):
    db.create_collection(collection_name, dimension=3)
    db.upsert(collection_name, [{"id": f"r{i}", "vector": [1, i / 10, 0], "kind": "even" if i % 2 == 0 else "odd", "n": i}
                                for i in range(20)])
    res = db.search(collection_name, vector=[1, 0, 0], k=3, explain=True, include_records=True)
    assert res.ids == ["r0", "r1", "r2"] and res.scoring == "similarity"
    assert res[0].rank == 1 and res[0].record["kind"] == "even"
    assert res.plan is not None and res.plan.path in ("exact_scan", "hnsw", "hnsw_then_exact") and res.plan.records == 20
    odd = db.search(collection_name, vector=[1, 0, 0], k=3, filter="kind = 'odd'", facets=["kind"])
    assert odd.ids == ["r1", "r3", "r5"]
    assert odd.facets[0].counts() == {"odd": 3}
    page2 = db.search(collection_name, vector=[1, 0, 0], k=3, offset=3)
    assert page2.ids == ["r3", "r4", "r5"] and page2.offset == 3
    with pytest.raises(BadRequestError) as e:
        db.search(collection_name, vector=[1, 0], k=3)
    assert e.value.code == "DIM_MISMATCH"
    with pytest.raises(TooLargeError) as e:
        db.search(collection_name, vector=[1, 0, 0], k=100_000)
    assert e.value.status == 413
    # Many queries in one request answer as one at a time; vectors may travel in binary.
    queries = [[1, i / 10, 0] for i in (0, 5, 13)]
    batch = db.search_batch(collection_name, queries, k=3, filter="kind = 'odd'")
    assert [[h.id for h in hits] for hits in batch] == [db.search(collection_name, vector=q, k=3, filter="kind = 'odd'").ids for q in queries]
    assert fragrancedb.binary_vector([1.0, 0.0]) == "b64:AACAPwAAAAA="
    assert db.search(collection_name, vector=[1, 0, 0], k=1).ids == ["r0"]
    with pytest.raises(BadRequestError) as e:
        db.search_batch(collection_name, [[1, 0]], k=3)
    assert e.value.code == "DIM_MISMATCH"
    db.drop_collection(collection_name)


def test_browse_pages_and_facets(db):
    floral = db.count("perfumes", "families CONTAINS 'floral'")
    page = db.browse("perfumes", filter="families CONTAINS 'floral'", order="rating:desc", limit=7,
                     fields=["name", "rating"], facets=["gender"])
    assert page.count == floral and len(page.records) == min(7, floral)
    assert set(page.records[0].fields) <= {"name", "rating"}
    ratings = [r.get("rating") for r in page.records if r.get("rating") is not None]
    assert ratings == sorted(ratings, reverse=True)
    assert sum(v.count for v in page.facets[0].values) + page.facets[0].missing + (page.facets[0].others or 0) >= floral
    walked = list(db.iter_records("perfumes", order="-year", page_size=25))
    assert len(walked) == 120 and len({r.id for r in walked}) == 120
    years = [r.get("year") for r in walked if r.get("year") is not None]
    assert years == sorted(years, reverse=True)
    counts = db.facets("perfumes", ["gender", "year:10"])
    assert counts.count == 120
    assert sum(counts["gender"].counts().values()) + counts["gender"].missing + (counts["gender"].others or 0) == 120
    assert all(r.end > r.start for r in counts["year"].ranges)


def test_understood_query_in_english_and_korean(db):
    res = db.query("fresh citrus perfume for summer", top_k=5, explain=True)
    assert 0 < len(res) <= 5 and res.search_type == "hybrid" and res.scoring == "rrf"
    assert res.parsed is not None and any("summer" in t["meaning"] for t in res.parsed["terms"])
    assert all(h.record is not None and h.record.get("name") for h in res)
    assert all("matched_preferences" in h.explain for h in res)
    ko = db.query("여름에 쓸 상큼한 시트러스 향수", top_k=5)
    assert ko.parsed["language"] == "ko" and len(ko) > 0
    only_men = db.query("woody perfume", top_k=5, filter="gender = 'male'")
    assert all(h.record["gender"] == "male" for h in only_men)
    with pytest.raises(BadRequestError) as e:
        db.query("rose", search_type="psychic")
    assert e.value.code == "BAD_VALUE" and e.value.field == "search_type"


def test_bulk_import_reports_each_bad_record(db, collection_name, tmp_path):
    db.create_collection(collection_name, dimension=2, schema={"fields": [{"name": "n", "type": "int"}]})
    rows = [{"id": f"x{i}", "vector": [1, i], "n": i} for i in range(1, 1201)]
    rows[9]["n"] = "ten"            # the 10th record: wrong type
    rows[499]["vector"] = [1, 2, 3]  # the 500th: wrong dimension
    rows[1099] = {"vector": [0, 1]}  # the 1100th: no id
    seen = []
    result = db.import_records(collection_name, rows, batch_size=300, progress=lambda sent, r: seen.append((sent, r.written)))
    assert result.inserted == 1197 and result.updated == 0
    assert [(e.line, e.code) for e in result.errors] == [(10, "BAD_RECORD"), (500, "DIM_MISMATCH"), (1100, "BAD_RECORD")]
    assert result.errors[0].id == "x10" and "'n'" in result.errors[0].message
    assert result.errors[2].id is None and "id" in result.errors[2].message
    assert [s for s, _ in seen] == [300, 600, 900, 1200] and seen[-1][1] == 1197
    assert db.count(collection_name) == 1197
    # The same file again changes nothing but the counts it reports as updates.
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[:50]) + "\n")
    again = db.import_records(collection_name, path)
    assert (again.inserted, again.updated, len(again.errors)) == (0, 49, 1)
    with pytest.raises(BadRequestError):
        db.import_records(collection_name, rows[:20], atomic=True)
    db.drop_collection(collection_name)


def test_recipes_validation_and_substitutes(db):
    r = db.generate_recipe(fragrance_family="floral", mood="romantic", season="spring", intensity="moderate")
    assert r.generator == "composer" and r.validation.valid and r.validation.compliant
    assert 15 <= len(r.ingredients) <= 40
    assert abs(sum(i["percent"] for i in r.ingredients) - 100) < 0.5
    again = db.generate_recipe(fragrance_family="floral", mood="romantic", season="spring", intensity="moderate")
    assert again.recipe == r.recipe  # deterministic for the same request
    bad = db.validate_recipe({"concentration": "EdP", "top": [{"name": "Bergamot oil", "percent": 30}],
                              "heart": [{"name": "Eugenol", "percent": 40}], "base": [{"name": "Vanillin", "percent": 30}]})
    assert bad.valid is False and not bad.compliant
    assert any("eugenol" in b["substance"].lower() for b in bad.compliance["breaches"])
    subs = db.substitutes("Coumarin", product="body_lotion", limit=3)
    assert 0 < len(subs.substitutes) <= 3 and subs.product["ifra_category"] == "5A"
    batch = db.generate_batch([{"fragrance_family": "woody"}, {"fragrance_family": "woody", "intensity": "deafening"}])
    assert isinstance(batch[0], fragrancedb.RecipeResult)
    assert isinstance(batch[1], BadRequestError) and batch[1].field == "requests[1].intensity"
    with pytest.raises(BadRequestError) as e:
        db.generate_recipe()
    assert e.value.code in ("MISSING_FIELD", "BAD_REQUEST")


def test_snapshot_and_restore(db, collection_name):
    db.create_collection(collection_name, dimension=2)
    db.upsert(collection_name, [{"id": str(i), "vector": [i, 1], "n": i} for i in range(5)])
    file = db.snapshot(collection_name)
    name, records = db.restore(Path(file).name, as_name=collection_name + "_copy")
    assert (name, records) == (collection_name + "_copy", 5)
    assert db.get(name, "3")["n"] == 3
    with pytest.raises(BadRequestError):
        db.restore("../../etc/passwd", as_name=collection_name + "_evil")
    db.drop_collection(name)
    db.drop_collection(collection_name)


def test_roles_and_tokens(guarded_server):
    with Client(guarded_server.url, retries=0) as anonymous:
        with pytest.raises(AuthenticationError) as e:
            anonymous.collections()
        assert e.value.code == "NOAUTH" and e.value.status == 401
    with Client(guarded_server.url, token="wrong", retries=0) as wrong:
        with pytest.raises(AuthenticationError):
            wrong.collections()
    with Client(guarded_server.url, token="read-secret", retries=5) as reader:
        assert reader.collections() == []
        with pytest.raises(PermissionDeniedError) as e:
            reader.create_collection("nope", dimension=2)
        assert e.value.code == "FORBIDDEN"


def test_rate_limits_are_retried_or_raised(guarded_server):
    with Client(guarded_server.url, token="write-secret", retries=0) as impatient:
        with pytest.raises(RateLimitedError) as e:
            for _ in range(20):
                impatient.collections()
        assert e.value.code == "RATE_LIMITED" and e.value.status == 429
    # With retries the same burst goes through: each 429 waits and asks again.
    with Client(guarded_server.url, token="write-secret", retries=8, backoff=0.1) as patient:
        for _ in range(8):
            assert patient.collections() == []


def test_unreachable_server_is_a_connection_error():
    with Client("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2) as db:
        with pytest.raises(ConnectionFailedError) as e:
            db.health()
        assert e.value.code == "CONNECTION"


def test_every_server_code_has_an_exception():
    swift = (REPO / "Sources" / "FragranceProtocol" / "ErrorCode.swift").read_text()
    server_codes = set(re.findall(r'case \w+ = "([A-Z_]+)"', swift))
    assert server_codes and server_codes == set(fragrancedb.CODES)


def test_readme_quickstart_runs_as_written(server, monkeypatch, capsys):
    readme = (REPO / "clients" / "python" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code.replace("http://127.0.0.1:8000", server.url), "README.md", "exec"), {})
    assert "fr-" in capsys.readouterr().out
