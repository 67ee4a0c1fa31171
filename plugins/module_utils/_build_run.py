# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one buildx build on the host: the log streamed to a file as it runs, retries on registry server errors, and a
``changed`` that means an image changed."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from typing import Any, Iterator

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import (
    build_command,
    cached_steps,
    default_log_file,
    digest_from,
    failure_summary,
    parse_metadata,
    registry_server_error,
    secret_values,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import image_platform_digests, read_image
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import mask
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import ROOT_DIRECTORY, Trust, open_parent, read_file

# Attempts when the registry answers a push with a server error, and the pause before the second (doubled after).
REGISTRY_ATTEMPTS = 3
MAX_METADATA_BYTES = 1 << 20
RETRY_DELAY_SECONDS = 5


class BuildFailed(BuildhostError):
    """The build ran and failed; the message carries the failing step and the log's path."""


def _pushed_images(cli: DockerCli, params: dict) -> dict[str, Any] | None:
    """What the first tag points at now, or None when the registry cannot be read (the build then counts as a change)."""
    try:
        return read_image(cli, params["tags"][0])
    except BuildhostError:
        return None


@contextlib.contextmanager
def _log_writer(path: str, owner: Owner) -> Iterator[Any]:
    """Open PATH for the build log through the safe layer: the owner may control its directory."""
    with open_parent(path, Trust.root_and(owner.uid, owner.gid), ROOT_DIRECTORY, lock=False) as parent:
        # A new inode every time, renamed over whatever has the name (a FIFO, a link, a hard link the owner planted
        # would otherwise be opened and written by root), then written while the build runs.
        temporary = f".{parent.name}.{os.getpid()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o640, dir_fd=parent.fd)
            os.fchown(fd, owner.uid, owner.gid)
            os.rename(temporary, parent.name, src_dir_fd=parent.fd, dst_dir_fd=parent.fd)
        except OSError as exc:
            raise BuildhostError(f"the build log {path} cannot be written: {exc.strerror}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle


def run_build(cli: DockerCli, owner: Owner, params: dict, check_mode: bool) -> dict[str, Any]:
    """Build (and push or load) as PARAMS say; returns the module's result. Check mode builds and writes nothing."""
    if not os.path.isdir(params["path"]):
        raise BuildhostError(f"the build context {params['path']} is not a directory")
    log_file = params.get("log_file") or default_log_file(params)
    shown_command = build_command(params, "METADATA_FILE")
    result: dict[str, Any] = dict(command="docker " + shown_command.shown(), log_file=log_file)
    if check_mode:
        return dict(result, changed=True, msg="check mode: nothing was built")

    before = _pushed_images(cli, params) if params["push"] else None
    secrets = secret_values(params.get("secrets"))
    # buildx runs as the owner and writes its metadata file into a directory of theirs; it is read back through the
    # safe layer (the owner could have swapped it for a link to a file of root's).
    metadata_dir = tempfile.mkdtemp(prefix="buildx-metadata.")
    metadata_file = os.path.join(metadata_dir, "metadata.json")
    try:
        os.chown(metadata_dir, owner.uid, owner.gid)
        command = build_command(params, metadata_file)
        tail: list[str] = []
        with _log_writer(log_file, owner) as log:
            def sink(line: str) -> None:
                line = mask(line, secrets)
                log.write(line)
                log.flush()  # so that tail -f on the host follows a long build
                tail.append(line)
                del tail[:-400]

            for attempt in range(1, REGISTRY_ATTEMPTS + 1):
                started = time.monotonic()
                log.write(f"# attempt {attempt}: {result['command']}\n")
                tail.clear()
                rc = cli.stream(command.argv, sink, env=command.env)
                duration = round(time.monotonic() - started, 2)
                result["attempts"] = attempt
                if rc == 0 or not (params["push"] and registry_server_error("".join(tail))) or attempt == REGISTRY_ATTEMPTS:
                    break
                time.sleep(RETRY_DELAY_SECONDS * attempt)
        written = read_file(metadata_file, MAX_METADATA_BYTES, Trust.root_and(owner.uid, owner.gid))
        metadata = parse_metadata(written.content.decode("utf-8", errors="replace"))
    finally:
        shutil.rmtree(metadata_dir, ignore_errors=True)  # rmtree never follows links
    if rc != 0:
        raise BuildFailed(f"the build failed (rc={rc}); full log in {log_file}\n{failure_summary(''.join(tail))}", **result)

    digest = digest_from(metadata)
    changed = True
    if params["push"]:
        after = _pushed_images(cli, params)
        if before is not None and after is not None and before["exists"]:
            # Per-platform image digests: the index digest also moves when only the provenance timestamp does.
            changed = image_platform_digests(before) != image_platform_digests(after)
        else:
            changed = before is None or not before["exists"] or digest != before["digest"]
    return dict(result, changed=changed, digest=digest, previous_digest=before["digest"] if before else None,
                metadata=metadata, cached_steps=cached_steps("".join(tail)), duration=duration)
