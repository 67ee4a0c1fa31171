"""Issue 28: the GC policy the collection writes for a docker-container builder keeps BuildKit off a full disk, in
bytes and in inodes.

BuildKit's state sits on a small loop-mounted ext4 filesystem. A loop of distinct builds, one every INTERVAL seconds,
runs under a policy the buildx role would write (``[worker.oci] gc = true`` and ``gckeepstorage``, sized by the
collection's own formula, _gc_policy (what the gc_keep_bytes filter wraps), from the filesystem as _engine_info reads it, and
rendered by the collection's own buildkitd.toml writer) and under a control.

- bytes: 512 MiB with mkfs.ext4's defaults; each build adds a 30 MiB file. The policy's cap is
  multiarch_gc_keep_fraction (0.1) of the size (its inode term, 0.5 x inodes x 4 KiB = 12.5 % of the size, does not
  bind there). The control runs without GC and fills the disk.
- inodes: 512 MiB with only INODES inodes (mkfs.ext4 -N); each build adds FILES files of one byte, one 4 KiB block and
  one inode each. The byte term alone (51 MiB, 12 500 blocks) would let the cache outgrow the inodes, so the control is
  that policy without the inode term (multiarch_gc_keep_inode_fraction: 0), the policy the collection wrote before:
  BuildKit collects, frees nothing, and the builds run out of inodes (ENOSPC with most bytes free). The policy's cap
  is multiarch_gc_keep_inode_fraction (0.5) x inodes x block size: it keeps the cache under half the inodes.

BuildKit v0.13 collects at most once a minute (a second after a build ends, then not again for a minute), so between
two collections the cache grows by what a minute of builds adds: the room above the cap must hold that. The inode
loops are tuned for it: a build takes 197 inodes, a collection leaves the cache at about half the 8 192, a minute of
builds (15 at one every 4 s) adds about 2 950 on top, and without a collection that frees some the inodes run out at
about build 41 of the 45.

The four loops run at once (each its own BuildKit and filesystem), so the file takes as long as the longest loop.
Figures go to build/disk-gc.txt, which docs/reliability.md quotes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import render_buildkitd_config
from ansible_collections.multiarch.buildhost.plugins.module_utils._engine_info import data_root_space
from ansible_collections.multiarch.buildhost.plugins.module_utils._gc_policy import (
    KEEP_FRACTION,
    KEEP_INODE_FRACTION,
    KEEP_STORAGE_FALLBACK,
    keep_storage_bytes,
)

MIB = 1024 * 1024
FILESYSTEM_BYTES = 512 * MIB
# The bytes loops: each build copies a file of its own from a context of its own; its layer stays in the cache (the
# context's copy is replaced by the next build's). 20 builds, one every 5 s, add 600 MiB to a 512 MiB disk in 100 s,
# two of BuildKit's GC periods.
BYTES_BUILDS = 20
BLOB_BYTES = 30 * MIB
BYTES_INTERVAL = 5.0
# The inode loops: 8 192 inodes on 512 MiB (mkfs.ext4's default there is 32 768). Each build copies FILES one-byte
# files (FILES + 7 inodes: the files, the layer's directories, the snapshot's own). 45 builds, one every 4 s: 180 s,
# three GC periods. Without a collection the inodes run out at about build 41.
INODES = 8192
FILES = 190
INODE_BUILDS = 45
INODE_INTERVAL = 4.0
# How often a loop's watcher reads the filesystem (free inodes, bytes used), during builds too.
SAMPLE_SECONDS = 0.2
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

    def __init__(self, work: str, name: str, inodes: int | None):
        self.image = os.path.join(work, f"{name}.ext4")
        self.mount = os.path.join(work, name)
        os.mkdir(self.mount)
        with open(self.image, "wb") as handle:
            handle.truncate(FILESYSTEM_BYTES)
        _run(["mkfs.ext4", "-q", "-F", "-m", "0"] + (["-N", str(inodes)] if inodes else []) + [self.image])
        _run(["mount", "-o", "loop", self.image, self.mount])

    def statvfs(self) -> os.statvfs_result:
        return os.statvfs(self.mount)

    def close(self) -> None:
        subprocess.run(["umount", "-l", self.mount], capture_output=True, check=False)


class Watcher(threading.Thread):
    """Reads DISK every SAMPLE_SECONDS until stopped: the fewest free inodes and the most bytes used, builds included."""

    def __init__(self, disk: SmallDisk):
        super().__init__(daemon=True)
        self.disk = disk
        self.stopped = threading.Event()
        self.min_free_inodes: int | None = None
        self.max_used = 0

    def sample(self) -> None:
        fs = self.disk.statvfs()
        free = fs.f_favail
        self.min_free_inodes = free if self.min_free_inodes is None else min(self.min_free_inodes, free)
        self.max_used = max(self.max_used, (fs.f_blocks - fs.f_bfree) * fs.f_frsize)

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.sample()


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
        """Build the context's Dockerfile for build INDEX, keeping the result in the cache only (as a build with no
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


