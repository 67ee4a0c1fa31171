from __future__ import annotations

import grp
import os

from ansible_collections.multiarch.buildhost.plugins.module_utils import _engine_info
from ansible_collections.multiarch.buildhost.plugins.module_utils._engine_info import (
    buildx_version_from,
    uses_containerd_image_store,
)


def test_buildx_version_from_debian_and_upstream_output():
    assert buildx_version_from("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n") == "0.13.1+ds1"
    assert buildx_version_from("github.com/docker/buildx v0.17.1 257815a") == "0.17.1"
    assert buildx_version_from("docker: 'buildx' is not a docker command.") is None


def test_containerd_image_store_is_read_from_driver_status():
    assert uses_containerd_image_store({"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]})
    assert not uses_containerd_image_store({"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]})
    assert not uses_containerd_image_store({"Driver": "overlay2", "DriverStatus": None})


def test_docker_group_members_are_read_from_the_group_database(monkeypatch):
    groups = {"docker": grp.struct_group(("docker", "x", 994, ["carol", "bob"]))}

    def getgrnam(name):
        return groups[name]

    monkeypatch.setattr(_engine_info.grp, "getgrnam", getgrnam)
    assert _engine_info.docker_group_members() == ["bob", "carol"]
    assert _engine_info.docker_group_members("podman") is None


def _statvfs(monkeypatch, **fields):
    values = dict(f_bsize=4096, f_frsize=4096, f_blocks=131072, f_bfree=100000, f_bavail=90000, f_files=8192,
                  f_ffree=8000, f_favail=8000, f_flag=0, f_namemax=255)
    values.update(fields)
    result = os.statvfs_result(tuple(values[name] for name in (
        "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")))
    monkeypatch.setattr(_engine_info.os, "statvfs", lambda path: result)


def test_data_root_space_reads_the_size_inodes_and_block_size_the_gc_policy_needs(monkeypatch):
    _statvfs(monkeypatch)
    assert _engine_info.data_root_space("/var/lib/docker") == {
        "data_root_size_bytes": 512 * 1024 * 1024, "data_root_free_bytes": 90000 * 4096, "data_root_inodes": 8192,
        "data_root_free_inodes": 8000, "data_root_block_size": 4096}


def test_data_root_space_has_no_inode_figures_on_btrfs(monkeypatch):
    _statvfs(monkeypatch, f_files=0, f_ffree=0, f_favail=0)  # btrfs: no fixed inode count
    space = _engine_info.data_root_space("/var/lib/docker")
    assert space["data_root_inodes"] is None and space["data_root_free_inodes"] is None
    assert space["data_root_block_size"] == 4096 and space["data_root_size_bytes"] == 512 * 1024 * 1024


def test_data_root_space_is_unknown_for_a_data_root_not_on_this_host(monkeypatch):
    def statvfs(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(_engine_info.os, "statvfs", statvfs)
    assert set(_engine_info.data_root_space("/elsewhere").values()) == {None}
    assert _engine_info.data_root_space(None) == dict.fromkeys(_engine_info.DATA_ROOT_SPACE_KEYS)
