"""Issue 28: the GC policy the collection writes for a docker-container builder keeps BuildKit off a full disk.

BuildKit's state sits on a small loop-mounted ext4 filesystem. A loop of distinct builds, one every BUILD_INTERVAL
seconds, each adding BLOB_BYTES to the cache, runs once under the policy buildx writes (``[worker.oci] gc = true`` and
``gckeepstorage`` at multiarch_gc_keep_fraction of the filesystem, rendered by the collection's own buildkitd.toml
writer) and once without GC. The first never hits ENOSPC and its collections bring the cache back to the cap; the
second fills the disk. BuildKit v0.13 collects at most once a minute, a second after a build ends, so between two
collections the cache grows by what a minute of builds adds: the cap must leave that much room. Figures go to
build/disk-gc.txt, which docs/reliability.md quotes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import render_buildkitd_config

MIB = 1024 * 1024
FILESYSTEM_BYTES = 512 * MIB
BUILDS = 20
# Each build copies a file of its own from a context of its own: its layer stays in the cache (the context's copy is
# replaced by the next build's).
BLOB_BYTES = 30 * MIB
# A build every 5 seconds: 20 of them add 600 MiB to a 512 MiB disk in 100 s, two of BuildKit's GC periods.
BUILD_INTERVAL = 5.0
# multiarch_gc_keep_fraction's default, as the buildx role applies it to the data root's size.
KEEP_FRACTION = 0.1
FIGURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "build", "disk-gc.txt")
# The lab's BuildKit (tests/lab/buildkit.sh), in the lab registry and the engine.
IMAGE = "127.0.0.1:5000/moby/buildkit:v0.13.2"


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: rc={done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done


class SmallDisk:
    """An ext4 filesystem of FILESYSTEM_BYTES in a file, loop-mounted, holding one BuildKit's state."""

    def __init__(self, work: str, name: str):
        self.image = os.path.join(work, f"{name}.ext4")
        self.mount = os.path.join(work, name)
        os.mkdir(self.mount)
        with open(self.image, "wb") as handle:
            handle.truncate(FILESYSTEM_BYTES)
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image])
        _run(["mount", "-o", "loop", self.image, self.mount])

    def used_bytes(self) -> int:
        fs = os.statvfs(self.mount)
        return (fs.f_blocks - fs.f_bfree) * fs.f_frsize

    def size_bytes(self) -> int:
        fs = os.statvfs(self.mount)
        return fs.f_blocks * fs.f_frsize

    def close(self) -> None:
        subprocess.run(["umount", "-l", self.mount], capture_output=True, check=False)


class Buildkit:
    """BuildKit in its container, as a docker-container builder runs it, with its state on DISK."""

    def __init__(self, name: str, disk: SmallDisk, config: str | None, context: str):
        self.container = name
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        argv = ["docker", "run", "-d", "--name", name, "--privileged", "-v", f"{disk.mount}:/var/lib/buildkit",
                "-v", f"{context}:/contexts:ro"]
        if config is not None:
            path = os.path.join(os.path.dirname(disk.mount), f"{name}.toml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(config)
            argv += ["-v", f"{path}:/etc/buildkit/buildkitd.toml:ro"]
        # Without a config: no GC at all (BuildKit's own default policy would collect too).
        _run(argv + [IMAGE] + ([] if config is not None else ["--oci-worker-gc=false"]))
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", name, "buildctl", "debug", "workers"], capture_output=True,
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.5)

    def build(self, index: int) -> subprocess.CompletedProcess:
        """Build the context's Dockerfile for blob INDEX, keeping the result in the cache only (as a build with no
        output, or one whose push failed, does)."""
        return subprocess.run(
            ["docker", "exec", self.container, "buildctl", "build", "--frontend", "dockerfile.v0",
             "--local", f"context=/contexts/{index}", "--local", f"dockerfile=/contexts/{index}", "--progress", "plain"],
            capture_output=True, text=True, check=False)

    def cache_bytes(self) -> int:
        # One JSON array of the cache records.
        done = _run(["docker", "exec", self.container, "buildctl", "du", "--format", "{{json .}}"])
        return sum(record.get("size", 0) for record in json.loads(done.stdout or "null") or [])

    def close(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, check=False)


@pytest.fixture(scope="module")
def build_context():
    context = tempfile.mkdtemp(prefix="mbh-it-disk-context.")
    os.chmod(context, 0o755)
    for index in range(BUILDS):
        os.mkdir(os.path.join(context, str(index)), 0o755)
        with open(os.path.join(context, str(index), "blob"), "wb") as handle:
            handle.write(os.urandom(BLOB_BYTES))
        with open(os.path.join(context, str(index), "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write("FROM scratch\nCOPY blob /blob\n")
    yield context
    shutil.rmtree(context, ignore_errors=True)


def _loop(name: str, config: str | None, context: str, keep: int | None) -> dict:
    work = tempfile.mkdtemp(prefix=f"mbh-it-{name}.")
    disk = SmallDisk(work, name)
    buildkit = None
    figures = {"variant": name, "keep_bytes": keep, "builds": 0, "enospc_at": None, "max_used": 0, "max_cache": 0,
               "cache_mib_after_each_build": []}
    try:
        buildkit = Buildkit(f"mbh-it-{name}", disk, config, context)
        for index in range(BUILDS):
            started = time.monotonic()
            done = buildkit.build(index)
            if done.returncode != 0:
                if "no space left on device" in (done.stdout + done.stderr):
                    figures["enospc_at"] = index + 1
                    break
                raise RuntimeError(f"build {index} failed for another reason: {(done.stderr or done.stdout)[-2000:]}")
            figures["builds"] = index + 1
            time.sleep(max(0.0, BUILD_INTERVAL - (time.monotonic() - started)))
            cache = buildkit.cache_bytes()
            figures["cache_mib_after_each_build"].append(round(cache / MIB))
            figures["max_used"] = max(figures["max_used"], disk.used_bytes())
            figures["max_cache"] = max(figures["max_cache"], cache)
        figures["size"] = disk.size_bytes()
        return figures
    finally:
        if buildkit:
            buildkit.close()
        disk.close()
        shutil.rmtree(work, ignore_errors=True)


def _record(figures: dict) -> None:
    os.makedirs(os.path.dirname(FIGURES), exist_ok=True)
    with open(FIGURES, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(figures) + "\n")


def test_the_gc_policy_the_collection_writes_keeps_buildkit_off_a_full_disk(build_context):
    keep = int(FILESYSTEM_BYTES * KEEP_FRACTION)
    config = render_buildkitd_config({"worker": {"oci": {"gc": True, "gckeepstorage": keep}}})
    figures = _loop("disk-gc-policy", config, build_context, keep)
    _record(figures)
    assert figures["enospc_at"] is None and figures["builds"] == BUILDS, figures
    caches = figures["cache_mib_after_each_build"]
    # A collection ran and brought the cache back to the cap (a build's worth above it at most: the one that ran
    # between the collection and the reading).
    collections = [i for i in range(1, len(caches)) if caches[i] < caches[i - 1]]
    assert collections, figures
    assert min(caches[i] for i in collections) * MIB <= keep + 2 * BLOB_BYTES, figures
    assert figures["max_used"] < figures["size"], figures


def test_without_gc_the_same_loop_fills_the_disk(build_context):
    figures = _loop("disk-gc-none", None, build_context, None)
    _record(figures)
    assert figures["enospc_at"] is not None, figures
    assert figures["cache_mib_after_each_build"] == sorted(figures["cache_mib_after_each_build"]), figures
