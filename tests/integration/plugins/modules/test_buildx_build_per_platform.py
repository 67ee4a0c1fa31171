"""buildx_build's cache_per_platform on a real two-node remote builder (one BuildKit daemon per platform, mutual TLS).

Why the option exists: with one node per platform, a single multi-platform build lets each node export its cache to
the same registry ref, and the last one wins (test_a_shared_cache_ref_keeps_only_one_platforms_cache).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

LAB_ROOTFS = "/var/lib/multiarch-lab/rootfs"
LAB_REGISTRY = "127.0.0.1:5000"
BUILDER = "mbh-it-per-platform"
PLATFORMS = ["linux/amd64", "linux/arm64"]
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"))


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr or done.stdout}"
    return done.stdout


@pytest.fixture(scope="module")
def two_node_builder(remote_buildkit):
    """A remote-driver builder with one node per platform, as root (the modules' default owner)."""
    subprocess.run(["docker", "buildx", "rm", BUILDER], capture_output=True, check=False)
    for index, node in enumerate(remote_buildkit.nodes):
        docker("buildx", "create", "--name", BUILDER, *(["--append"] if index else []), "--driver", "remote",
               "--driver-opt", remote_buildkit.builder_driver_opts, "--platform", node["platform"],
               "--node", node["name"], node["endpoint"])
    docker("buildx", "inspect", "--bootstrap", BUILDER)
    yield BUILDER
    subprocess.run(["docker", "buildx", "rm", BUILDER], capture_output=True, check=False)


def prune(builder: str) -> None:
    """Forget everything both nodes have built: what is cached now can only come from the registry."""
    docker("buildx", "prune", "-af", "--builder", builder)


def context(tmp_path, run_line: str = 'RUN ["/bin/busybox", "sh", "-c", "uname -m > /arch"]') -> str:
    """Each platform's static busybox from the lab's rootfs, and two RUN steps unique to this test run."""
    for arch in ("amd64", "arm64"):
        shutil.copytree(os.path.join(LAB_ROOTFS, arch), tmp_path / "rootfs" / arch, symlinks=True)
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nARG TARGETARCH\nCOPY rootfs/${TARGETARCH}/ /\n"
        f'RUN ["/bin/busybox", "sh", "-c", "echo {uuid.uuid4().hex} > /run-id"]\n{run_line}\n')
    return str(tmp_path)