@dataclass(frozen=True)
class Variant:
    name: str
    inodes: int | None  # mkfs.ext4 -N; None: its default
    builds: int
    interval: float
    context: str  # "bytes" or "inodes": which build contexts
    # "collection": the policy as the buildx role sizes it; "bytes-only": the same without the inode term; None: no GC
    policy: str | None


VARIANTS = (
    Variant("disk-gc-policy", None, BYTES_BUILDS, BYTES_INTERVAL, "bytes", "collection"),
    Variant("disk-gc-none", None, BYTES_BUILDS, BYTES_INTERVAL, "bytes", None),
    Variant("inode-gc-policy", INODES, INODE_BUILDS, INODE_INTERVAL, "inodes", "collection"),
    Variant("inode-gc-bytes-only", INODES, INODE_BUILDS, INODE_INTERVAL, "inodes", "bytes-only"),
)


def _keep_bytes(disk: SmallDisk, policy: str) -> int:
    """gckeepstorage as the buildx role computes it (roles/buildx/vars/main.yml, buildx_gc_keep_bytes): the formula the
    gc_keep_bytes filter wraps, over the filesystem as docker_engine_info reads a data root, with the shared defaults.
    Not the filter itself: importing a filter plugin here loads ansible's controller side, after which the in-process
    module runs of other test files (test_bad_input.py) lose their module.warn warnings from the result."""
    space = data_root_space(disk.mount)
    return keep_storage_bytes(None, space["data_root_size_bytes"], KEEP_FRACTION, KEEP_STORAGE_FALLBACK,
                              inodes=space["data_root_inodes"], block_size=space["data_root_block_size"],
                              keep_inode_fraction=KEEP_INODE_FRACTION if policy == "collection" else 0)


def _loop(variant: Variant, context: str) -> dict:
    work = tempfile.mkdtemp(prefix=f"mbh-it-{variant.name}.")
    disk = SmallDisk(work, variant.name, variant.inodes)
    fs = disk.statvfs()
    figures = {"variant": variant.name, "policy": variant.policy, "size": fs.f_blocks * fs.f_frsize,
               "inodes": fs.f_files, "block_size": fs.f_frsize, "keep_bytes": None, "byte_term": None,
               "builds_planned": variant.builds, "interval_s": variant.interval, "builds": 0, "enospc_at": None,
               "max_used": 0, "max_cache": 0, "min_free_inodes": None, "cache_mib_after_each_build": [],
               "free_inodes_after_each_build": []}
    buildkit = watcher = None
    started = time.monotonic()
    try:
        config = None
        if variant.policy is not None:
            figures["keep_bytes"] = _keep_bytes(disk, variant.policy)
            figures["byte_term"] = int(figures["size"] * KEEP_FRACTION)
            config = render_buildkitd_config({"worker": {"oci": {"gc": True, "gckeepstorage": figures["keep_bytes"]}}})
        buildkit = Buildkit(f"mbh-it-{variant.name}", disk, config, context)
        watcher = Watcher(disk)
        watcher.start()
        # Builds start on a schedule, one every interval (or as soon as the last one ended, when it ran longer), so
        # that a minute holds the planned builds whatever the readings take.
        begun = time.monotonic()
        for index in range(variant.builds):
            done = buildkit.build(index)
            if done.returncode != 0:
                if "no space left on device" in (done.stdout + done.stderr):
                    figures["enospc_at"] = index + 1
                    break
                raise RuntimeError(f"{variant.name}: build {index} failed for another reason: "
                                   f"{(done.stderr or done.stdout)[-2000:]}")
            figures["builds"] = index + 1
            # The reading comes last in the interval, after the collection a build's end may have started.
            time.sleep(max(0.0, begun + (index + 1) * variant.interval - 0.3 - time.monotonic()))
            cache = buildkit.cache_bytes()
            figures["cache_mib_after_each_build"].append(round(cache / MIB, 1))
            figures["free_inodes_after_each_build"].append(disk.statvfs().f_favail)
            figures["max_cache"] = max(figures["max_cache"], cache)
            time.sleep(max(0.0, begun + (index + 1) * variant.interval - time.monotonic()))
        return figures
    finally:
        if watcher:
            watcher.stop()
            figures["min_free_inodes"], figures["max_used"] = watcher.min_free_inodes, watcher.max_used
        figures["seconds"] = round(time.monotonic() - started)
        if buildkit:
            buildkit.close()
        disk.close()
        shutil.rmtree(work, ignore_errors=True)


