"""FragranceDB's Python client: the HTTP API, blocking (``Client``) or asyncio (``AsyncClient``).

    from fragrancedb import Client
    db = Client("http://127.0.0.1:8000")
    hits = db.query("fresh citrus for summer, without oud", top_k=5)
"""
from ._operations import binary_vector
from .client import DEFAULT_URL, AsyncClient, Client
from .errors import (
    CODES, AlreadyExistsError, AuthenticationError, BadRequestError, ConnectionFailedError, FragranceError,
    NotFoundError, PermissionDeniedError, RateLimitedError, RequestTimeoutError, ServerError, TooLargeError, ReadOnlyError,
    UnavailableError,
)
from .models import (
    BulkError, BulkResult, CollectionInfo, CollectionSummary, Facet, FacetCounts, FacetRange, FacetValue, Field, Hit,
    Page, Plan, RecipeResult, Record, SearchResults, ServerInfo, Substitutes, UpsertResult, Validation,
)

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "DEFAULT_URL", "binary_vector",
    "FragranceError", "BadRequestError", "NotFoundError", "AlreadyExistsError", "AuthenticationError",
    "PermissionDeniedError", "RateLimitedError", "TooLargeError", "UnavailableError", "ServerError", "ReadOnlyError",
    "ConnectionFailedError", "RequestTimeoutError", "CODES",
    "Record", "Hit", "SearchResults", "Plan", "Page", "Facet", "FacetValue", "FacetRange", "FacetCounts",
    "CollectionSummary", "CollectionInfo", "Field", "UpsertResult", "BulkResult", "BulkError",
    "RecipeResult", "Validation", "Substitutes", "ServerInfo",
]
