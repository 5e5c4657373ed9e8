"""Every operation of the client, written once.

An operation is a generator that yields the HTTP calls it needs (``Call``) and receives each
reply's JSON; ``Client`` drives it with blocking I/O, ``AsyncClient`` with ``await``. So the
sync and asyncio clients cannot drift: they share these definitions and differ only in how a
call is sent.
"""
from __future__ import annotations

import base64
import functools
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Sequence, Union
from urllib.parse import quote

from .errors import FragranceError, error_from
from .models import (
    BulkError, BulkResult, CollectionInfo, CollectionSummary, FacetCounts, Hit, Page, RecipeResult, Record,
    SearchResults, ServerInfo, Substitutes, UpsertResult, Validation,
)

Filters = Union[str, Dict[str, Any]]
ProgressCallback = Callable[[int, BulkResult], None]


@dataclass
class Call:
    """One HTTP request: what to send and whether sending it twice is harmless (retried then)."""

    method: str
    path: str
    json: Any = None
    params: Optional[Dict[str, str]] = None
    content: Optional[bytes] = None
    content_type: Optional[str] = None
    idempotent: bool = True
    #: statuses that are an answer rather than a failure (GET /ready's 503)
    accept: Sequence[int] = ()


    @property
    def reads_only(self) -> bool:
        """Whether a replica may answer it: GET/HEAD, and the POSTs that only read (searches,
        queries, counts, facets, id lookups, recipes); deploy/haproxy.cfg routes the same way."""
        if self.method in ("GET", "HEAD"):
            return not self.path.startswith("/api/v1/replication/")
        return self.method == "POST" and (
            self.path.endswith(("/search", "/search/batch", "/count", "/facets", "/exists"))
            or self.path.startswith(("/api/v1/search/", "/api/v1/recipes/", "/api/v1/generate/")))


Operation = Generator[Call, Any, Any]


def operation(fn: Callable[..., Operation]) -> Callable[..., Any]:
    """Makes a generator of calls a method of either client (``self._drive`` runs it)."""

    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        return self._drive(fn(self, *args, **kwargs))

    return method


def binary_vector(values: Sequence[float]) -> str:
    """The binary vector form both protocols accept: "b64:" + base64 of little-endian float32."""
    return "b64:" + base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def _c(name: str) -> str:
    return "/api/v1/collections/" + quote(name, safe="")


def _body(**values: Any) -> Dict[str, Any]:
    """A JSON body of the values given (None: left out, so the server's default holds)."""
    return {k: v for k, v in values.items() if v is not None}


