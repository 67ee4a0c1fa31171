# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one buildx build on the host (or, with cache_per_platform, one per platform at once, joined into one index): the
log streamed to a file as it runs, retries on registry server errors, and a ``changed`` that means an image changed."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import (
    BuildCommand,
    build_command,
    cached_steps,
    default_log_file,
    digest_from,
    failure_summary,
    parse_metadata,
    registry_server_error,
    build_secret_values,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._build_split import (
    check_cache_per_platform,
    create_index_command,
    platform_build_command,
    platform_params,
    platform_suffix,
    splits,
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


@dataclass
class _Outcome:
    """One build's last attempt."""

    rc: int
    attempts: int
    duration: float
    output: str          # its output, secrets masked (the last lines, for the failure summary and the cache count)
    metadata: dict


@contextlib.contextmanager
def _metadata_directory(owner: Owner) -> Iterator[str]:
    # buildx runs as the owner and writes its metadata files into a directory of theirs; they are read back through the
    # safe layer (the owner could have swapped one for a link to a file of root's).
    directory = tempfile.mkdtemp(prefix="buildx-metadata.")
    try:
        os.chown(directory, owner.uid, owner.gid)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # rmtree never follows links


def _build_with_retries(cli: DockerCli, owner: Owner, command: BuildCommand, shown: str, metadata_file: str, push: bool,
                        secrets: set[str], write: Callable[[str], None]) -> _Outcome:
    """Run one build COMMAND, its masked output to WRITE as it comes, again after a registry server error when pushing."""
    tail: list[str] = []

    def sink(line: str) -> None:
        line = mask(line, secrets)
        write(line)
        tail.append(line)
        del tail[:-400]

    for attempt in range(1, REGISTRY_ATTEMPTS + 1):
        started = time.monotonic()
        write(f"# attempt {attempt}: {shown}\n")
        tail.clear()
        rc = cli.stream(command.argv, sink, env=command.env)
        duration = round(time.monotonic() - started, 2)
        if rc == 0 or not (push and registry_server_error("".join(tail))) or attempt == REGISTRY_ATTEMPTS:
            break
        time.sleep(RETRY_DELAY_SECONDS * attempt)
    written = read_file(metadata_file, MAX_METADATA_BYTES, Trust.root_and(owner.uid, owner.gid))
    return _Outcome(rc, attempt, duration, "".join(tail), parse_metadata(written.content.decode("utf-8", errors="replace")))


def _build_each_platform(cli: DockerCli, owner: Owner, params: dict, metadata_dir: str, secrets: set[str],
                         log: Any) -> dict[str, _Outcome]:
    """One build per platform, all at once, each line of their output in LOG prefixed with its platform."""
    lock = threading.Lock()
    outcomes: dict[str, _Outcome] = {}
    errors: dict[str, Exception] = {}

    def build(platform: str) -> None:
        def write(line: str) -> None:
            with lock:
                log.write(f"[{platform}] {line}")
                log.flush()

        metadata_file = os.path.join(metadata_dir, f"metadata-{platform_suffix(platform)}.json")
        command = platform_build_command(params, platform, metadata_file)
        shown = "docker " + platform_build_command(params, platform, "METADATA_FILE").shown()
        try:
            outcomes[platform] = _build_with_retries(cli, owner, command, shown, metadata_file, True, secrets, write)
        except Exception as exc:  # raised again in the module's own thread, below
            errors[platform] = exc

    threads = [threading.Thread(target=build, args=(platform,), name=f"build {platform}") for platform in params["platforms"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise next(iter(errors.values()))
    return outcomes


def _create_index(cli: DockerCli, params: dict, outcomes: dict[str, _Outcome], log: Any, result: dict) -> None:
    """Join the platforms' pushed images into one index under every tag."""
    digests = {platform: digest_from(outcome.metadata) for platform, outcome in outcomes.items()}
    missing = sorted(platform for platform, digest in digests.items() if not digest)
    if missing:
        raise BuildFailed(f"buildx reported no pushed digest for {', '.join(missing)}; cannot join the platforms into one"
                          " index", **result)
    argv = create_index_command(params, digests)
    log.write("# docker " + " ".join(argv) + "\n")
    rc, out, err = cli.run(argv)
    log.write(out + err)
    log.flush()
    if rc != 0:
        raise BuildFailed(cli.explain(f"joining the platforms into one index failed (rc={rc}): {(err or out).strip()}"),
                          **result)


def _shown_command(params: dict) -> str:
    """RV(command): the build, or with cache_per_platform each platform's build and then the index, one per line."""
    if not splits(params):
        return "docker " + build_command(params, "METADATA_FILE").shown()
    lines = ["docker " + platform_build_command(params, platform, "METADATA_FILE").shown() for platform in params["platforms"]]
    placeholders = {platform: f"<{platform} digest>" for platform in params["platforms"]}
    return "\n".join(lines + ["docker " + " ".join(create_index_command(params, placeholders))])


def run_build(cli: DockerCli, owner: Owner, params: dict, check_mode: bool) -> dict[str, Any]:
    """Build (and push or load) as PARAMS say; returns the module's result. Check mode builds and writes nothing."""
    if not os.path.isdir(params["path"]):
        raise BuildhostError(f"the build context {params['path']} is not a directory")
    check_cache_per_platform(params)
    if params.get("cache_per_platform") and len(params["platforms"]) == 1:
        params = platform_params(params, params["platforms"][0])  # one build, but the same cache refs as when split
    log_file = params.get("log_file") or default_log_file(params)
    split = splits(params)
    result: dict[str, Any] = dict(command=_shown_command(params), log_file=log_file)
    if check_mode:
        return dict(result, changed=True, msg="check mode: nothing was built")

    before = _pushed_images(cli, params) if params["push"] else None
    secrets = build_secret_values(params)
    started = time.monotonic()
    with _metadata_directory(owner) as metadata_dir, _log_writer(log_file, owner) as log:
        if split:
            outcomes = _build_each_platform(cli, owner, params, metadata_dir, secrets, log)
        else:
            def write(line: str) -> None:
                log.write(line)
                log.flush()  # so that tail -f on the host follows a long build

            metadata_file = os.path.join(metadata_dir, "metadata.json")
            outcomes = {"": _build_with_retries(cli, owner, build_command(params, metadata_file), result["command"],
                                                metadata_file, params["push"], secrets, write)}
        result["attempts"] = max(outcome.attempts for outcome in outcomes.values())
        failed = {platform: outcome for platform, outcome in outcomes.items() if outcome.rc != 0}
        if failed:
            raise BuildFailed("\n".join(
                f"the {platform + ' ' if platform else ''}build failed (rc={outcome.rc}); full log in {log_file}\n"
                f"{failure_summary(outcome.output)}" for platform, outcome in failed.items()), **result)
        if split:
            _create_index(cli, params, outcomes, log, result)
    duration = round(time.monotonic() - started, 2) if split else outcomes[""].duration
    output = "".join(outcome.output for outcome in outcomes.values())

    if split:
        metadata = {platform: outcome.metadata for platform, outcome in outcomes.items()}
        digest = None  # the index imagetools create made: read back below
    else:
        metadata = outcomes[""].metadata
        digest = digest_from(metadata)
    changed = True
    if params["push"]:
        after = _pushed_images(cli, params)
        if split:
            if after is None or not after["exists"]:
                raise BuildFailed(f"the index {params['tags'][0]} cannot be read back after joining the platforms", **result)
            digest = after["digest"]
        if before is not None and after is not None and before["exists"]:
            # Per-platform image digests: the index digest also moves when only the provenance timestamp does.
            changed = image_platform_digests(before) != image_platform_digests(after)
        else:
            changed = before is None or not before["exists"] or digest != before["digest"]
    result.update(changed=changed, digest=digest, previous_digest=before["digest"] if before else None,
                  metadata=metadata, cached_steps=cached_steps(output), duration=duration)
    if split:
        result["platform_builds"] = {
            platform: dict(digest=digest_from(outcome.metadata), duration=outcome.duration, attempts=outcome.attempts,
                           cached_steps=cached_steps(outcome.output))
            for platform, outcome in outcomes.items()}
    return result
