"""Typed replies of the HTTP API (schemas/openapi.yaml). Each keeps the server's JSON in ``raw``
so a field this version does not name yet is still reachable."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Union

JSON = Dict[str, Any]


@dataclass
class Record:
    """A stored record: its id, its fields as the collection's schema declares them, and its
    vector when asked for."""

    id: str
    fields: JSON
    vector: Optional[List[float]] = None

    @classmethod
    def from_json(cls, o: JSON, id: Optional[str] = None) -> "Record":
        o = dict(o)
        rid = o.pop("id", id)
        vector = o.pop("vector", None)
        return cls(id=rid if rid is not None else "", fields=o, vector=vector)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_json(self) -> JSON:
        o = dict(self.fields)
        o["id"] = self.id
        if self.vector is not None:
            o["vector"] = self.vector
        return o


@dataclass
class FacetValue:
    value: str
    count: int


@dataclass
class FacetRange:
    start: float
    end: float
    count: int


@dataclass
class Facet:
    """Counts of one field: values (strings and sets) or ranges [start, end) (numbers)."""

    field: str
    missing: int
    values: List[FacetValue] = field(default_factory=list)
    others: Optional[int] = None
    ranges: List[FacetRange] = field(default_factory=list)
    min: Optional[float] = None
    max: Optional[float] = None
    mean: Optional[float] = None

    @classmethod
    def from_json(cls, o: JSON) -> "Facet":
        return cls(
            field=o["field"],
            missing=o.get("missing", 0),
            values=[FacetValue(v["value"], v["count"]) for v in o.get("values", [])],
            others=o.get("others"),
            ranges=[FacetRange(r["from"], r["to"], r["count"]) for r in o.get("ranges", [])],
            min=o.get("min"),
            max=o.get("max"),
            mean=o.get("mean"),
        )

    def counts(self) -> Dict[str, int]:
        """value → count (string and set fields)."""
        return {v.value: v.count for v in self.values}


def _facets(o: JSON) -> List[Facet]:
    return [Facet.from_json(f) for f in o.get("facets", []) or []]


@dataclass
class Plan:
    """What the store ran for the vector search, and why."""

    path: str
    exact: bool
    reason: str
    records: int
    estimated_candidates: float
    candidates: int
    ef: int
    nodes_visited: int
    distance_computations: int

    @classmethod
    def from_json(cls, o: JSON) -> "Plan":
        return cls(**{k: o[k] for k in cls.__dataclass_fields__})


@dataclass
class Hit:
    rank: int
    id: str
    score: float
    distance: Optional[float] = None
    record: Optional[Record] = None
    explain: Optional[JSON] = None
    collapsed: List[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, o: JSON) -> "Hit":
        record = o.get("record")
        return cls(
            rank=o["rank"],
            id=o["id"],
            score=o["score"],
            distance=o.get("distance"),
            record=Record.from_json(record, id=o["id"]) if record is not None else None,
            explain=o.get("explain"),
            collapsed=o.get("collapsed", []),
        )


@dataclass
class SearchResults:
    """One page of hits, in the shape every search route answers with. Iterating it walks the hits."""

    hits: List[Hit]
    collection: str
    search_type: str
    scoring: str
    top_k: int
    offset: int
    took_ms: float
    query: Optional[str] = None
    filter: Optional[str] = None
    arms: List[str] = field(default_factory=list)
    plan: Optional[Plan] = None
    parsed: Optional[JSON] = None
    facets: List[Facet] = field(default_factory=list)
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: JSON) -> "SearchResults":
        return cls(
            hits=[Hit.from_json(h) for h in o["results"]],
            collection=o["collection"],
            search_type=o["search_type"],
            scoring=o["scoring"],
            top_k=o["top_k"],
            offset=o["offset"],
            took_ms=o["took_ms"],
            query=o.get("query"),
            filter=o.get("filter"),
            arms=o.get("arms", []),
            plan=Plan.from_json(o["plan"]) if o.get("plan") else None,
            parsed=o.get("parsed"),
            facets=_facets(o),
            raw=o,
        )

    @property
    def ids(self) -> List[str]:
        return [h.id for h in self.hits]

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]


@dataclass
class Page:
    """A browse page: records, how many the filter allows over all pages, and the cursor of the next."""

    records: List[Record]
    count: int
    next: Optional[str]
    facets: List[Facet] = field(default_factory=list)

    @classmethod
    def from_json(cls, o: JSON) -> "Page":
        return cls(records=[Record.from_json(r) for r in o["records"]], count=o["count"], next=o.get("next"), facets=_facets(o))


@dataclass
class FacetCounts:
    count: int
    facets: List[Facet]

    @classmethod
    def from_json(cls, o: JSON) -> "FacetCounts":
        return cls(count=o["count"], facets=_facets(o))

    def __getitem__(self, field_name: str) -> Facet:
        for f in self.facets:
            if f.field == field_name:
                return f
        raise KeyError(field_name)


@dataclass
class Field:
    name: str
    type: str


@dataclass
class CollectionSummary:
    name: str
    records: int
    dimension: int
    metric: str
    embedder: Optional[str]

    @classmethod
    def from_json(cls, o: JSON) -> "CollectionSummary":
        return cls(name=o["name"], records=o["records"], dimension=o["dimension"], metric=o["metric"], embedder=o.get("embedder"))


@dataclass
class CollectionInfo:
    """A collection's settings and figures (DESCRIBE)."""

    name: str
    records: int
    dimension: int
    metric: str
    embedder: Optional[str]
    dynamic: bool
    fields: List[Field]
    graph_nodes: int
    tombstones: int
    index_bytes: int
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: JSON) -> "CollectionInfo":
        return cls(
            name=o["name"], records=o["records"], dimension=o["dimension"], metric=o["metric"], embedder=o.get("embedder"),
            dynamic=o["dynamic"], fields=[Field(f["name"], f["type"]) for f in o["fields"]],
            graph_nodes=o["graph_nodes"], tombstones=o["tombstones"], index_bytes=o["index_bytes"], raw=o,
        )

    def field_types(self) -> Dict[str, str]:
        return {f.name: f.type for f in self.fields}