def registry_has(reference: str) -> bool:
    repository, tag = reference[len(LAB_REGISTRY) + 1:].rsplit(":", 1)
    request = urllib.request.Request(f"http://{LAB_REGISTRY}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


_STEP = re.compile(r"^(?:\[(?P<prefix>linux/[^\]]+)\] )?#(?P<id>\d+) (?P<rest>.*)$")
_RUN = re.compile(r"^\[[^\]]*\] (?P<run>RUN .*)$")


def run_steps(log: str) -> list[tuple[str | None, str, bool]]:
    """(platform prefix, RUN instruction, whether it was CACHED) for each RUN step of a --progress plain log.

    The platform is the line's prefix when each platform has its own build; a multi-node build's log does not say
    which node ran a RUN step.
    """
    runs, cached = {}, set()
    for line in log.splitlines():
        step = _STEP.match(line)
        if not step:
            continue
        key = (step["prefix"], step["id"])
        rest = step["rest"].strip()
        if rest == "CACHED":
            cached.add(key)
        elif _RUN.match(rest):
            runs[key] = _RUN.match(rest)["run"]
    return [(key[0], run, key in cached) for key, run in sorted(runs.items())]


def cached_runs_by_platform(log: str) -> dict[str, list[bool]]:
    by_platform: dict[str, list[bool]] = {}
    for step in run_steps(log):
        by_platform.setdefault(step[0], []).append(step[2])
    return by_platform


def build_args(tmp_path, image: str, cache: str, per_platform: bool) -> dict:
    return {"path": context(tmp_path), "tags": [f"{image}:1", f"{image}:latest"], "platforms": PLATFORMS, "push": True,
            "builder": BUILDER, "provenance": False, "cache_per_platform": per_platform,
            "cache_from": [f"type=registry,ref={cache}"], "cache_to": [f"type=registry,ref={cache},mode=max"],
            "log_file": str(tmp_path / "build.log")}


def test_each_platform_is_built_alone_with_its_own_cache_ref_and_joined_into_one_index(run_module, tmp_path, two_node_builder):
    image = f"{LAB_REGISTRY}/mbh-test/per-platform-{uuid.uuid4().hex[:8]}"
    result = run_module("buildx_build", build_args(tmp_path, image, f"{image}:buildcache", per_platform=True))
    assert not result.failed, result.get("msg")
    assert result["changed"] is True
    assert sorted(result["platform_builds"]) == PLATFORMS
    for tag in (f"{image}:1", f"{image}:latest"):
        index = run_module("imagetools_info", {"name": tag})
        assert index["exists"] and sorted(index["platforms"]) == PLATFORMS, index
        assert index["digest"] == result["digest"]
    images = {m["platform"]: m["digest"] for m in run_module("imagetools_info", {"name": f"{image}:1"})["manifests"]}
    for platform in PLATFORMS:
        assert result["platform_builds"][platform]["digest"] == images[platform]  # provenance off: the image itself
    assert registry_has(f"{image}:buildcache-linux-amd64") and registry_has(f"{image}:buildcache-linux-arm64")
    assert not registry_has(f"{image}:buildcache")
    log = open(result["log_file"], encoding="utf-8").read()
    assert "[linux/amd64] #" in log and "[linux/arm64] #" in log
    assert sorted(cached_runs_by_platform(log)) == PLATFORMS
    assert len(result["command"].splitlines()) == 3 and "imagetools create" in result["command"]


def test_after_pruning_both_nodes_every_platforms_run_steps_come_from_its_cache(run_module, tmp_path, two_node_builder):
    image = f"{LAB_REGISTRY}/mbh-test/per-platform-{uuid.uuid4().hex[:8]}"
    args = build_args(tmp_path, image, f"{image}:buildcache", per_platform=True)
    first = run_module("buildx_build", args)
    assert not first.failed, first.get("msg")
    prune(two_node_builder)
    again = run_module("buildx_build", args)
    assert not again.failed, again.get("msg")
    steps = cached_runs_by_platform(open(again["log_file"], encoding="utf-8").read())
    assert steps == {platform: [True, True] for platform in PLATFORMS}, steps
    assert all(again["platform_builds"][platform]["cached_steps"] >= 2 for platform in PLATFORMS)
    assert again["changed"] is False and again["digest"] == first["digest"]


def test_a_shared_cache_ref_keeps_only_one_platforms_cache(run_module, tmp_path, two_node_builder):
    """Without the option: both nodes export to the one ref and the last wins, so one platform rebuilds from scratch."""
    image = f"{LAB_REGISTRY}/mbh-test/shared-cache-{uuid.uuid4().hex[:8]}"
    args = build_args(tmp_path, image, f"{image}:buildcache", per_platform=False)
    first = run_module("buildx_build", args)
    assert not first.failed, first.get("msg")
    assert "platform_builds" not in first
    prune(two_node_builder)
    again = run_module("buildx_build", args)
    assert not again.failed, again.get("msg")
    steps = run_steps(open(again["log_file"], encoding="utf-8").read())
    by_instruction: dict[str, list[bool]] = {}
    for step in steps:
        by_instruction.setdefault(step[1], []).append(step[2])
    # Each RUN ran on both nodes: one node's came from the cache, the other's, whose cache was overwritten, ran again.
    assert len(by_instruction) == 2 and all(sorted(flags) == [False, True] for flags in by_instruction.values()), steps


def test_one_failing_platform_fails_the_task_with_its_log_and_moves_no_tag(run_module, tmp_path, two_node_builder):
    image = f"{LAB_REGISTRY}/mbh-test/per-platform-{uuid.uuid4().hex[:8]}"
    args = dict(build_args(tmp_path, image, f"{image}:buildcache", per_platform=True),
                path=context(tmp_path / "failing", 'RUN ["/bin/busybox", "sh", "-c", "test $(uname -m) = x86_64 || exit 7"]'))
    result = run_module("buildx_build", args)
    assert result.failed
    assert "the linux/arm64 build failed" in result["msg"] and "linux/amd64 build failed" not in result["msg"]
    assert "exit code: 7" in result["msg"]
    assert not registry_has(f"{image}:1")