def _filters(filter: Optional[Filters], filters: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    # A string is the filter grammar (schemas/filter.md); a dict is the structured form.
    if isinstance(filter, dict):
        if filters is not None:
            raise ValueError("give the structured filter once: filter=dict or filters=dict")
        return {"filters": filter}
    return _body(filter=filter, filters=filters)


class Operations:
    """The API, one method per operation (the same names in ``Client`` and ``AsyncClient``)."""

    def _drive(self, op: Operation) -> Any:  # pragma: no cover - each client defines it
        raise NotImplementedError

    # -- server ---------------------------------------------------------------------------

    @operation
    def health(self) -> Operation:
        """True while the server process answers."""
        reply = yield Call("GET", "/health")
        return reply.get("status") == "ok"

    @operation
    def ready(self) -> Operation:
        """The readiness report (status, storage, model, catalogue load), 200 or 503 alike."""
        return (yield Call("GET", "/ready", accept=(503,)))

    @operation
    def info(self, section: Optional[str] = None) -> Operation:
        """INFO: every section, or one (server, clients, stats, memory, persistence, collections, model)."""
        return ServerInfo.from_json((yield Call("GET", "/api/v1/info", params=_body(section=section))))

    @operation
    def reload(self) -> Operation:
        """Re-read keys, rate limits and the log level (admin)."""
        return (yield Call("POST", "/api/v1/admin/reload", idempotent=False))["reloaded"]

    @operation
    def breaker_status(self) -> Operation:
        """The LLM client's circuit breaker ({"configured": false} without an LLM)."""
        return (yield Call("GET", "/api/v1/circuit-breaker/status"))

    # -- collections ----------------------------------------------------------------------

    @operation
    def collections(self) -> Operation:
        reply = yield Call("GET", "/api/v1/collections")
        return [CollectionSummary.from_json(c) for c in reply["collections"]]

    @operation
    def collection(self, name: str) -> Operation:
        """A collection's settings and figures; NotFoundError when there is none."""
        return CollectionInfo.from_json((yield Call("GET", _c(name))))

    @operation
    def create_collection(self, name: str, *, dimension: Optional[int] = None, metric: Optional[str] = None,
                          embedder: Optional[str] = None, schema: Union[str, Dict[str, Any], None] = None,
                          dynamic: Optional[bool] = None, embed_fields: Optional[List[str]] = None,
                          m: Optional[int] = None, ef_construction: Optional[int] = None,
                          ef_search: Optional[int] = None, seed: Optional[int] = None) -> Operation:
        """Create a collection. Without ``schema`` it is dynamic: fields come with the records.
        ``embedder="minilm"`` embeds text records and text queries (384 dimensions)."""
        body = _body(name=name, dimension=dimension, metric=metric, embedder=embedder, schema=schema, dynamic=dynamic,
                     embed_fields=embed_fields, m=m, ef_construction=ef_construction, ef_search=ef_search, seed=seed)
        return CollectionInfo.from_json((yield Call("POST", "/api/v1/collections", json=body, idempotent=False)))

    @operation
    def alter_collection(self, name: str, *, fields: Optional[List[Dict[str, Any]]] = None,
                         dynamic: Optional[bool] = None) -> Operation:
        """Add fields ([{"name": "price", "type": "float"}]) or turn type inference on or off."""
        reply = yield Call("PATCH", _c(name), json=_body(fields=fields, dynamic=dynamic), idempotent=False)
        return CollectionInfo.from_json(reply)

    @operation
    def drop_collection(self, name: str) -> Operation:
        """Drop a collection and every record in it (admin)."""
        return (yield Call("DELETE", _c(name), idempotent=False))["dropped"]

    # -- records --------------------------------------------------------------------------

    @operation
    def upsert(self, collection: str, records: Union[Dict[str, Any], Record, Sequence[Union[Dict[str, Any], Record]]]) -> Operation:
        """Insert or replace records, all or none (at most the server's limits.max_batch)."""
        many = records if isinstance(records, (list, tuple)) else [records]
        body = [r.to_json() if isinstance(r, Record) else r for r in many]
        reply = yield Call("POST", _c(collection) + "/records", json=body)
        return UpsertResult(inserted=reply["inserted"], updated=reply["updated"])

    @operation
    def import_records(self, collection: str, records: Union[str, Path, Iterable[Dict[str, Any]]], *,
                       batch_size: int = 500, atomic: bool = False,
                       progress: Optional[ProgressCallback] = None) -> Operation:
        """Bulk load: records (dicts, or a JSON Lines file's path) in NDJSON batches. Every good
        record is written; each bad one comes back in ``errors`` with its 1-based place in the
        input and the server's code. ``atomic`` makes each batch all-or-nothing (its first bad
        record raises). ``progress(records_sent, result_so_far)`` is called after each batch."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        result = BulkResult()
        sent = 0
        batch: List[bytes] = []

        def lines() -> Iterable[Union[Dict[str, Any], bytes]]:
            if isinstance(records, (str, Path)):
                with open(records, "rb") as f:
                    for line in f:
                        if line.strip():
                            yield line.rstrip(b"\r\n")
            else:
                yield from records

        for item in lines():
            if isinstance(item, Record):
                item = item.to_json()
            batch.append(item if isinstance(item, bytes) else json.dumps(item, ensure_ascii=False).encode())
            if len(batch) == batch_size:
                yield from self._bulk_batch(collection, batch, sent, atomic, result)
                sent += len(batch)
                batch = []
                if progress:
                    progress(sent, result)
        if batch:
            yield from self._bulk_batch(collection, batch, sent, atomic, result)
            sent += len(batch)
            if progress:
                progress(sent, result)
        return result

    def _bulk_batch(self, collection: str, batch: List[bytes], before: int, atomic: bool, result: BulkResult) -> Operation:
        reply = yield Call("POST", _c(collection) + "/records", content=b"\n".join(batch) + b"\n",
                           content_type="application/x-ndjson", params={"atomic": "true"} if atomic else None)
        result.inserted += reply["inserted"]
        result.updated += reply["updated"]
        for item in reply.get("items", []):
            if item["result"] == "error":
                e = item.get("error", {})
                result.errors.append(BulkError(line=before + item["line"], id=item.get("id"), code=e.get("code", "INTERNAL"),
                                               message=e.get("message", ""), field=e.get("field")))

    @operation
    def get(self, collection: str, id: str, *, vector: bool = False) -> Operation:
        """One record; NotFoundError when it is not stored."""
        reply = yield Call("GET", _c(collection) + "/records/" + quote(id, safe=""), params={"vector": "true"} if vector else None)
        return Record.from_json(reply)

    @operation
    def exists(self, collection: str, ids: Sequence[str]) -> Operation:
        """The ids given that are stored, in the order asked."""
        return (yield Call("POST", _c(collection) + "/exists", json={"ids": list(ids)}))["existing"]

    @operation
    def delete(self, collection: str, ids: Union[str, Sequence[str]]) -> Operation:
        """Delete records by id; returns how many existed (ids not stored are skipped)."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        return (yield Call("POST", _c(collection) + "/delete", json={"ids": ids}))["deleted"]

    @operation
    def count(self, collection: str, filter: Optional[Filters] = None, *, filters: Optional[Dict[str, Any]] = None) -> Operation:
        """Records in a collection, or those a filter allows."""
        return (yield Call("POST", _c(collection) + "/count", json=_filters(filter, filters)))["count"]

    @operation
    def browse(self, collection: str, *, filter: Optional[str] = None, order: Optional[str] = None,
               after: Optional[str] = None, limit: Optional[int] = None, fields: Optional[Sequence[str]] = None,
               facets: Optional[Sequence[str]] = None, facet_size: Optional[int] = None) -> Operation:
        """A page of the records a filter allows, in an order ("rating:desc", "-year", "id"),
        after a cursor (the previous page's ``next``). Writes between pages neither repeat nor skip records."""
        params = _body(filter=filter, order=order, after=after, limit=None if limit is None else str(limit),
                       fields=",".join(fields) if fields else None, facets=",".join(facets) if facets else None,
                       facet_size=None if facet_size is None else str(facet_size))
        return Page.from_json((yield Call("GET", _c(collection) + "/records", params=params)))

    @operation
    def facets(self, collection: str, fields: Sequence[str], filter: Optional[Filters] = None, *,
               filters: Optional[Dict[str, Any]] = None, facet_size: Optional[int] = None) -> Operation:
        """Value counts (strings, sets) and ranges (numbers, "year:10" for ten-wide) under a filter."""
        body = dict(fields=list(fields), **_filters(filter, filters))
        if facet_size is not None:
            body["facet_size"] = facet_size
        return FacetCounts.from_json((yield Call("POST", _c(collection) + "/facets", json=body)))

    # -- search ---------------------------------------------------------------------------

    @operation
    def search(self, collection: str, *, text: Optional[str] = None, vector: Optional[Sequence[float]] = None,
               k: int = 10, filter: Optional[Filters] = None, filters: Optional[Dict[str, Any]] = None,
               ef: Optional[int] = None, exact: Optional[bool] = None, explain: Optional[bool] = None,
               include_records: Optional[bool] = None, offset: Optional[int] = None,
               score_threshold: Optional[float] = None, max_distance: Optional[float] = None,
               fields: Optional[Sequence[str]] = None, facets: Optional[Sequence[str]] = None,
               facet_size: Optional[int] = None) -> Operation:
        """The plain vector search of one collection, by text (embedded) or a vector, within a filter."""
        body = _body(text=text, vector=list(vector) if vector is not None else None, k=k, ef=ef, exact=exact, explain=explain,
                     include_records=include_records, offset=offset, score_threshold=score_threshold, max_distance=max_distance,
                     fields=list(fields) if fields else None, facets=list(facets) if facets else None, facet_size=facet_size)
        body.update(_filters(filter, filters))
        return SearchResults.from_json((yield Call("POST", _c(collection) + "/search", json=body)))

    @operation
    def search_batch(self, collection: str, vectors: Sequence[Sequence[float]], *, k: int = 10,
                     filter: Optional[Filters] = None, filters: Optional[Dict[str, Any]] = None,
                     ef: Optional[int] = None, exact: Optional[bool] = None) -> Operation:
        """Many vector searches in one request, spread over the server's cores: one list of hits
        per query, in the order given. The queries travel packed in the binary vector form."""
        flat = [float(x) for v in vectors for x in v]
        body = _body(vectors=binary_vector(flat), k=k, ef=ef, exact=exact)
        body.update(_filters(filter, filters))
        reply = yield Call("POST", _c(collection) + "/search/batch", json=body)
        return [[Hit(rank=i + 1, id=h["id"], score=h["score"], distance=h["distance"]) for i, h in enumerate(hits)]
                for hits in reply["results"]]

    @operation
    def query(self, text: Optional[str] = None, *, collection: Optional[str] = None, top_k: int = 10,
              search_type: str = "hybrid", vector: Optional[Sequence[float]] = None,
              filter: Optional[Filters] = None, filters: Optional[Dict[str, Any]] = None,
              understand: Optional[bool] = None, explain: Optional[bool] = None, include_records: Optional[bool] = None,
              fusion: Optional[str] = None, rrf_k: Optional[int] = None, weights: Optional[Dict[str, float]] = None,
              candidates: Optional[int] = None, quality_prior: Optional[float] = None, collapse: Optional[bool] = None,
              diversity: Optional[float] = None, ef: Optional[int] = None, exact: Optional[bool] = None,
              offset: Optional[int] = None, score_threshold: Optional[float] = None, max_distance: Optional[float] = None,
              fields: Optional[Sequence[str]] = None, facets: Optional[Sequence[str]] = None,
              facet_size: Optional[int] = None) -> Operation:
        """Free text, English or Korean, understood (seasons, genders, notes, "without X" …) and
        searched by the vector, keyword and preference arms, fused ("hybrid"), or by one arm
        ("similarity", "keyword"). The default collection is the server's (perfumes)."""
        body = _body(query=text, collection=collection, top_k=top_k, search_type=search_type,
                     vector=list(vector) if vector is not None else None, understand=understand, explain=explain,
                     include_records=include_records, fusion=fusion, rrf_k=rrf_k, weights=weights, candidates=candidates,
                     quality_prior=quality_prior, collapse=collapse, diversity=diversity, ef=ef, exact=exact, offset=offset,
                     score_threshold=score_threshold, max_distance=max_distance, fields=list(fields) if fields else None,
                     facets=list(facets) if facets else None, facet_size=facet_size)
        body.update(_filters(filter, filters))
        return SearchResults.from_json((yield Call("POST", "/api/v1/search/hybrid", json=body)))

    # -- recipes --------------------------------------------------------------------------

    @operation
    def generate_recipe(self, *, fragrance_family: Optional[str] = None, mood: Optional[str] = None,
                        intensity: Optional[str] = None, gender: Optional[str] = None, season: Optional[str] = None,
                        brief: Optional[str] = None, concentration: Optional[str] = None, seed: Optional[int] = None,
                        product: Optional[str] = None, avoid: Optional[Sequence[str]] = None) -> Operation:
        """A perfume recipe (a formula with percentages) from perfumes like the request, held to
        the product's IFRA limits, with its validation and allergen declaration."""
        body = _recipe_request(fragrance_family, mood, intensity, gender, season, brief, concentration, seed, product, avoid)
        return RecipeResult.from_json((yield Call("POST", "/api/v1/generate/recipe", json=body)))

    @operation
    def generate_batch(self, requests: Sequence[Dict[str, Any]]) -> Operation:
        """Several recipes (at most 32): each item a RecipeResult or the FragranceError it got."""
        reply = yield Call("POST", "/api/v1/generate/batch", json={"requests": list(requests)})
        out: List[Union[RecipeResult, FragranceError]] = []
        for item in reply["results"]:
            if "error" in item:
                e = item["error"]
                out.append(error_from(e["code"], e["message"], e.get("field")))
            else:
                out.append(RecipeResult.from_json(item))
        return out

    @operation
    def validate_recipe(self, recipe: Dict[str, Any]) -> Operation:
        """Check a formula: sums, known materials, IFRA limits for its product, allergens to declare."""
        return Validation.from_json((yield Call("POST", "/api/v1/recipes/validate", json=recipe))["validation"])

    @operation
    def substitutes(self, material: str, *, product: Optional[str] = None, concentration: Optional[str] = None,
                    fragrance_percent: Optional[float] = None, limit: Optional[int] = None) -> Operation:
        """Compliant materials of similar odour, best first."""
        body = _body(material=material, product=product, concentration=concentration,
                     fragrance_percent=fragrance_percent, limit=limit)
        return Substitutes.from_json((yield Call("POST", "/api/v1/recipes/substitutes", json=body)))

    # -- snapshots ------------------------------------------------------------------------

    @operation
    def snapshot(self, collection: str) -> Operation:
        """Write a zstd snapshot into the server's snapshots/ directory; returns its file name (admin)."""
        return (yield Call("POST", _c(collection) + "/snapshot", idempotent=False))["file"]

    @operation
    def restore(self, file: str, *, as_name: Optional[str] = None) -> Operation:
        """Restore a snapshot file as a new collection; returns (name, records) (admin)."""
        reply = yield Call("POST", "/api/v1/snapshots/restore", json=_body(file=file, **{"as": as_name}), idempotent=False)
        return reply["restored"], reply["records"]


def _recipe_request(family, mood, intensity, gender, season, brief, concentration, seed, product, avoid) -> Dict[str, Any]:
    return _body(fragrance_family=family, mood=mood, intensity=intensity, gender=gender, season=season, brief=brief,
                 concentration=concentration, seed=seed, product=product, avoid=list(avoid) if avoid is not None else None)
