# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what a host's Docker Engine is: versions, experimental flag, buildx, image store."""
from __future__ import annotations

import grp
import os
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, DockerCliError
from ansible_collections.multiarch.buildhost.plugins.module_utils._version import UnparsableVersion, version_at_least

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"
# The "containerd-snapshotter" feature flag exists in daemon.json from Docker 24.0 on.
SNAPSHOTTER_SINCE = "24.0"


def uses_containerd_image_store(info: dict[str, Any]) -> bool:
    """dockerd reports the containerd store as a driver-type entry in DriverStatus."""
    return any(pair[:2] == ["driver-type", CONTAINERD_SNAPSHOTTER] for pair in info.get("DriverStatus") or [])


DATA_ROOT_SPACE_KEYS = ("data_root_size_bytes", "data_root_free_bytes", "data_root_inodes", "data_root_free_inodes",
                        "data_root_block_size")


def data_root_space(data_root: str | None) -> dict[str, int | None]:
    """The size, the bytes free to unprivileged writers, the inodes (all and free) and the block size of the filesystem
    that holds Docker's data (and so BuildKit's cache), when it is local; None each otherwise. The GC policy
    (_gc_policy) sizes the cache from the size, the inodes and the block size."""
    space: dict[str, int | None] = dict.fromkeys(DATA_ROOT_SPACE_KEYS)
    if not data_root:
        return space
    try:
        fs = os.statvfs(data_root)
    except OSError:
        return space  # a remote daemon (DOCKER_HOST=tcp://...) keeps its data elsewhere
    # f_files is 0 where the filesystem has no fixed inode count (btrfs): no inode figures then.
    return {"data_root_size_bytes": fs.f_blocks * fs.f_frsize, "data_root_free_bytes": fs.f_bavail * fs.f_frsize,
            "data_root_inodes": fs.f_files or None, "data_root_free_inodes": fs.f_favail if fs.f_files else None,
            "data_root_block_size": fs.f_frsize}


def engine_package(module: Any) -> dict[str, str] | None:
    """Which package installed dockerd, and its version: ``docker.io`` (the distribution) or ``docker-ce`` (Docker's
    repository) tell the channel apart, and the two conflict, so one must never be replaced by the other unasked."""
    dockerd = module.get_bin_path("dockerd")
    if dockerd is None:
        return None
    real = os.path.realpath(dockerd)
    if module.get_bin_path("dpkg-query"):
        for candidate in dict.fromkeys((real, dockerd)):
            rc, out, _err = module.run_command(["dpkg-query", "-S", candidate])
            if rc == 0 and ":" in out:
                name = out.split(":", 1)[0].split(",")[0].strip()
                rc, version, _err = module.run_command(["dpkg-query", "-W", "-f", "${Version}", name])
                return {"name": name, "version": version.strip() if rc == 0 else "", "manager": "dpkg"}
    if module.get_bin_path("rpm"):
        rc, out, _err = module.run_command(["rpm", "-qf", "--qf", "%{NAME}\\t%{VERSION}-%{RELEASE}", real])
        if rc == 0 and "\t" in out:
            name, version = out.split("\t", 1)
            return {"name": name, "version": version.strip(), "manager": "rpm"}
    return {"name": "", "version": "", "manager": "none"}  # installed by hand (a static binary, a lab unpack)


def buildx_version_from(output: str) -> str | None:
    """``github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3`` or ``... v0.17.1 abc123`` -> ``0.13.1+ds1``."""
    fields = output.split()
    if len(fields) >= 2 and "buildx" in fields[0]:
        return fields[1].lstrip("v")
    return None


