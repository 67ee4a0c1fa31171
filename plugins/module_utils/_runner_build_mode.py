# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a runner's jobs build images (its build_mode), as the settings of config.toml that mode needs.

remote_buildkit: the jobs run unprivileged and build on a BuildKit daemon over mutual TLS; they get the client
certificate read-only at /buildkit/client and three variables that say where the daemon is. dind: a privileged
docker:dind service; a runner in this mode must keep nothing of remote_buildkit (its jobs are privileged again, and a
client key in them would open the daemon to every project), whatever values those were written with. Where the host
holds a daemon.json for the dind services (the registry mirrors), a dind runner mounts it read-only at
/etc/docker/daemon.json, and loses that mount when there is none; a remote_buildkit runner, whose jobs have no dind
daemon, never has it (its volumes are set whole).
"""
from __future__ import annotations

from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

BUILD_MODES = ("dind", "remote_buildkit")
# Where jobs find the client certificate, whatever the directory on the host (BUILDKIT_TLS_DIR).
JOB_CLIENT_DIR = "/buildkit/client"
BUILDKIT_VARIABLES = ("BUILDKIT_HOST", "BUILDKIT_TLS_DIR", "BUILDKIT_SERVERNAME")
# Where the docker:dind service's dockerd reads its settings. GitLab Runner mounts [runners.docker] volumes into every
# container of a job, its services too, which is how GitLab documents giving the dind service a registry mirror.
DIND_DAEMON_CONFIG = "/etc/docker/daemon.json"


class BuildModeError(BuildhostError):
    pass


def buildkit_volume(client_dir: str) -> str:
    """The [runners.docker] volume that mounts CLIENT_DIR read-only where jobs look for the certificate."""
    return f"{client_dir}:{JOB_CLIENT_DIR}:ro"


def dind_daemon_volume(host_file: str) -> str:
    """The [runners.docker] volume that mounts HOST_FILE read-only where the dind service's dockerd reads daemon.json."""
    return f"{host_file}:{DIND_DAEMON_CONFIG}:ro"


def check_dind_daemon_config(daemon_config: Any) -> str | None:
    """gitlab_runner_config's dind_daemon_config: None (leave the mount alone), "" (take it back) or the host file."""
    if daemon_config is None or daemon_config == "":
        return daemon_config
    if (not isinstance(daemon_config, str) or not daemon_config.startswith("/") or ":" in daemon_config
            or any(char.isspace() for char in daemon_config)):
        raise BuildModeError(f"dind_daemon_config must be an absolute path on the host, without colons or spaces, not"
                             f" {daemon_config!r}")
    return daemon_config


def volume_target(volume: str) -> str:
    """Where VOLUME mounts in the job's container: `/path` (an anonymous volume), `source:/path` or `source:/path:mode`."""
    parts = str(volume).split(":")
    return parts[0] if len(parts) == 1 else parts[1]


def _buildkit(where: str, buildkit: Any) -> dict:
    if not isinstance(buildkit, dict) or set(buildkit) - {"host", "servername", "client_dir"}:
        raise BuildModeError(f"{where}.buildkit must be a dictionary of host, servername and client_dir, not {buildkit!r}")
    host, client_dir = buildkit.get("host"), buildkit.get("client_dir")
    servername = buildkit.get("servername") or ""
    if not isinstance(host, str) or not host.strip() or "\n" in host:
        raise BuildModeError(f"{where}.buildkit.host must name the daemon (tcp://HOST:PORT), not {host!r}")
    if not isinstance(client_dir, str) or not client_dir.startswith("/") or ":" in client_dir or "\n" in client_dir:
        raise BuildModeError(f"{where}.buildkit.client_dir must be an absolute path on the host, not {client_dir!r}")
    if not isinstance(servername, str) or any(char.isspace() for char in servername):
        raise BuildModeError(f"{where}.buildkit.servername must be a host name, not {servername!r}")
    return {"host": host, "servername": servername, "client_dir": client_dir}


def expand_build_mode(where: str, own: dict, dind_daemon_config: str | None = None) -> dict:
    """OWN (one runner's settings, with build_mode and, for remote_buildkit, buildkit {host, servername, client_dir})
    as settings without them: environment, docker, absent_environment, absent_volumes and mounts (volumes that must be
    the only ones at their path in the job's container). What OWN itself sets stays; the mode's variables come after
    the runner's own, so they win over entries of the same name.

    DIND_DAEMON_CONFIG (checked by check_dind_daemon_config) is the host's daemon.json for dind services: a dind runner
    mounts it at /etc/docker/daemon.json, and nothing else there; "" takes any mount there back; None leaves it."""
    mode = own.get("build_mode")
    settings = {key: value for key, value in own.items() if key not in ("build_mode", "buildkit")}
    if mode is None:
        if own.get("buildkit") is not None:
            raise BuildModeError(f"{where}.buildkit is for build_mode remote_buildkit only")
        return settings
    if mode not in BUILD_MODES:
        raise BuildModeError(f"{where}.build_mode must be {' or '.join(BUILD_MODES)}, not {mode!r}")
    docker = dict(own.get("docker") or {})
    environment = list(own.get("environment") or [])
    if mode == "dind":
        if own.get("buildkit") is not None:
            raise BuildModeError(f"{where}.buildkit is for build_mode remote_buildkit only, not dind")
        # Taken back by name and path, whatever values they were written with, unless the runner's own settings
        # give them.
        own_names = {str(entry).split("=", 1)[0] for entry in environment}
        own_targets = {volume_target(volume) for volume in docker.get("volumes") or []}
        absent_environment = [name for name in BUILDKIT_VARIABLES if name not in own_names]
        absent_volumes = [] if JOB_CLIENT_DIR in own_targets else [JOB_CLIENT_DIR]
        if dind_daemon_config is not None and DIND_DAEMON_CONFIG not in own_targets:
            # Nothing else at that path, whatever file it mounted: a moved file replaces the old mount (Docker refuses
            # two at one path), and without a file the mount goes (Docker would make a directory of the missing file).
            absent_volumes.append(DIND_DAEMON_CONFIG)
            if dind_daemon_config:
                settings["mounts"] = list(settings.get("mounts") or []) + [dind_daemon_volume(dind_daemon_config)]
        if absent_environment:
            settings["absent_environment"] = list(settings.get("absent_environment") or []) + absent_environment
        if absent_volumes:
            settings["absent_volumes"] = list(settings.get("absent_volumes") or []) + absent_volumes
        return settings
    raised = sorted(key for key in ("privileged", "services_privileged") if docker.get(key) is True)
    if raised:
        raise BuildModeError(f"{where}: build_mode remote_buildkit runs jobs unprivileged, so docker.{' and docker.'.join(raised)}"
                             " cannot be true; use build_mode dind for a runner that needs them")
    buildkit = _buildkit(where, own.get("buildkit"))
    # The runner's whole volume list: a changed client directory replaces the old mount instead of mounting two
    # directories at /buildkit/client.
    volumes = [volume for volume in docker.get("volumes") or [] if volume_target(volume) != JOB_CLIENT_DIR]
    docker.update(privileged=False, services_privileged=False, volumes=volumes + [buildkit_volume(buildkit["client_dir"])])
    settings["docker"] = docker
    settings["environment"] = environment + [f"BUILDKIT_HOST={buildkit['host']}", f"BUILDKIT_TLS_DIR={JOB_CLIENT_DIR}",
                                             f"BUILDKIT_SERVERNAME={buildkit['servername']}"]
    return settings
