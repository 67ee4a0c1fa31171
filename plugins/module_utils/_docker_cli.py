# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs the docker CLI (and its buildx plugin) on the managed host."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ansible.module_utils.basic import env_fallback

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner, owner_argument_spec, resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import hand_over_tree


class DockerCliError(BuildhostError):
    pass


def docker_host_argument_spec() -> dict[str, Any]:
    """The O(docker_host) option (doc fragment multiarch.buildhost.owner.docker_host)."""
    return dict(docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])))


def user_client_argument_spec() -> dict[str, Any]:
    """O(owner) and O(docker_host), for the modules that run docker with a user's client configuration."""
    return dict(owner_argument_spec(), **docker_host_argument_spec())


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
        return self.module.run_command([binary] + args, data=data, environ_update=environ, cwd=cwd, expand_user_and_vars=False)

    def stream(self, args: list[str], sink: Callable[[str], None], env: dict[str, str] | None = None,
               cwd: str | None = None) -> int:
        """Run docker ARGS, handing each line of its output (stdout and stderr merged) to SINK as it comes.

        For long builds whose log must be followed while they run; run_command only returns at the end.
        """
        binary = self.binary
        if binary is None:
            raise DockerCliError("the docker CLI is not installed on this host")
        environ = dict(os.environ, **self.environment(), **(env or {}))
        try:
            process = subprocess.Popen([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=environ, cwd=cwd, text=True, errors="replace", bufsize=1)
        except OSError as exc:
            raise DockerCliError(f"docker {' '.join(args[:2])} could not be started: {exc.strerror}") from exc
        output = process.stdout  # always set: stdout=PIPE
        with output:
            for line in output:
                sink(line)
        return process.wait()

    def hand_back_to_owner(self) -> None:
        """docker ran as root with the owner's DOCKER_CONFIG: give what it wrote there (buildx state, contexts)
        back to the owner, or their own docker commands fail on root-owned files."""
        if self.docker_config and self.owner_ids is not None:
            hand_over_tree(self.docker_config, ("buildx", "contexts"), *self.owner_ids)

    def checked(self, args: list[str], **kwargs: Any) -> str:
        rc, out, err = self.run(args, **kwargs)
        if rc != 0:
            raise DockerCliError(f"docker {' '.join(args)} failed (rc={rc}): {(err or out).strip()}")
        return out

    def json(self, args: list[str]) -> Any:
        out = self.checked(args)
        try:
            return json.loads(out)
        except ValueError as exc:  # a list or an object, whatever the command prints
            raise DockerCliError(f"docker {' '.join(args)} did not print JSON: {out[:200]!r}") from exc


@contextlib.contextmanager
def user_docker_cli(module: Any, owner: Owner | None = None) -> Iterator[DockerCli]:
    """The docker CLI with OWNER's client configuration (default: O(owner)) and O(docker_host).

    On the way out, whatever docker wrote into the owner's configuration is handed back to them.
    """
    owner = owner or resolve_owner(module.params.get("owner"))
    cli = DockerCli(module, docker_config=owner.docker_config_dir, docker_host=module.params.get("docker_host"),
                    owner_ids=(owner.uid, owner.gid))
    try:
        yield cli
    finally:
        cli.hand_back_to_owner()