def _bytes_contexts(root: str) -> None:
    for index in range(BYTES_BUILDS):
        os.mkdir(os.path.join(root, str(index)), 0o755)
        with open(os.path.join(root, str(index), "blob"), "wb") as handle:
            handle.write(os.urandom(BLOB_BYTES))
        with open(os.path.join(root, str(index), "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write("FROM scratch\nCOPY blob /blob\n")


def _inode_contexts(root: str) -> None:
    """FILES one-byte files per build, named after the build: each build's layer is new."""
    for index in range(INODE_BUILDS):
        files = os.path.join(root, str(index), "files")
        os.makedirs(files, 0o755)
        for number in range(FILES):
            with open(os.path.join(files, f"{index}-{number}"), "wb") as handle:
                handle.write(b"x")
        with open(os.path.join(root, str(index), "Dockerfile"), "w", encoding="utf-8") as handle:
            handle.write("FROM scratch\nCOPY files /files\n")


def _record(figures: dict) -> None:
    os.makedirs(os.path.dirname(FIGURES), exist_ok=True)
    with open(FIGURES, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(figures) + "\n")


@pytest.fixture(scope="module")
def runs():
    """The four loops, run at once; each test reads its loop's figures (or the error that stopped it). The inode loops,
    the longest, start first; the bytes loops' contexts (600 MiB) are written while they run."""
    roots = {"inodes": tempfile.mkdtemp(prefix="mbh-it-inode-context."),
             "bytes": tempfile.mkdtemp(prefix="mbh-it-disk-context.")}
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(VARIANTS)) as pool:
            futures = {}
            for kind, root in roots.items():
                os.chmod(root, 0o755)
                (_bytes_contexts if kind == "bytes" else _inode_contexts)(root)
                futures.update({variant.name: pool.submit(_loop, variant, root)
                                for variant in VARIANTS if variant.context == kind})
            results: dict = {}
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                    _record(results[name])
                except Exception as exc:  # the test of that loop reports it; the others still stand
                    results[name] = exc
        _record({"all_loops_seconds": round(time.monotonic() - started)})  # contexts included
        yield results
    finally:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)


def _figures(runs: dict, name: str) -> dict:
    result = runs[name]
    if isinstance(result, Exception):
        raise result
    return result


def test_the_gc_policy_the_collection_writes_keeps_buildkit_off_a_full_disk(runs):
    figures = _figures(runs, "disk-gc-policy")
    keep = figures["keep_bytes"]
    assert keep == figures["byte_term"], figures  # mkfs.ext4's default inodes: the inode term does not bind
    assert figures["enospc_at"] is None and figures["builds"] == BYTES_BUILDS, figures
    caches = figures["cache_mib_after_each_build"]
    # A collection ran and brought the cache back to the cap (a build's worth above it at most: the one that ran
    # between the collection and the reading).
    collections = [i for i in range(1, len(caches)) if caches[i] < caches[i - 1]]
    assert collections, figures
    assert min(caches[i] for i in collections) * MIB <= keep + 2 * BLOB_BYTES, figures
    assert figures["max_used"] < figures["size"], figures


def test_without_gc_the_same_loop_fills_the_disk(runs):
    figures = _figures(runs, "disk-gc-none")
    assert figures["enospc_at"] is not None, figures
    assert figures["cache_mib_after_each_build"] == sorted(figures["cache_mib_after_each_build"]), figures


def test_the_inode_term_keeps_buildkit_off_a_filesystem_with_few_inodes(runs):
    figures = _figures(runs, "inode-gc-policy")
    keep = figures["keep_bytes"]
    # Few inodes: half of them in one block each is below a tenth of the size, and decides the cap.
    assert keep == int(KEEP_INODE_FRACTION * figures["inodes"] * figures["block_size"]) < figures["byte_term"], figures
    assert figures["enospc_at"] is None and figures["builds"] == INODE_BUILDS, figures
    assert figures["min_free_inodes"] > 0, figures
    caches = figures["cache_mib_after_each_build"]
    collections = [i for i in range(1, len(caches)) if caches[i] < caches[i - 1]]
    assert collections, figures
    # Back to the cap, with at most the build that ran between the collection and the reading on top.
    layer = (FILES + 2) * figures["block_size"]
    assert min(caches[i] for i in collections) * MIB <= keep + 2 * layer, figures


def test_the_byte_cap_alone_runs_out_of_inodes_with_bytes_to_spare(runs):
    figures = _figures(runs, "inode-gc-bytes-only")
    # The cap the collection wrote before the inode term: more blocks than the filesystem has inodes.
    assert figures["keep_bytes"] == figures["byte_term"] > figures["inodes"] * figures["block_size"], figures
    assert figures["enospc_at"] is not None, figures
    # BuildKit collected (at most once a minute) but freed nothing: the cap was never reached.
    assert figures["cache_mib_after_each_build"] == sorted(figures["cache_mib_after_each_build"]), figures
    # Inodes ran out, not bytes.
    assert figures["min_free_inodes"] < FILES, figures
    assert figures["max_used"] < figures["size"] / 4, figures
