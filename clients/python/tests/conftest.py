"""Real `fragrancedb serve` processes for the client's tests (fdb_server.py starts them).

The main server loads a slice of the bundled catalogue (perfumes and materials) so queries and
recipes run on real data; each server is stopped when the session ends.
"""
from __future__ import annotations

import re

import pytest

from fdb_server import Server, server  # noqa: F401 (the fixture)


@pytest.fixture(scope="session")
def guarded_server():
    """Keys with roles, and a per-key rate limit the retry tests can run into."""
    keys = "reader:read:read-secret,writer:write:write-secret,boss:admin:admin-secret"
    s = Server({"FRAGRANCEDB_CATALOGUE_LOAD": "false", "FRAGRANCEDB_AUTH_KEYS": keys,
                "FRAGRANCEDB_RATE_LIMIT_PER_KEY": "4", "FRAGRANCEDB_RATE_LIMIT_PER_KEY_BURST": "2"}, ready_within=120)
    yield s
    s.stop()


@pytest.fixture
def collection_name(request):
    """A fresh collection name per test (tests share the session's server)."""
    return "py_" + re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", request.node.name.lower()))[:40].strip("_")
