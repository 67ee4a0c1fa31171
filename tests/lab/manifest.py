#!/usr/bin/env python3
"""What the lab was built from, and how it drifted since the last `make test` that passed (issue 25).

The lab debootstraps its test hosts from the live Debian archive, and the test hosts install docker.io,
qemu-user-static and the rest from it at converge time. A stable point release can therefore change what a
scenario does with no commit of ours behind it. This file records the package versions behind each part
of the lab, one `part package version` line each, so that a failure can say first what changed.

    manifest.py write FILE          record the lab as it is now
    manifest.py diff NEW [OLD]      print what differs (OLD: the last passing manifest on this machine,
                                    else the one committed beside this file); exits 0 either way
    manifest.py summary NEW [OLD]   the same in one line, for the first line of a failure
    manifest.py passed NEW          keep NEW as this machine's last passing manifest
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMITTED = HERE / "manifest-passed.txt"
LOCAL_PASSED = Path(os.environ.get("LAB_STATE", "/var/lib/multiarch-lab")) / "manifest-passed.txt"
CACHE = Path(os.environ.get("LAB_CACHE", "/var/cache/multiarch-lab")) / "manifests"
TEST_HOSTS = {"12": "bookworm", "13": "trixie"}
# What the roles and scenarios install inside a test host at converge time, from the archive of its release.
CONVERGE_PACKAGES = (
    "docker.io", "docker-cli", "docker-buildx", "containerd", "runc", "tini", "qemu-user-static",
    "qemu-user-binfmt", "python3-tomlkit", "python3-cryptography", "python3-requests", "python3-docker",
    "openssh-server", "systemd", "iptables",
)
# The controller's own packages the lab runs: the engine's runc and docker-init, binfmt, the registry.
CONTROLLER_PACKAGES = ("runc", "tini", "iptables", "qemu-user-static", "docker-registry", "debootstrap")


def run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def parse(text: str) -> dict[tuple[str, str], str]:
    """`part package version` lines -> {(part, package): version}; comments and blank lines skipped."""
    entries = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and not line.startswith("#"):
            entries[(fields[0], fields[1])] = fields[2]
    return entries


def render(entries: dict[tuple[str, str], str]) -> str:
    return "".join(f"{part} {pkg} {ver}\n" for (part, pkg), ver in sorted(entries.items()))


def drift(new: dict[tuple[str, str], str], old: dict[tuple[str, str], str]) -> list[str]:
    """One line per difference, the parts that decide most first: test hosts, then the rest."""
    lines = []
    for key in sorted(set(new) | set(old), key=lambda k: (not k[0].startswith("host"), k)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        part, pkg = key
        if before is None:
            lines.append(f"{part}: {pkg} {after} (new)")
        elif after is None:
            lines.append(f"{part}: {pkg} {before} (gone)")
        else:
            lines.append(f"{part}: {pkg} {before} -> {after}")
    return lines


def summary(lines: list[str], most: int = 6) -> str:
    if not lines:
        return "[lab-drift] none: the lab was built from the same package versions as the last passing run"
    shown = "; ".join(lines[:most])
    more = f"; and {len(lines) - most} more" if len(lines) > most else ""
    return f"[lab-drift] {len(lines)} package versions differ from the last passing run: {shown}{more}"


def image_packages(image: str) -> dict[str, str]:
    """dpkg's view of a test-host image, cached on the image ID (images are rebuilt only when their recipe changes)."""
    image_id = run(["docker", "image", "inspect", "-f", "{{.Id}}", image]).strip()
    if not image_id:
        return {}
    cached = CACHE / (image_id.replace(":", "-") + ".json")
    if cached.is_file():
        return json.loads(cached.read_text())
    out = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "dpkg-query", image,
               "-W", "-f", "${Package} ${Version}\n"])
    packages = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    if packages:
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(packages, sort_keys=True))
    return packages


def archive_versions(codename: str, packages: tuple[str, ...]) -> dict[str, str]:
    """The newest version of each package in `codename` (any of its suites), as the controller's apt lists see it."""
    found = {}
    for pkg in packages:
        for line in run(["apt-cache", "madison", pkg]).splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) == 3 and fields[0] == pkg and f" {codename}" in f" {fields[2]}".replace("/", " ") \
                    and "Sources" not in fields[2]:
                found[pkg] = fields[1]
                break
    return found


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *packages])
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line and not line.endswith(" "))


