# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs the docker CLI (and its buildx plugin) on the managed host."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible.module_utils.basic import env_fallback

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner, owner_argument_spec, resolve_owner


class DockerCliError(BuildhostError):
    pass


def docker_host_argument_spec() -> dict[str, Any]:
    """The O(docker_host) option (doc fragment multiarch.buildhost.owner.docker_host)."""
    return dict(docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])))


def user_client_argument_spec() -> dict[str, Any]:
    """O(owner) and O(docker_host), for the modules that run docker with a user's client configuration."""
    return dict(owner_argument_spec(), **docker_host_argument_spec())


# What a process run as another user inherits from the module's environment.
INHERITED_BY_ANOTHER_USER = frozenset({"PATH", "TZ", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                                       "no_proxy"})


def inherited_by_another_user(environ: dict[str, str]) -> dict[str, str]:
    """The part of root's ENVIRON that a process run as another user may see.

    That user can read their process's environment, so a proxy URL with credentials (anything with '@': curl and Go
    both take user:password@ with or without a scheme) is root's secret and stays behind; the plain ones are the
    site's and are passed on.
    """
    return {key: value for key, value in environ.items()
            if key in INHERITED_BY_ANOTHER_USER and not (key.lower().endswith("_proxy") and "@" in value)}


# What the CLI prints when its user may not open the daemon's socket.
_SOCKET_DENIED = "permission denied while trying to connect to the docker daemon"


@dataclass
class DockerCli:
    """Runs ``docker`` with a chosen user's client config (DOCKER_CONFIG) and daemon (DOCKER_HOST).

    With RUN_AS the process runs as that user (their uid and all their groups), never as root in their tree.
    """

    module: Any
    docker_config: str | None = None
    docker_host: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    run_as: Owner | None = None

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

    def _process_arguments(self, args: list[str], env: dict[str, str] | None, cwd: str | None) -> dict[str, Any]:
        identity = self.run_as.process_identity() if self.run_as is not None else {}
        if identity:
            # Another user's process: they can read its environment, and DOCKER_*/BUILDX_* of root's would steer their
            # CLI. Only the search path, the time zone and the site's proxies (registry traffic) are passed on. A new
            # session and their home as the working directory: no tie to root's terminal or directory.
            environ = inherited_by_another_user(dict(os.environ))
            environ.update(self.run_as.process_environment())
            identity = dict(identity, start_new_session=True)
            cwd = cwd or self.run_as.home
        else:
            environ = dict(os.environ)
        environ.update(LC_ALL="C", LANG="C")  # docker's messages are matched in English
        environ.update(self.environment(), **(env or {}))
        binary = self.binary
        if binary is None:
            raise DockerCliError("the docker CLI is not installed on this host")
        return dict(args=[binary] + args, env=environ, cwd=cwd, text=True, errors="replace", **identity)

    def run(self, args: list[str], data: str | None = None, env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[int, str, str]:
        try:
            done = subprocess.run(input=data, capture_output=True, stdin=None if data is not None else subprocess.DEVNULL,
                                  check=False, **self._process_arguments(args, env, cwd))
        except OSError as exc:
            raise DockerCliError(f"docker {' '.join(args[:2])} could not be started: {exc.strerror}") from exc
        return done.returncode, done.stdout, done.stderr

    def stream(self, args: list[str], sink: Callable[[str], None], env: dict[str, str] | None = None,
               cwd: str | None = None) -> int:
        """Run docker ARGS, handing each line of its output (stdout and stderr merged) to SINK as it comes.

        For long builds whose log must be followed while they run; run() only returns at the end.
        """
        try:
            process = subprocess.Popen(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       bufsize=1, **self._process_arguments(args, env, cwd))
        except OSError as exc:
            raise DockerCliError(f"docker {' '.join(args[:2])} could not be started: {exc.strerror}") from exc
        output = process.stdout  # always set: stdout=PIPE
        with output:
            for line in output:
                sink(line)
        return process.wait()

    def explain(self, message: str) -> str:
        """MESSAGE, with the remedy when the user may not reach the daemon (the usual cause: not in docker's group)."""
        if self.run_as is not None and _SOCKET_DENIED in message.lower():
            return (f"{message}\n{self.run_as.name} may not use the Docker daemon: add them to its group (the"
                    " multiarch.buildhost.docker role's docker_users does), or give the module another owner")
        return message

    def checked(self, args: list[str], **kwargs: Any) -> str:
        rc, out, err = self.run(args, **kwargs)
        if rc != 0:
            raise DockerCliError(self.explain(f"docker {' '.join(args)} failed (rc={rc}): {(err or out).strip()}"))
        return out

    def json(self, args: list[str]) -> Any:
        out = self.checked(args)
        try:
            return json.loads(out)
        except ValueError as exc:  # a list or an object, whatever the command prints
            raise DockerCliError(f"docker {' '.join(args)} did not print JSON: {out[:200]!r}") from exc


def user_docker_cli(module: Any, owner: Owner | None = None) -> DockerCli:
    """The docker CLI run as OWNER (default: O(owner)) with their client configuration, against O(docker_host)."""
    owner = owner or resolve_owner(module.params.get("owner"))
    if not os.path.isdir(owner.home):
        raise DockerCliError(f"{owner.name}'s home directory {owner.home} does not exist; the docker CLI and buildx keep"
                             " their state under ~/.docker, so give the module an owner with a home")
    return DockerCli(module, docker_config=owner.docker_config_dir, docker_host=module.params.get("docker_host"), run_as=owner)
