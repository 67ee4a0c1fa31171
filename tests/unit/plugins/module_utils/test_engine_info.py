from __future__ import annotations

import grp

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
