"""buildx_build against this machine's engine, pushing to a registry that answers every request with a 500."""
from __future__ import annotations

import importlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MODULE = "ansible_collections.multiarch.buildhost.plugins.modules.buildx_build"


class FailingRegistry(BaseHTTPRequestHandler):
    requests = 0
    # The engine tries HTTPS first and falls back to HTTP only when the answer starts "HTTP/"; Python's default
    # (HTTP/0.9) would answer its TLS hello with a bare body.
    default_request_version = "HTTP/1.0"

    def _fail(self):
        FailingRegistry.requests += 1
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _fail

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def failing_registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FailingRegistry.requests = 0
    yield f"127.0.0.1:{server.server_address[1]}"  # loopback: the engine talks plain HTTP to it
    server.shutdown()


@pytest.fixture
def no_retry_pause(monkeypatch):
    monkeypatch.setattr(importlib.import_module(MODULE), "RETRY_DELAY_SECONDS", 0)


def context(tmp_path, dockerfile):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "hello").write_text("hello\n")
    return str(tmp_path)


def test_a_registry_server_error_is_retried_up_to_three_attempts(run_module, tmp_path, failing_registry, no_retry_pause):
    result = run_module("buildx_build", {"path": context(tmp_path, "FROM scratch\nCOPY hello /hello\n"),
                                         "tags": [f"{failing_registry}/retry/app:latest"], "platforms": ["linux/amd64"],
                                         "push": True, "builder": "default"})
    assert result["failed"] is True
    assert result["attempts"] == 3, result["msg"]
    assert "500 Internal Server Error" in result["msg"]
    assert FailingRegistry.requests >= 3


def test_a_build_error_is_not_retried(run_module, tmp_path, failing_registry, no_retry_pause):
    result = run_module("buildx_build", {"path": context(tmp_path, "FROM scratch\nCOPY missing /missing\n"),
                                         "tags": [f"{failing_registry}/retry/app:latest"], "platforms": ["linux/amd64"],
                                         "push": True, "builder": "default"})
    assert result["failed"] is True
    assert result["attempts"] == 1
    assert "missing" in result["msg"]