def read_server_with_sdk(docker_host: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask the daemon over its API (the Docker SDK for Python). Raises ImportError without the SDK."""
    import docker  # pylint: disable=import-outside-toplevel  # optional: the CLI is the fallback

    client = docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()
    try:
        return client.version(), client.info()
    finally:
        client.close()


def read_server_with_cli(cli: DockerCli) -> tuple[dict[str, Any], dict[str, Any]]:
    return cli.json(["version", "--format", "{{json .Server}}"]), cli.json(["info", "--format", "{{json .}}"])


def installed_dockerd_version(module: Any) -> str | None:
    """``Docker version 26.1.5+dfsg1, build 411e817`` -> ``26.1.5+dfsg1``."""
    dockerd = module.get_bin_path("dockerd")
    if dockerd is None:
        return None
    rc, out, _err = module.run_command([dockerd, "--version"])
    fields = out.replace(",", " ").split()
    return fields[2] if rc == 0 and len(fields) >= 3 and fields[1] == "version" else None


def service_enabled(module: Any) -> bool | None:
    """Whether systemd starts docker.service at boot; None without systemd (or when it cannot say)."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return None
    _rc, out, _err = module.run_command([systemctl, "is-enabled", "docker.service"])
    state = out.strip()
    if state in ("enabled", "enabled-runtime", "alias", "static", "indirect", "generated"):
        return True
    if state in ("disabled", "masked", "masked-runtime", "linked", "linked-runtime"):
        return False
    return None


def service_drop_ins(module: Any) -> list[str] | None:
    """The drop-in files systemd applies to docker.service, so a role can take its own back without a look of its own;
    None without systemd."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return None
    rc, out, _err = module.run_command([systemctl, "show", "docker.service", "--property", "DropInPaths", "--value"])
    return out.split() if rc == 0 else None


def docker_group_members(name: str = "docker") -> list[str] | None:
    """The users listed in the group that may use the daemon's socket, or None when there is no such group. Read here,
    with the engine, so a re-run need not look the group up, nor run the user module for users already in it."""
    try:
        return sorted(grp.getgrnam(name).gr_mem)
    except KeyError:
        return None


def engine_info(cli: DockerCli, min_version: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "installed": False, "running": False, "client_version": None, "server_version": None, "api_version": None,
        "experimental": None, "buildx_version": None, "containerd_snapshotter": None, "meets_min_version": False, "supports_containerd_snapshotter": False,
        "data_root": None, **dict.fromkeys(DATA_ROOT_SPACE_KEYS),
        "engine_package": None,
        "min_version": min_version, "source": None, "error": None, "service_enabled": None,
        "service_drop_ins": None, "docker_group_members": docker_group_members(),
    }
    if cli.binary is None and cli.module.get_bin_path("dockerd") is None:
        result["error"] = "neither the docker CLI nor dockerd is installed"
        return result
    result["installed"] = True
    result["engine_package"] = engine_package(cli.module)
    result["service_enabled"] = service_enabled(cli.module)
    result["service_drop_ins"] = service_drop_ins(cli.module)
    if cli.binary is not None:
        rc, out, _err = cli.run(["version", "--format", "{{.Client.Version}}"])
        result["client_version"] = out.strip() or None
        rc, out, _err = cli.run(["buildx", "version"])
        result["buildx_version"] = buildx_version_from(out) if rc == 0 else None
    try:
        version, info = read_server_with_sdk(cli.docker_host)
        result["source"] = "api"
    except ImportError:
        try:
            version, info = read_server_with_cli(cli)
            result["source"] = "cli"
        except DockerCliError as exc:
            version, info = {}, {}
            result["error"] = str(exc)
    except Exception as exc:  # the SDK raises many types when the daemon is down; all mean "not running"
        version, info = {}, {}
        result["error"] = f"the Docker daemon did not answer: {exc}"
    if version:
        result.update(
            running=True,
            server_version=version.get("Version"),
            api_version=version.get("ApiVersion"),
            experimental=bool(version.get("Experimental")),
            containerd_snapshotter=uses_containerd_image_store(info),
            data_root=info.get("DockerRootDir"),
            **data_root_space(info.get("DockerRootDir")),
        )
    else:
        # A stopped daemon still has a version: the installed dockerd's, which decides whether to upgrade.
        result["server_version"] = installed_dockerd_version(cli.module)
        result["source"] = "dockerd --version" if result["server_version"] else None
    if result["server_version"] is None:
        return result
    try:
        result["meets_min_version"] = version_at_least(result["server_version"], min_version)
        result["supports_containerd_snapshotter"] = version_at_least(result["server_version"], SNAPSHOTTER_SINCE)
    except UnparsableVersion as exc:
        result["error"] = str(exc)
    return result
