"""Every failure the server reports, as an exception that carries its code.

The codes are the server's (Sources/FragranceProtocol/ErrorCode.swift, schemas/protocol.md):
the same word after ``-ERR`` on the line protocol and in ``error.code`` over HTTP. Each code
maps to one subclass, so callers can catch a kind of failure (``NotFoundError``) or look at
``.code`` for the exact one.
"""
from __future__ import annotations

from typing import Optional


class FragranceError(Exception):
    """A failure: ``code`` (the server's, or CONNECTION/TIMEOUT from this client), ``message``,
    ``field`` (the request field at fault, when the server names one) and ``status`` (HTTP)."""

    def __init__(self, code: str, message: str, field: Optional[str] = None, status: Optional[int] = None):
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.code = code
        self.message = message
        self.field = field
        self.status = status


class BadRequestError(FragranceError):
    """The request was wrong: syntax, JSON, a type, a value, a filter, a schema, a dimension."""


class NotFoundError(FragranceError):
    """The collection, record, snapshot or material named does not exist."""


class AlreadyExistsError(FragranceError):
    """A collection or field of that name exists already."""


class AuthenticationError(FragranceError):
    """No token, or a wrong one (NOAUTH, WRONGPASS)."""


class PermissionDeniedError(FragranceError):
    """The token's role does not allow the operation (FORBIDDEN)."""


class RateLimitedError(FragranceError):
    """Too many requests or connections; ``retry_after`` seconds, when the server said."""

    retry_after: Optional[float] = None


class TooLargeError(FragranceError):
    """A body, batch, k, ef or line over the server's limits."""


class UnavailableError(FragranceError):
    """A feature not configured here (the model, the recipe generator) or the server is busy."""


class ServerError(FragranceError):
    """The server failed: I/O, a corrupt file, a refused configuration, an internal error."""


class ReadOnlyError(FragranceError):
    """A write sent to a replica (READONLY); the message names the primary to write to."""


class ConnectionFailedError(FragranceError):
    """The server could not be reached or the connection broke (code CONNECTION)."""


class RequestTimeoutError(FragranceError):
    """No answer within the client's timeout, or the server timed the request out (TIMEOUT)."""


#: Every code the server sends, with the class it raises as.
CODES = {
    "SYNTAX": BadRequestError,
    "UNKNOWN_COMMAND": BadRequestError,
    "BAD_REQUEST": BadRequestError,
    "BAD_JSON": BadRequestError,
    "BAD_TYPE": BadRequestError,
    "BAD_VALUE": BadRequestError,
    "MISSING_FIELD": BadRequestError,
    "UNKNOWN_FIELD": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "BAD_SCHEMA": BadRequestError,
    "BAD_RECORD": BadRequestError,
    "BAD_FILTER": BadRequestError,
    "DIM_MISMATCH": BadRequestError,
    "TOO_LARGE": TooLargeError,
    "METHOD_NOT_ALLOWED": BadRequestError,
    "NOT_FOUND": NotFoundError,
    "EXISTS": AlreadyExistsError,
    "MODEL_UNAVAILABLE": UnavailableError,
    "UNAVAILABLE": UnavailableError,
    "CORRUPT": ServerError,
    "IO": ServerError,
    "BAD_CONFIG": ServerError,
    "INTERNAL": ServerError,
    "READONLY": ReadOnlyError,
    "RESYNC": ServerError,
    "BAD_PRIMARY": ServerError,
    "NOAUTH": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "WRONGPASS": AuthenticationError,
    "RATE_LIMITED": RateLimitedError,
    "LINE_TOO_LONG": TooLargeError,
    "TIMEOUT": RequestTimeoutError,
    "BUSY": UnavailableError,
    "TOO_MANY_CONNECTIONS": RateLimitedError,
    "IDLE": RequestTimeoutError,
    "PROTOCOL": BadRequestError,
}


def error_from(code: str, message: str, field: Optional[str] = None, status: Optional[int] = None) -> FragranceError:
    """The exception for a code (an unknown one, from a newer server, is a plain FragranceError)."""
    cls = CODES.get(code, FragranceError)
    return cls(code, message, field, status)
