"""docker_host_state in-process: its prediction is what docker_daemon_config and docker_cli_config then do (the same
code in check mode), it never writes, it refuses what they refuse by the same words, and it decides the daemon.json
settings that depend on the engine (builder.gc from the data root's size, the containerd image store)."""
from __future__ import annotations

import fcntl
import json
import os
import time

import pytest
from ansible.module_utils import basic

from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner

MODULE = "ansible_collections.multiarch.buildhost.plugins.modules.docker_host_state"
ENGINE = {"installed": True, "running": True, "server_version": "26.1.5", "data_root_size_bytes": 1_000_000,
          "supports_containerd_snapshotter": True, "docker_group_members": []}
GC = {"enabled": True, "keep_fraction": 0.1}


@pytest.fixture
def host(monkeypatch, tmp_path):
    """The engine as read (no daemon here), and build users whose homes are under tmp_path."""
    engine = dict(ENGINE)
    monkeypatch.setattr(f"{MODULE}.engine_info", lambda cli, min_version: dict(engine))
    monkeypatch.setattr(f"{MODULE}.resolve_owner",
                        lambda name: Owner(name, os.geteuid(), os.getegid(), str(tmp_path / "home" / name)))
    (tmp_path / "home" / "builder").mkdir(parents=True)
    return engine


def daemon_args(path, **changes):
    return dict(dict(path=str(path), settings={"log-driver": "local"}, builder_gc=GC, containerd_snapshotter=True), **changes)


def predict(run_module, tmp_path, **wanted):
    return run_module("docker_host_state", dict(daemon_json=daemon_args(tmp_path / "daemon.json", **wanted),
                                                users=["builder"]), check_mode=False)


def write_daemon_json(run_module, tmp_path, settings):
    return run_module("docker_daemon_config", dict(path=str(tmp_path / "daemon.json"), settings=settings, validate=False))


def write_cli_config(run_module, tmp_path):
    return run_module("docker_cli_config", dict(path=str(tmp_path / "home" / "builder" / ".docker" / "config.json")))


def test_the_prediction_is_what_the_writes_then_do(run_module, host, tmp_path):
    first = predict(run_module, tmp_path)
    assert not first.failed and first["changed"] is False
    assert not (tmp_path / "daemon.json").exists() and not (tmp_path / "home" / "builder" / ".docker").exists()
    assert first["daemon_json"]["would_change"] is True and first["user_configs"]["builder"]["would_change"] is True
    assert first["server_version"] == "26.1.5"  # the engine read's results come along

    assert write_daemon_json(run_module, tmp_path, first["daemon_json"]["settings"])["changed"] is True
    assert write_cli_config(run_module, tmp_path)["changed"] is True

    second = predict(run_module, tmp_path)
    assert second["daemon_json"]["would_change"] is False and second["user_configs"]["builder"]["would_change"] is False
    assert write_daemon_json(run_module, tmp_path, second["daemon_json"]["settings"])["changed"] is False
    assert write_cli_config(run_module, tmp_path)["changed"] is False

    # Another setting asked for: predicted, and the write agrees.
    third = predict(run_module, tmp_path, settings={"log-driver": "json-file"})
    assert third["daemon_json"]["would_change"] is True
    assert write_daemon_json(run_module, tmp_path, third["daemon_json"]["settings"])["changed"] is True


def test_a_config_json_that_others_may_read_is_predicted_as_a_change(run_module, host, tmp_path):
    write_cli_config(run_module, tmp_path)
    config = tmp_path / "home" / "builder" / ".docker" / "config.json"
    config.chmod(0o644)  # the write narrows it to 0600: a change the prediction must see
    assert predict(run_module, tmp_path)["user_configs"]["builder"]["would_change"] is True
    assert write_cli_config(run_module, tmp_path)["changed"] is True
    assert predict(run_module, tmp_path)["user_configs"]["builder"]["would_change"] is False


