# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs the docker CLI (and its buildx plugin) on the managed host."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any


class DockerCliError(Exception):
    pass


@dataclass
class DockerCli:
    """Runs ``docker`` as root with a chosen user's client config (DOCKER_CONFIG) and daemon (DOCKER_HOST)."""

    module: Any
    docker_config: str | None = None
    docker_host: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # (uid, gid) of the user whose DOCKER_CONFIG this is: buildx writes state files there even when only reading.
    owner_ids: tuple | None = None

    @property
    def binary(self) -> str | None:
        return self.module.get_bin_path("docker")

    def environment(self) -> dict[str, str]:
        env = dict(self.extra_env)
        if self.docker_config:
            env["DOCKER_CONFIG"] = self.docker_config
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        return env

    def run(self, args: list[str], data: str | None = None, env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[int, str, str]:
        binary = self.binary
        if binary is None:
            raise DockerCliError("the docker CLI is not installed on this host")
        environ = self.environment()
        environ.update(env or {})
        try:
            return self.module.run_command(
                [binary] + args, data=data, environ_update=environ, cwd=cwd, expand_user_and_vars=False
            )
        finally:
            self.hand_back_to_owner()

    def hand_back_to_owner(self) -> None:
        """docker ran as root with the owner's DOCKER_CONFIG: give what it wrote there back to the owner."""
        if not self.docker_config or self.owner_ids is None or not os.path.isdir(self.docker_config):
            return
        uid, gid = self.owner_ids
        if os.lstat(self.docker_config).st_uid != uid:
            os.lchown(self.docker_config, uid, gid)
        for sub in ("buildx", "contexts"):
            for root, dirs, files in os.walk(os.path.join(self.docker_config, sub)):
                for entry in [root] + [os.path.join(root, name) for name in dirs + files]:
                    if os.lstat(entry).st_uid != uid:
                        os.lchown(entry, uid, gid)

    def checked(self, args: list[str], **kwargs: Any) -> str:
        rc, out, err = self.run(args, **kwargs)
        if rc != 0:
            raise DockerCliError(f"docker {' '.join(args)} failed (rc={rc}): {(err or out).strip()}")
        return out

    def json(self, args: list[str]) -> Any:
        out = self.checked(args)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise DockerCliError(f"docker {' '.join(args)} did not print JSON: {out[:200]!r}") from exc
