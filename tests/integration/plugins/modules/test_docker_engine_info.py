"""Against the lab's real Docker Engine (make lab)."""
from __future__ import annotations

import grp
import os


def test_reads_the_running_lab_engine(run_module):
    result = run_module("docker_engine_info", {})
    assert result["changed"] is False
    assert result["installed"] and result["running"]
    assert result["meets_min_version"] is True
    assert result["server_version"].startswith("26.")
    assert result["containerd_snapshotter"] is True
    assert result["buildx_version"] is not None
    assert result["source"] == "api"
    assert result["service_enabled"] is None, "the lab has no systemd: unknown, not false"
    assert result["data_root"] == "/var/lib/docker" and result["data_root_size_bytes"] > 10 * 1024 ** 3
    # What the GC policy's inode term reads (the lab's data root is on ext4, which has a fixed inode count).
    fs = os.statvfs("/var/lib/docker")
    assert (result["data_root_inodes"], result["data_root_block_size"]) == (fs.f_files, fs.f_frsize) and fs.f_files > 0
    try:
        members = sorted(grp.getgrnam("docker").gr_mem)
    except KeyError:
        members = None
    assert result["docker_group_members"] == members


def test_a_daemon_that_does_not_answer_is_reported_not_failed(run_module, tmp_path):
    result = run_module("docker_engine_info", {"docker_host": f"unix://{tmp_path}/absent.sock"})
    assert result.get("failed") is not True
    assert result["installed"] is True and result["running"] is False
    assert result["server_version"].startswith("26."), "the installed dockerd's version is still reported"
    assert "did not answer" in result["error"]


def test_a_minimum_above_the_engine_is_not_met(run_module):
    assert run_module("docker_engine_info", {"min_version": "99.0"})["meets_min_version"] is False


def test_a_nonsense_minimum_fails_clearly(run_module):
    result = run_module("docker_engine_info", {"min_version": "latest"})
    assert result.failed and "min_version" in result["msg"]
