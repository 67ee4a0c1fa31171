# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One buildx build: the command line, secrets kept off it, the metadata file, and a readable failure."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._json_file import load_json_object

INLINE_CACHE_ARG = "BUILDKIT_INLINE_CACHE"
DEFAULT_LOG_DIR = "/var/log/multiarch-buildhost"
SECRET_ENV_PREFIX = "MBH_BUILD_SECRET_"


@dataclass
class BuildCommand:
    argv: list
    env: dict = field(default_factory=dict)    # secret values travel here, never in argv

    def shown(self) -> str:
        """The command as it may be logged: secrets are referenced by environment variable only."""
        return " ".join(self.argv)


def secret_env_name(index: int) -> str:
    return f"{SECRET_ENV_PREFIX}{index}"


def resolve_dockerfile(context: str, dockerfile: str) -> str:
    """A relative Dockerfile is found in the build context, as docker_image_build does, not in the module's cwd."""
    return dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)


def default_log_file(params: dict) -> str:
    """Where the log goes when O(log_file) is not given: known before the build starts, so ``tail -f`` can follow it.

    Named after the first tag (or the context directory), so the same build always logs to the same file.
    """
    name = (params.get("tags") or [os.path.basename(os.path.normpath(params["path"])) or "build"])[0]
    return os.path.join(DEFAULT_LOG_DIR, re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") + ".log")


def build_command(params: dict, metadata_file: str, output: str | None = None) -> BuildCommand:
    """The buildx build command for PARAMS, with OUTPUT (an C(--output) exporter) when given."""
    argv = ["buildx", "build", "--progress", "plain", "--metadata-file", metadata_file]
    env = {}
    if params.get("builder"):
        argv += ["--builder", params["builder"]]
    if params.get("dockerfile"):
        argv += ["--file", resolve_dockerfile(params["path"], params["dockerfile"])]
    if params.get("platforms"):
        argv += ["--platform", ",".join(params["platforms"])]
    for tag in params.get("tags") or []:
        argv += ["--tag", tag]
    build_args = dict(params.get("build_args") or {})
    if params.get("inline_cache"):
        build_args[INLINE_CACHE_ARG] = "1"
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in (params.get("labels") or {}).items():
        argv += ["--label", f"{key}={value}"]
    if params.get("target"):
        argv += ["--target", params["target"]]
    for source in params.get("cache_from") or []:
        argv += ["--cache-from", source]
    # BUILDKIT_INLINE_CACHE=1 already exports the inline cache; adding --cache-to type=inline would be a duplicate.
    for destination in params.get("cache_to") or []:
        argv += ["--cache-to", destination]
    for index, secret in enumerate(params.get("secrets") or []):
        if secret.get("value") is not None:
            name = secret_env_name(index)
            env[name] = secret["value"]
            argv += ["--secret", f"id={secret['id']},env={name}"]
        else:
            argv += ["--secret", f"id={secret['id']},src={secret['src']}"]
    if params.get("provenance") is not None:
        argv.append(f"--provenance={str(params['provenance']).lower()}")
    if params.get("push"):
        argv.append("--push")
    if params.get("load"):
        argv.append("--load")
    if params.get("pull"):
        argv.append("--pull")
    if params.get("no_cache"):
        argv.append("--no-cache")
    if output:
        argv += ["--output", output]
    argv.append(params["path"])
    return BuildCommand(argv, env)


def parse_metadata(text: str) -> dict:
    """The --metadata-file JSON: the pushed or loaded image's digest and the rest, as buildx wrote it."""
    if not text.strip():
        return {}
    return load_json_object(text, "buildx's metadata file")


def digest_from(metadata: dict) -> str | None:
    return metadata.get("containerimage.digest")


_STEP_ERROR = re.compile(r"^#\d+ ERROR: (.*)$|^ERROR: (.*)$")
_STEP_HEADER = re.compile(r"^ > (\[.*)$")


def failure_summary(log: str, tail_lines: int = 20) -> str:
    """The failing step, BuildKit's error and the last lines of output, from a --progress plain log."""
    lines = log.splitlines()
    steps = [m.group(1) for m in map(_STEP_HEADER.match, lines) if m]
    errors = [m.group(1) or m.group(2) for m in map(_STEP_ERROR.match, lines) if m]
    parts = []
    if steps:
        parts.append(f"failing step: {steps[-1].rstrip(':')}")
    if errors:
        parts.append(f"error: {errors[-1]}")
    parts.append("last lines:\n" + "\n".join(lines[-tail_lines:]))
    return "\n".join(parts)


# A registry that answers 5xx (overloaded, restarting, a storage hiccup) is worth another try; a build error is not.
_REGISTRY_SERVER_ERROR = re.compile(r"unexpected status from \w+ request to \S+: 5\d\d |unexpected HTTP status: 5\d\d ")


def registry_server_error(log: str) -> bool:
    """Whether a failed build's log shows the registry answering with a server error (HTTP 5xx)."""
    return bool(_REGISTRY_SERVER_ERROR.search(log))


def cached_steps(log: str) -> int:
    """How many steps BuildKit answered from cache (``#7 CACHED``)."""
    return sum(1 for line in log.splitlines() if re.match(r"^#\d+ CACHED$", line.strip()))


def secret_values(secrets: Any) -> set[str]:
    """The values of O(secrets), to be masked wherever build output is shown or logged."""
    return {secret["value"] for secret in secrets or [] if secret.get("value")}
