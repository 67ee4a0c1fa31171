# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the QEMU canary has to do, from what its cache holds: pure planning, no I/O.

The cache directory holds one directory per suite and Debian architecture (SUITE-ARCH), each with a root filesystem,
a marker written last (so a directory without it is incomplete) and a stamp per interpreter, flags and QEMU version
the canary passed with. A stamp's name hashes those, so a new QEMU or other flags mean a stamp that does not exist
yet, and the canary runs again. Stamps and markers are rendered byte for byte as the role's Jinja rendered them
(to_nice_json and a newline), so caches written by earlier releases stay valid.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

STAMP_GLOB = "passed-*.json"
# What the role treated as a stamp among the files the glob finds.
STAMP_PATH = re.compile(r"/passed-[0-9a-f]+[.]json$")
STAMP_MODE = 0o644
NOT_INSTALLED = "not installed yet"


@dataclass(frozen=True)
class CanaryRequest:
    """The module's options, as the role passes them."""

    binfmt: dict
    probes: dict
    platforms: list
    dir: str
    suite: str
    mirror: str
    keyring: str
    packages: list
    programs: list
    repeat: int
    timeout: int
    max_crash_percent: int
    marker: str
    force: bool = False
    plan_only: bool = False


def canary_targets(probes: dict, binfmt: dict, platforms: Any, canary_dir: str, suite: str, mirror: str,
                   marker: str) -> list[dict]:
    """The canary platforms this host emulates through the handlers the role registered (BINFMT, the binfmt module's
    result), each with its root filesystem and the stamp that says the canary passed with this interpreter, these
    flags and this QEMU version (package version included). A stamp that does not exist yet means something changed."""
    handlers = binfmt.get("handlers") or {}
    requested = binfmt.get("requested_handlers") or []
    versions = binfmt.get("qemu_versions") or {}
    targets = []
    for name, row in probes.items():
        handler = handlers.get(name) or {}
        if row["platform"] not in (platforms or []) or name not in requested or not handler.get("enabled"):
            continue
        version = versions.get(name) or NOT_INSTALLED
        directory = f"{canary_dir}/{suite}-{row['debian_arch']}"
        key = "|".join([str(handler["interpreter"]), str(handler["flags"]), str(version), suite, mirror])
        targets.append({
            "platform": row["platform"], "handler": name, "arch": row["debian_arch"], "dir": directory,
            "rootfs": f"{directory}/rootfs", "marker": f"{directory}/{marker}", "interpreter": handler["interpreter"],
            "flags": handler["flags"], "qemu_version": version,
            "stamp": f"{directory}/passed-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}.json",
        })
    return targets


@dataclass(frozen=True)
class CanaryPlan:
    targets: list
    due: list
    unbuilt: list
    stale_stamps: list
    stale_dirs: list

    @property
    def has_work(self) -> bool:
        return bool(self.due or self.unbuilt or self.stale_stamps or self.stale_dirs)

    def result(self) -> dict:
        return dict(targets=self.targets, due=self.due, unbuilt=self.unbuilt, stale_stamps=self.stale_stamps,
                    stale_dirs=self.stale_dirs, has_work=self.has_work)


def plan_canary(targets: list, found: list, force: bool, canary_dir: str, marker: str) -> CanaryPlan:
    """What is due, given FOUND (the markers and stamps in the cache, as CANARY_DIR/NAME and CANARY_DIR/SUB/NAME).

    A target is unbuilt when its marker is missing, and due when forced or when no stamp matches. An unbuilt target is
    due too: building starts from an empty directory, so whatever stamp it held is gone. Stamps no target names are
    stale, and so are the directories whose marker no target names; a directory without a marker is not the canary's
    to remove, nor is the cache directory itself.
    """
    present = set(found)
    unbuilt = [target for target in targets if target["marker"] not in present]
    due = list(targets) if force else [target for target in targets
                                       if target["stamp"] not in present or target in unbuilt]
    wanted_stamps = {target["stamp"] for target in targets}
    wanted_dirs = {target["dir"] for target in targets}
    stale_stamps = [path for path in found if STAMP_PATH.search(path) and path not in wanted_stamps]
    suffix = f"/{marker}"
    stale_dirs = [path[:-len(suffix)] for path in found
                  if path.endswith(suffix) and path[:-len(suffix)] not in wanted_dirs
                  and path[:-len(suffix)] != canary_dir]
    return CanaryPlan(list(targets), due, unbuilt, stale_stamps, stale_dirs)


def nice_json(document: Any) -> bytes:
    """Ansible's to_nice_json (indent 4, sorted keys, ASCII escapes) with the newline the role's copy tasks added."""
    return (json.dumps(document, indent=4, sort_keys=True, separators=(",", ": ")) + "\n").encode("utf-8")


def render_stamp(target: dict, suite: str, verdicts: list) -> bytes:
    """The stamp that says TARGET's QEMU passed the canary: what ran, and how each program did."""
    programs = {result["program"]: {"runs": result["runs"], "failures": result["failures"], "output": result["output"]}
                for result in verdicts if result["platform"] == target["platform"]}
    return nice_json({"platform": target["platform"], "interpreter": target["interpreter"], "flags": target["flags"],
                      "qemu_version": target["qemu_version"], "suite": suite, "programs": programs})


def manifest_packages(deb_names: list, arch: str) -> list[str]:
    """The packages unpacked for ARCH, from the downloaded files' names (apt spells an epoch's colon %3a), sorted as
    Jinja's sort filter sorts: without regard to case."""
    wanted = re.compile(f"_{arch}[.]deb$")
    names = [name.replace("%3a", ":")[:-len(".deb")] for name in deb_names if wanted.search(name)]
    return sorted(names, key=str.lower)


def render_manifest(suite: str, mirror: str, arch: str, deb_names: list) -> bytes:
    """The marker that says ARCH's root filesystem is complete, and what it holds."""
    return nice_json({"suite": suite, "mirror": mirror, "architecture": arch,
                      "packages": manifest_packages(deb_names, arch)})


def _platforms(targets: list) -> list[str]:
    return [target["platform"] for target in targets]


def prediction(plan: CanaryPlan, request: CanaryRequest) -> str:
    """What a run would do, in the words of the role's check-mode message."""
    text = ""
    if plan.unbuilt:
        text += (f"would download {', '.join(request.packages)} of {request.suite} for"
                 f" {', '.join(target['arch'] for target in plan.unbuilt)} from {request.mirror} into {request.dir}; ")
    if plan.due:
        return text + f"would run the canary for {', '.join(_platforms(plan.due))}"
    return text + "the canary passed before with these handlers and this QEMU: nothing to run"


def summary(plan: CanaryPlan, request: CanaryRequest) -> str:
    """What a run did, in the words of the role's closing message; platforms without a target were not emulated."""
    due = set(_platforms(plan.due))
    parts = [f"{target['platform']} {'ran and passed' if target['platform'] in due else 'passed before, not re-run'}"
             f" (QEMU {target['qemu_version']})" for target in plan.targets]
    text = f"canary ({request.suite} ldconfig and getconf): {'; '.join(parts)}"
    emulated = set(_platforms(plan.targets))
    skipped = []
    for platform in request.platforms:
        if platform not in emulated and platform not in skipped:
            skipped.append(platform)
    if skipped:
        text += f"; skipped (not emulated here): {', '.join(skipped)}"
    return text
