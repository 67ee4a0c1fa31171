# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One buildx build: the command line, secrets kept off it, the metadata file, and a readable failure."""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import load_json_object
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import is_secret_key, redact

INLINE_CACHE_ARG = "BUILDKIT_INLINE_CACHE"
DEFAULT_LOG_DIR = "/var/log/multiarch-buildhost"
SECRET_ENV_PREFIX = "MBH_BUILD_SECRET_"


class BuildCommandError(BuildhostError):
    """The options cannot be turned into one buildx command."""


@dataclass
class BuildCommand:
    argv: list
    env: dict = field(default_factory=dict)    # secret values travel here, never in argv

    def shown(self) -> str:
        """The command as it may be logged: secrets are referenced by environment variable only, and credentials in a
        URL that stayed on argv (a proxy build arg) are masked."""
        return " ".join(redact(list(self.argv))[0])


def secret_env_name(index: int) -> str:
    return f"{SECRET_ENV_PREFIX}{index}"


# A build arg given as `--build-arg NAME` takes its value from buildx's environment, so values stay off argv (any user
# on the host reads argv from /proc) and out of the logged command. Names the docker CLI, buildx or Go's runtime read
# from their own environment cannot be used that way without steering the client, so those keep NAME=VALUE on argv;
# none of them is a place for a secret, and URL credentials in them are masked where the command is shown.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLIENT_READS = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|SHELL|TMPDIR|TZ|TERM|LANG|LANGUAGE|LC_\w+|SSL_CERT_(FILE|DIR)|(HTTPS?|NO|ALL|FTP)_PROXY"
    r"|(DOCKER|BUILDX|BUILDKIT|CGO|OTEL|AWS|ACTIONS|XDG|GIT)_\w*|GO\w*)$", re.IGNORECASE)
# Cache attributes that are credentials, and the variable buildx fills each from when the attribute is absent
# (buildx's addAwsCredentials and addGithubToken): moved there, they never reach argv or the logged command.
CACHE_CREDENTIALS = {
    "s3": {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
           "session_token": "AWS_SESSION_TOKEN"},
    "gha": {"token": "ACTIONS_RUNTIME_TOKEN"},
}


def build_arg_in_environment(name: str) -> bool:
    return bool(_ENV_NAME.match(name)) and not _CLIENT_READS.match(name)


def _cache_entry_without_credentials(entry: str, option: str, env: dict) -> str:
    """ENTRY (a --cache-from/--cache-to value) with its credential attributes moved into ENV."""
    if "=" not in entry:
        return entry  # the short form, a plain image reference
    fields = next(csv.reader([entry]))
    attrs = [field.split("=", 1) if "=" in field else [field, None] for field in fields]
    kind = next((value for key, value in attrs if key.strip().lower() == "type"), "")
    credentials = CACHE_CREDENTIALS.get(kind or "", {})
    kept = []
    for key, value in attrs:
        variable = credentials.get(key.strip().lower())
        if variable is None or value is None:
            kept.append(key if value is None else f"{key}={value}")
        elif env.setdefault(variable, value) != value:
            raise BuildCommandError(f"{option}: two type={kind} cache entries carry different {key.strip()} values;"
                                    f" buildx takes one from {variable}, so give every entry the same credentials")
    if len(kept) == len(attrs):
        return entry
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(kept)
    return line.getvalue()


def cache_credential_values(params: dict) -> set[str]:
    """The credential values in O(cache_from) and O(cache_to), to be masked wherever the module prints."""
    env: dict = {}
    for option in ("cache_from", "cache_to"):
        for entry in params.get(option) or []:
            try:
                _cache_entry_without_credentials(entry, option, env)
            except BuildCommandError:
                continue
    return set(env.values())


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
        if build_arg_in_environment(key):
            env[key] = str(value)
            argv += ["--build-arg", key]
        else:
            argv += ["--build-arg", f"{key}={value}"]
    for key, value in (params.get("labels") or {}).items():
        argv += ["--label", f"{key}={value}"]
    if params.get("target"):
        argv += ["--target", params["target"]]
    for source in params.get("cache_from") or []:
        argv += ["--cache-from", _cache_entry_without_credentials(source, "cache_from", env)]
    # BUILDKIT_INLINE_CACHE=1 already exports the inline cache; adding --cache-to type=inline would be a duplicate.
    for destination in params.get("cache_to") or []:
        argv += ["--cache-to", _cache_entry_without_credentials(destination, "cache_to", env)]
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


def build_secret_values(params: dict) -> set[str]:
    """Every value of PARAMS to mask wherever the module prints: O(secrets), cache credentials, and build args named
    like a secret (a build arg is no place for one: provenance records it; they are masked all the same)."""
    named = {str(value) for key, value in (params.get("build_args") or {}).items()
             if is_secret_key(key) and value is not None and len(str(value)) >= 4}
    return secret_values(params.get("secrets")) | cache_credential_values(params) | named
