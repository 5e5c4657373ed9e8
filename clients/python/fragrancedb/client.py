"""The two clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio). Both keep one pooled
HTTP connection set (keep-alive), send ``Authorization: Bearer`` when given a token, time every
request out, and retry a call that is safe to repeat (reads, upserts by id, deletes by id) when
the connection fails or the server answers RATE_LIMITED/BUSY/UNAVAILABLE (429/503), backing
off (honouring Retry-After). Every error the server sends is raised as a FragranceError
subclass carrying its code.

Given ``replicas`` (the HTTP URLs of read replicas, README "Scaling out"), reads go to them in
turn and writes to ``url``, the primary; a replica that cannot be reached or is not ready
(503) passes the read on to the next, and the primary answers when none can."""
from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Sequence

import httpx

from ._operations import Call, Operation, Operations
from .errors import ConnectionFailedError, FragranceError, RateLimitedError, RequestTimeoutError, error_from
from .models import Record

__all__ = ["Client", "AsyncClient", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8000"
_RETRY_STATUSES = (429, 503)


class _Base(Operations):
    def __init__(self, url: str, token: Optional[str], timeout: float, retries: int, backoff: float,
                 replicas: Sequence[str] = ()):
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.url = url.rstrip("/")
        self.replicas = [r.rstrip("/") for r in replicas]
        self._turn = 0
        self.retries = retries
        self.backoff = backoff
        self._headers = {"Accept": "application/json", "User-Agent": "fragrancedb-python/0.1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = httpx.Timeout(timeout)

    def _targets(self, call: Call) -> List[str]:
        """Where to send a call, in the order to try: replicas in turn for a read (then the
        primary), the primary alone for anything else."""
        if not self.replicas or not call.reads_only:
            return [self.url]
        self._turn = (self._turn + 1) % len(self.replicas)
        return self.replicas[self._turn:] + self.replicas[:self._turn] + [self.url]

    @staticmethod
    def _passes_on(error: FragranceError) -> bool:
        """A replica that cannot answer this read now (down, copying, lagging)."""
        return isinstance(error, ConnectionFailedError) or error.status == 503

    def _request_args(self, call: Call, base: str = "") -> Dict[str, Any]:
        headers = {}
        content = call.content
        if call.json is not None:
            content = json.dumps(call.json, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        elif call.content_type:
            headers["Content-Type"] = call.content_type
        return dict(method=call.method, url=base + call.path, params=call.params, content=content, headers=headers)

    @staticmethod
    def _reply(call: Call, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if status < 400 or status in call.accept:
            if body is None:
                raise FragranceError("PROTOCOL", f"{call.method} {call.path}: the server's reply is not JSON", status=status)
            return body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            e = body["error"]
            error = error_from(e.get("code", "INTERNAL"), e.get("message", ""), e.get("field"), status)
        else:
            error = FragranceError("INTERNAL", f"{call.method} {call.path}: HTTP {status} {response.text[:200]}", status=status)
        if isinstance(error, RateLimitedError):
            error.retry_after = _retry_after(response)
        raise error

    def _delay(self, attempt: int, error: Optional[FragranceError]) -> Optional[float]:
        """How long to wait before trying again, or None when not to."""
        if attempt >= self.retries:
            return None
        if error is not None and not (isinstance(error, ConnectionFailedError) or error.status in _RETRY_STATUSES):
            return None
        wait = self.backoff * (2 ** attempt) * (0.5 + random.random())
        after = getattr(error, "retry_after", None)
        return min(max(wait, after or 0), 30.0)


def _retry_after(response: httpx.Response) -> Optional[float]:
    v = response.headers.get("Retry-After")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _transport_error(call: Call, e: httpx.HTTPError) -> FragranceError:
    if isinstance(e, httpx.TimeoutException):
        return RequestTimeoutError("TIMEOUT", f"{call.method} {call.path}: no answer in time ({type(e).__name__})")
    return ConnectionFailedError("CONNECTION", f"{call.method} {call.path}: {e or type(e).__name__}")


class Client(_Base):
    """A blocking client of the HTTP API.

    >>> with Client("http://127.0.0.1:8000") as db:
    ...     for hit in db.query("fresh citrus for summer, without oud", top_k=5):
    ...         print(hit.id, hit.record["name"])
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 2, backoff: float = 0.2, transport: Optional[httpx.BaseTransport] = None,
                 replicas: Sequence[str] = ()):
        super().__init__(url, token, timeout, retries, backoff, replicas)
        self._http = httpx.Client(base_url=self.url, headers=self._headers, timeout=self._timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            for base in self._targets(call):
                try:
                    return self._reply(call, self._http.request(**self._request_args(call, base)))
                except httpx.HTTPError as e:
                    error: FragranceError = _transport_error(call, e)
                except FragranceError as e:
                    error = e
                if not self._passes_on(error):
                    break
            delay = self._delay(attempt, error) if call.idempotent else None
            if delay is None:
                raise error
            time.sleep(delay)
            attempt += 1

    def _drive(self, op: Operation) -> Any:
        try:
            call = next(op)
            while True:
                call = op.send(self._send(call))
        except StopIteration as done:
            return done.value

    def iter_records(self, collection: str, *, filter: Optional[str] = None, order: Optional[str] = None,
                     page_size: int = 200, fields: Optional[list] = None) -> Iterator[Record]:
        """Every record the filter allows, in order, a page at a time."""
        after = None
        while True:
            page = self.browse(collection, filter=filter, order=order, after=after, limit=page_size, fields=fields)
            yield from page.records
            if not page.next:
                return
            after = page.next

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.2) -> Dict[str, Any]:
        """Poll /ready until the server says ready (catalogue loaded, storage open)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.ready()
                if last.get("status") == "ready":
                    return last
            except FragranceError as e:
                last = e
            time.sleep(interval)
        raise RequestTimeoutError("TIMEOUT", f"the server was not ready within {timeout} s (last: {last})")


class AsyncClient(_Base):
    """The same API for asyncio: every method is a coroutine.

    >>> async with AsyncClient() as db:
    ...     results = await db.query("겨울에 쓸 바닐라 향수", top_k=3)
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 2, backoff: float = 0.2, transport: Optional[httpx.AsyncBaseTransport] = None,
                 replicas: Sequence[str] = ()):
        super().__init__(url, token, timeout, retries, backoff, replicas)
        self._http = httpx.AsyncClient(base_url=self.url, headers=self._headers, timeout=self._timeout, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            for base in self._targets(call):
                try:
                    return self._reply(call, await self._http.request(**self._request_args(call, base)))
                except httpx.HTTPError as e:
                    error: FragranceError = _transport_error(call, e)
                except FragranceError as e:
                    error = e
                if not self._passes_on(error):
                    break
            delay = self._delay(attempt, error) if call.idempotent else None
            if delay is None:
                raise error
            await asyncio.sleep(delay)
            attempt += 1

    async def _drive(self, op: Operation) -> Any:
        try:
            call = next(op)
            while True:
                call = op.send(await self._send(call))
        except StopIteration as done:
            return done.value

    async def iter_records(self, collection: str, *, filter: Optional[str] = None, order: Optional[str] = None,
                           page_size: int = 200, fields: Optional[list] = None) -> AsyncIterator[Record]:
        """Every record the filter allows, in order, a page at a time."""
        after = None
        while True:
            page = await self.browse(collection, filter=filter, order=order, after=after, limit=page_size, fields=fields)
            for r in page.records:
                yield r
            if not page.next:
                return
            after = page.next

    async def wait_ready(self, timeout: float = 60.0, interval: float = 0.2) -> Dict[str, Any]:
        """Poll /ready until the server says ready (catalogue loaded, storage open)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.ready()
                if last.get("status") == "ready":
                    return last
            except FragranceError as e:
                last = e
            await asyncio.sleep(interval)
        raise RequestTimeoutError("TIMEOUT", f"the server was not ready within {timeout} s (last: {last})")