def engine_versions() -> dict[str, str]:
    versions = {}
    for name, argv in {
        "dockerd": ["dockerd", "--version"],
        "containerd": ["containerd", "--version"],
        "docker-buildx": ["docker", "buildx", "version"],
    }.items():
        # "Docker version 26.1.5+dfsg1, build ...", "containerd github.com/... 1.7.24~ds1 ...", "... v0.13.1 ..."
        fields = [f.rstrip(",") for f in run(argv).split()]
        version = next((f.lstrip("v") for f in fields if re.match(r"^v?[0-9]+\.[0-9]", f)), "")
        if version:
            versions[name] = version
    return versions


def buildkit_image() -> dict[str, str]:
    state = LOCAL_PASSED.parent
    ref = (state / "buildkit-image").read_text().strip() if (state / "buildkit-image").is_file() else ""
    found = {}
    if ref:
        labels = run(["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", ref]).strip()
        labels = json.loads(labels) if labels.startswith("{") else {}
        found["buildkit"] = labels.get("org.opencontainers.image.version", "unknown")
        found["recipe-key"] = labels.get("lab.multiarch.buildkit.key", "unknown")
    source = Path(os.environ.get("LAB_CACHE", "/var/cache/multiarch-lab")) / "buildkit" / ".source-version"
    if source.is_file():
        found["docker.io-source"] = source.read_text().split()[-1]  # "<lists signature> <version>"
    return found


def lab_prefix_packages() -> dict[str, str]:
    """Packages unpacked into the lab prefix without dpkg's database (cosign.sh): their Debian changelog's version."""
    prefix = Path(os.environ.get("LAB_PREFIX", "/opt/multiarch-lab"))
    found = {}
    for package in ("cosign",):
        changelog = prefix / "usr/share/doc" / package / "changelog.Debian.gz"
        if changelog.is_file():
            with gzip.open(changelog, "rt", encoding="utf-8", errors="replace") as handle:
                match = re.match(r"^\S+ \(([^)]+)\)", handle.readline())
            if match:
                found[package] = match.group(1)
    return found


def collect() -> dict[tuple[str, str], str]:
    entries: dict[tuple[str, str], str] = {}

    def add(part: str, versions: dict[str, str]) -> None:
        entries.update({(part, pkg): ver.replace(" ", "_") for pkg, ver in versions.items()})

    for release, codename in TEST_HOSTS.items():
        add(f"host-image-{release}", image_packages(f"localhost/multiarch-lab-debian:{release}"))
        add(f"host-archive-{release}", archive_versions(codename, CONVERGE_PACKAGES))
    add("controller", installed_versions(CONTROLLER_PACKAGES))
    add("engine", engine_versions())
    add("buildkit-image", buildkit_image())
    add("lab-prefix", lab_prefix_packages())
    return entries


def read(path: Path) -> dict[tuple[str, str], str]:
    return parse(path.read_text()) if path.is_file() else {}


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "write":
        Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[1]).write_text("# multiarch lab manifest: part package version\n" + render(collect()))
        return 0
    if len(argv) >= 2 and argv[0] in ("diff", "summary"):
        if len(argv) > 2:
            old_path = Path(argv[2])
        else:
            old_path = LOCAL_PASSED if LOCAL_PASSED.is_file() else COMMITTED
        old = read(old_path)
        if not old:
            print(f"[lab-drift] no passing manifest to compare with yet ({old_path}): this run's is {argv[1]}")
            return 0
        lines = drift(read(Path(argv[1])), old)
        print(summary(lines) + f" (against {old_path})")
        if argv[0] == "summary":
            return 0
        for line in lines[:40]:
            print(f"[lab-drift]   {line}")
        if len(lines) > 40:
            print(f"[lab-drift]   ... {len(lines) - 40} more: diff {old_path} {argv[1]}")
        return 0
    if len(argv) == 2 and argv[0] == "passed":
        LOCAL_PASSED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(argv[1], LOCAL_PASSED)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
