"""`fragrancedb serve` as a child process on free loopback ports, for the Python client's tests
and the browser tests (Tests/Browser). The binary is $FRAGRANCEDB_BIN, else the repository's
.build/debug/fragrancedb (tools/test builds it); the model is $FRAGRANCEDB_MODEL_DIR, else the
repository's models/ (tools/setup fetches it)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _binary() -> str:
    path = os.environ.get("FRAGRANCEDB_BIN") or str(REPO / ".build" / "debug" / "fragrancedb")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"no fragrancedb binary at {path}: run `swift build` (or set FRAGRANCEDB_BIN)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict, ready_within: float):
        self.data = Path(tempfile.mkdtemp(prefix="fdb-py-"))
        self.tcp_port, self.http_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        model = os.environ.get("FRAGRANCEDB_MODEL_DIR") or str(REPO / "models" / "all-MiniLM-L6-v2")
        full_env = dict(os.environ, FRAGRANCEDB_LOG_LEVEL="error", **env)
        self.log = open(self.data / "server.log", "wb")
        self.process = subprocess.Popen(
            [_binary(), "serve", "--data", str(self.data / "db"), "--port", str(self.tcp_port),
             "--http-port", str(self.http_port), "--model-dir", model, "--config-dir", str(self.data / "no-config")],
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fragrancedb serve exited with {self.process.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if json.load(r).get("status") == "ready":
                        return
            except Exception:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"fragrancedb serve was not ready within {ready_within} s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.data / "server.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """A server with 120 perfumes and 120 materials of the bundled catalogue, embedded by the
    real model (a conftest imports this fixture to offer it)."""
    s = Server({"FRAGRANCEDB_CATALOGUE_LIMIT": "120"}, ready_within=600)
    yield s
    s.stop()
