"""Bad input, check mode, interrupted and concurrent writes, across the file-editing modules (issue: reliability).

Each test adds what it tried to the `reliability` ledger, which conftest.py prints at the end of the run.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.multiarch.buildhost.plugins.module_utils import _safe_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import apply_settings, parse, render, runner_names

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "gitlab-runner")

BAD_JSON = {
    "invalid JSON": b'{"experimental": tru',
    "byte-order mark": b'\xef\xbb\xbf{"a": 1}',
    "empty file": b"",
    "very large file": b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    "not an object": b'["experimental"]',
}


def sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.parametrize("module", ["docker_cli_config", "docker_daemon_config"])
@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_json_is_refused_and_left_byte_for_byte(run_module, tmp_path, module, case, reliability):
    path = tmp_path / "file.json"
    path.write_bytes(BAD_JSON[case])
    before = sha(path)
    result = run_module(module, {"path": str(path)})
    reliability.tried(f"bad input: {module}: {case}", ok=result.failed and str(path) in result["msg"] and sha(path) == before)
    assert result.failed and str(path) in result["msg"]
    assert sha(path) == before


@pytest.mark.parametrize("module", ["docker_cli_config", "docker_daemon_config", "gitlab_runner_config"])
@pytest.mark.parametrize("shape", ["symlink", "directory"])
def test_symlinks_and_directories_are_refused(run_module, tmp_path, module, shape, reliability):
    target = tmp_path / "real"
    target.write_text("{}")
    path = tmp_path / "managed"
    if shape == "symlink":
        path.symlink_to(target)
    else:
        path.mkdir()
    result = run_module(module, {"path": str(path)})
    reliability.tried(f"bad input: {module}: {shape}", ok=result.failed)
    assert result.failed and str(path) in result["msg"]
    assert target.read_text() == "{}"


def test_toml_with_duplicate_keys_is_refused(run_module, tmp_path, reliability):
    path = tmp_path / "config.toml"
    shutil.copy(os.path.join(FIXTURES, "duplicate-keys.toml"), path)
    before = sha(path)
    result = run_module("gitlab_runner_config", {"path": str(path), "privileged": True})
    reliability.tried("bad input: gitlab_runner_config: duplicate keys", ok=result.failed and sha(path) == before)
    assert result.failed and sha(path) == before


@pytest.mark.parametrize(
    ("module", "args", "content"),
    [
        ("docker_cli_config", {"settings": {"proxies": {"default": {"noProxy": "x"}}}}, b'{"credsStore": "pass"}'),
        ("docker_daemon_config", {"settings": {"debug": True}}, b'{"log-driver": "journald"}'),
        ("gitlab_runner_config", {"privileged": True, "concurrent": 3}, None),
    ],
)
def test_check_mode_changes_nothing_and_predicts_the_real_run(run_module, tmp_path, module, args, content, reliability):
    path = tmp_path / "managed"
    if content is None:
        shutil.copy(os.path.join(FIXTURES, "several-runners.toml"), path)
    else:
        path.write_bytes(content)
    before = sha(path)
    predicted = run_module(module, dict(args, path=str(path)), check_mode=True)
    untouched = sha(path) == before
    real = run_module(module, dict(args, path=str(path)))
    predicted_again = run_module(module, dict(args, path=str(path)), check_mode=True)
    ok = untouched and predicted["changed"] is True and real["changed"] is True and predicted_again["changed"] is False
    reliability.tried(f"check mode: {module}", ok=ok)
    assert untouched
    assert predicted["changed"] is True and real["changed"] is True
    assert predicted_again["changed"] is False


def _write_and_hang(path):
    # Stand in for a process killed between writing the temporary file and renaming it.
    def hang(*_args):
        time.sleep(60)

    _safe_file.os.rename = hang
    _safe_file.write_file(path, b'{"new": true}\n', 0o644, 0, 0)


def test_an_interrupted_write_leaves_the_old_file(tmp_path, reliability):
    path = str(tmp_path / "daemon.json")
    with open(path, "wb") as handle:
        handle.write(b'{"old": true}\n')
    child = multiprocessing.get_context("fork").Process(target=_write_and_hang, args=(path,))
    child.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with open(path, "rb") as handle:
        survived = handle.read()
    reliability.tried("atomic write: killed before rename", ok=survived == b'{"old": true}\n')
    assert survived == b'{"old": true}\n'


def _merge_one_key(args):
    path, index = args
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.multiarch.buildhost.plugins.modules import docker_daemon_config

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    with patch_module_args({"path": path, "validate": False, "settings": {f"key-{index}": index}}):
        try:
            docker_daemon_config.main()
        except SystemExit:
            pass


def test_concurrent_runs_neither_corrupt_nor_lose_keys(tmp_path, reliability):
    path = str(tmp_path / "daemon.json")
    with open(path, "w") as handle:
        handle.write('{"keep": 1}')
    workers = 16
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_merge_one_key, [(path, i) for i in range(workers)])
    with open(path) as handle:
        document = json.load(handle)
    expected = {"keep": 1, "experimental": True, **{f"key-{i}": i for i in range(workers)}}
    reliability.tried(f"concurrency: {workers} runs on one daemon.json", ok=document == expected)
    assert document == expected


toml_values = st.one_of(st.booleans(), st.integers(min_value=0, max_value=9), st.text("abc:*-", min_size=1, max_size=6))
docker_keys = st.dictionaries(st.sampled_from(["tls_verify", "shm_size", "pull_policy", "network_mode"]), toml_values, max_size=3)


@settings(max_examples=60, deadline=None)
@given(privileged=st.booleans(), volumes=st.lists(st.sampled_from(["/cache", "/certs/client", "/var/run/x"]), max_size=3),
       extra=docker_keys, concurrent=st.integers(min_value=1, max_value=16))
def test_toml_editing_twice_equals_once_and_drops_nothing(privileged, volumes, extra, concurrent, reliability):
    with open(os.path.join(FIXTURES, "several-runners.toml")) as handle:
        original = handle.read()
    wanted = {"privileged": privileged, "volumes": volumes, "docker": extra, "concurrent": concurrent}
    once = parse("config.toml", original.encode())
    apply_settings(once, [r for r in once["runners"] if r["executor"] == "docker"], wanted)
    once_text = render(once)
    twice = parse("config.toml", once_text.encode())
    second = apply_settings(twice, [r for r in twice["runners"] if r["executor"] == "docker"], wanted)
    ok = render(twice) == once_text and not second and runner_names(twice) == runner_names(parse("x", original.encode()))
    reliability.tried("property: TOML edit idempotent, nothing dropped", ok=ok)
    assert render(twice) == once_text and not second
    assert runner_names(twice) == ["multiarch-docker", "shell-runner", "docker-without-table"]
    assert "/cache" in twice["runners"][0]["docker"]["volumes"]