@dataclass
class UpsertResult:
    inserted: int
    updated: int


@dataclass
class BulkError:
    """A record a bulk import refused: its place in the input (1-based), id and the server's error."""

    line: int
    id: Optional[str]
    code: str
    message: str
    field: Optional[str] = None


@dataclass
class BulkResult:
    inserted: int = 0
    updated: int = 0
    errors: List[BulkError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass
class Validation:
    """The validator's report: well formed and compliant (``valid``), problems, compliance, allergens."""

    valid: bool
    score: int
    problems: List[JSON]
    compliance: JSON
    allergens: List[JSON]
    composition: JSON
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: JSON) -> "Validation":
        return cls(valid=o["valid"], score=o["score"], problems=o["problems"], compliance=o["compliance"],
                   allergens=o["allergens"], composition=o["composition"], raw=o)

    @property
    def compliant(self) -> bool:
        return bool(self.compliance.get("compliant"))


@dataclass
class RecipeResult:
    """A generated recipe (schemas/recipe.schema.json as a dict), its validation, and which generator wrote it."""

    recipe: JSON
    validation: Validation
    generator: str
    context_perfumes: List[str]
    took_ms: float
    fallback_reason: Optional[str] = None
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: JSON) -> "RecipeResult":
        return cls(recipe=o["recipe"], validation=Validation.from_json(o["validation"]), generator=o["generator"],
                   context_perfumes=o["context_perfumes"], took_ms=o["took_ms"], fallback_reason=o.get("fallback_reason"), raw=o)

    @property
    def ingredients(self) -> List[JSON]:
        """Every ingredient of the formula, top to base."""
        return [i for tier in ("top", "heart", "base") for i in self.recipe.get(tier, [])]


@dataclass
class Substitutes:
    material: JSON
    product: JSON
    fragrance_percent: float
    substitutes: List[JSON]

    @classmethod
    def from_json(cls, o: JSON) -> "Substitutes":
        return cls(material=o["material"], product=o["product"], fragrance_percent=o["fragrance_percent"], substitutes=o["substitutes"])


@dataclass
class ServerInfo:
    """INFO: version, uptime and the sections asked for (server_info, clients, stats, memory,
    persistence, collections, model) as the server sends them."""

    version: str
    uptime_seconds: float
    sections: JSON

    @classmethod
    def from_json(cls, o: JSON) -> "ServerInfo":
        rest = {k: v for k, v in o.items() if k not in ("server", "version", "uptime_seconds")}
        return cls(version=o["version"], uptime_seconds=o["uptime_seconds"], sections=rest)

    def __getitem__(self, section: str) -> Any:
        return self.sections[section]


BatchItem = Union[RecipeResult, "FragranceError"]  # noqa: F821 (documentation only)
