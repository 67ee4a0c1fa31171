"""buildx_build against this machine's engine, pushing to a registry that answers every request with a 500."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

COLLECTION_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", ".collection")
RUNNER = "ansible_collections.multiarch.buildhost.plugins.module_utils._build_run"


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
    monkeypatch.setattr(importlib.import_module(RUNNER), "RETRY_DELAY_SECONDS", 0)


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


# ---- against the lab registry (127.0.0.1:5000, make lab) -----------------------------------------------------------

LAB_ROOTFS = "/var/lib/multiarch-lab/rootfs"
LAB_REGISTRY = "127.0.0.1:5000"


def busybox_context(tmp_path, dockerfile: str, name: str = "Dockerfile") -> str:
    import shutil

    shutil.copytree(os.path.join(LAB_ROOTFS, "amd64"), tmp_path / "rootfs" / "amd64", symlinks=True)
    (tmp_path / name).write_text(dockerfile)
    return str(tmp_path)


def test_an_identical_cached_rebuild_with_default_provenance_is_not_a_change(run_module, tmp_path):
    tag = f"{LAB_REGISTRY}/mbh-test/provenance:{uuid.uuid4().hex[:8]}"
    args = {"path": busybox_context(tmp_path, "FROM scratch\nCOPY rootfs/amd64/ /\nRUN [\"/bin/busybox\", \"true\"]\n"),
            "tags": [tag], "platforms": ["linux/amd64"], "push": True, "builder": "default",
            "log_file": str(tmp_path / "build.log")}
    first = run_module("buildx_build", args)
    assert not first.failed, first.get("msg")
    second = run_module("buildx_build", args)
    assert not second.failed, second.get("msg")
    assert first["changed"] is True
    # The premise: the provenance attestation's timestamp moved the index digest although no image changed.
    assert second["digest"] != second["previous_digest"]
    assert second["changed"] is False, "a fully cached rebuild changed no image"
    assert second["cached_steps"] >= 1


def test_a_relative_dockerfile_is_read_from_the_build_context(run_module, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    context = busybox_context(tmp_path, "FROM scratch\nCOPY rootfs/amd64/ /\n", name="Dockerfile.cross")
    result = run_module("buildx_build", {"path": context, "dockerfile": "Dockerfile.cross", "platforms": ["linux/amd64"],
                                         "builder": "default", "log_file": str(tmp_path / "build.log")})
    assert not result.failed, result.get("msg")
    assert f"--file {context}/Dockerfile.cross" in result["command"]


def test_check_mode_writes_no_file(run_module, tmp_path):
    log_file = tmp_path / "logs" / "build.log"
    before = set(os.listdir(tempfile.gettempdir()))
    result = run_module("buildx_build", {"path": busybox_context(tmp_path, "FROM scratch\n"), "tags": ["x/y:z"],
                                         "push": True, "log_file": str(log_file)}, check_mode=True)
    assert result["changed"] is True and result["log_file"] == str(log_file)
    assert not log_file.parent.exists()
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("buildx-")}


def test_the_log_is_written_while_the_build_runs(tmp_path):
    log_file = tmp_path / "build.log"
    context = busybox_context(tmp_path, "FROM scratch\nCOPY rootfs/amd64/ /\nRUN [\"/bin/busybox\", \"sleep\", \"6\"]\n")
    code = ("import sys, json; sys.path.insert(0, %r)\n"
            "from ansible.module_utils.testing import patch_module_args\n"
            "from ansible_collections.multiarch.buildhost.plugins.modules import buildx_build as m\n"
            "with patch_module_args(json.loads(sys.argv[1])):\n    m.main()\n") % COLLECTION_ROOT
    args = {"path": context, "platforms": ["linux/amd64"], "builder": "default", "no_cache": True, "log_file": str(log_file)}
    build = subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], stdout=subprocess.PIPE, text=True)
    seen_while_running = ""
    deadline = time.monotonic() + 60
    while build.poll() is None and time.monotonic() < deadline:
        if log_file.exists() and "sleep" in log_file.read_text():
            seen_while_running = log_file.read_text()
            break
        time.sleep(0.2)
    still_running = build.poll() is None
    out = build.communicate(timeout=120)[0]
    assert not json.loads(out).get("failed"), out
    assert still_running and "sleep" in seen_while_running, "the log must show the build's steps before it ends"


def test_imagetools_info_reads_the_pushed_index_and_a_missing_tag(run_module, tmp_path):
    tag = f"{LAB_REGISTRY}/mbh-test/index:{uuid.uuid4().hex[:8]}"
    pushed = run_module("buildx_build", {"path": busybox_context(tmp_path, "FROM scratch\nCOPY rootfs/amd64/ /\n"), "tags": [tag],
                                         "platforms": ["linux/amd64"], "push": True, "builder": "default",
                                         "log_file": str(tmp_path / "build.log")})
    assert not pushed.failed, pushed.get("msg")
    index = run_module("imagetools_info", {"name": tag})
    assert index["exists"] is True and index["changed"] is False
    assert index["platforms"] == ["linux/amd64"] and index["digest"] == pushed["digest"]
    missing = run_module("imagetools_info", {"name": f"{LAB_REGISTRY}/mbh-test/index:absent"})
    assert missing["exists"] is False and not missing.failed