def test_settings_that_depend_on_the_engine_are_decided_from_this_read(run_module, host, tmp_path):
    settings = predict(run_module, tmp_path)["daemon_json"]["settings"]
    assert settings == {"builder": {"gc": {"enabled": True, "defaultKeepStorage": "100000"}}, "log-driver": "local",
                        "features": {"containerd-snapshotter": True}}
    host.update(supports_containerd_snapshotter=False, data_root_size_bytes=None)  # Docker 23, size unread
    settings = predict(run_module, tmp_path, builder_gc=dict(GC, keep_storage_fallback=42))["daemon_json"]["settings"]
    assert settings == {"builder": {"gc": {"enabled": True, "defaultKeepStorage": "42"}}, "log-driver": "local"}
    # A data root with few inodes (mkfs.ext4 -N 8192 on 512 MiB): half its inodes in 4 KiB blocks, not a tenth.
    host.update(data_root_size_bytes=512 * 1024 * 1024, data_root_inodes=8192, data_root_block_size=4096)
    settings = predict(run_module, tmp_path)["daemon_json"]["settings"]
    assert settings["builder"]["gc"] == {"enabled": True, "defaultKeepStorage": str(16 * 1024 * 1024)}
    settings = predict(run_module, tmp_path, builder_gc=dict(GC, keep_inode_fraction=0))["daemon_json"]["settings"]
    assert settings["builder"]["gc"] == {"enabled": True, "defaultKeepStorage": str(512 * 1024 * 1024 // 10)}
    # The user's own builder.gc wins over the shared policy.
    settings = predict(run_module, tmp_path, settings={"builder": {"gc": {"defaultKeepStorage": "1GB"}}})["daemon_json"]["settings"]
    assert settings["builder"]["gc"] == {"enabled": True, "defaultKeepStorage": "1GB"}


def test_a_malformed_daemon_json_is_reported_left_as_it_was_and_refused_by_the_write(run_module, host, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"log-driver": "local",\n')
    before = path.read_bytes(), os.stat(path).st_mtime_ns
    result = predict(run_module, tmp_path)
    # The read does not fail (a broken file must not stop other tags' work); it sends the run to the write.
    assert not result.failed and result["daemon_json"]["would_change"] is True
    assert str(path) in result["daemon_json"]["error"]
    refused = write_daemon_json(run_module, tmp_path, result["daemon_json"]["settings"])
    assert refused.failed and str(path) in refused["msg"]
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


def test_a_symlinked_docker_directory_is_refused_for_that_user_only(run_module, monkeypatch, host, tmp_path):
    # The build user (uid 4242) owns their home and points ~/.docker at a directory of root's.
    home = tmp_path / "home" / "mallory"
    home.mkdir()
    elsewhere = tmp_path / "root-owned"
    elsewhere.mkdir()
    os.symlink(elsewhere, home / ".docker")
    os.lchown(home / ".docker", 4242, 4242)
    os.chown(home, 4242, 4242)
    builder = Owner("builder", os.geteuid(), os.getegid(), str(tmp_path / "home" / "builder"))
    monkeypatch.setattr(f"{MODULE}.resolve_owner",
                        lambda name: Owner(name, 4242, 4242, str(home)) if name == "mallory" else builder)
    result = run_module("docker_host_state", dict(users=["mallory", "builder"]))
    assert not result.failed
    assert result["user_configs"]["mallory"]["would_change"] is True and ".docker" in result["user_configs"]["mallory"]["error"]
    assert "error" not in result["user_configs"]["builder"]
    assert list(elsewhere.iterdir()) == []


def test_an_unknown_user_is_reported_for_the_write_to_refuse(run_module, monkeypatch, host, tmp_path):
    from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
    monkeypatch.setattr(f"{MODULE}.resolve_owner", resolve_owner)
    result = run_module("docker_host_state", dict(users=["mbh-no-such-user"]))
    assert not result.failed and result["user_configs"]["mbh-no-such-user"]["would_change"] is True
    assert "does not exist" in result["user_configs"]["mbh-no-such-user"]["error"]


def test_a_user_holding_a_lock_on_their_directory_does_not_stall_the_read(run_module, host, tmp_path):
    docker_dir = tmp_path / "home" / "builder" / ".docker"
    docker_dir.mkdir()
    fd = os.open(docker_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        result = run_module("docker_host_state", dict(users=["builder"]))
        assert time.monotonic() - started < 5
        assert result["user_configs"]["builder"]["would_change"] is True and "error" not in result["user_configs"]["builder"]
    finally:
        os.close(fd)


def test_a_password_in_daemon_settings_is_masked_and_so_is_one_in_a_failing_run(run_module, host, tmp_path):
    proxy = "http://ci:mbh-daemon-Pa55@proxy.example:3128"
    result = run_module("docker_host_state", dict(daemon_json=daemon_args(tmp_path / "daemon.json",
                                                                          settings={"proxies": {"http-proxy": proxy}})))
    assert not result.failed and "mbh-daemon-Pa55" not in json.dumps(result)
    failing = run_module("docker_host_state", dict(min_version="not a version", users=["builder"],
                                                   user_settings={"proxies": {"default": {"httpProxy": proxy}}}))
    assert failing.failed and "mbh-daemon-Pa55" not in json.dumps(failing)


def test_a_proxy_password_in_the_user_settings_reaches_neither_the_result_nor_the_journal(run_module, monkeypatch, host,
                                                                                          tmp_path):
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    proxy = "http://ci:mbh-state-Pa55@proxy.example:3128"
    result = run_module("docker_host_state", dict(users=["builder"], _ansible_no_log=False,
                                                  user_settings={"proxies": {"default": {"httpProxy": proxy}}}))
    assert not result.failed and result["user_configs"]["builder"]["would_change"] is True
    assert "mbh-state-Pa55" not in json.dumps(result) and "mbh-state-Pa55" not in repr(logged)
