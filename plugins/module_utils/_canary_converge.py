# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU canary from start to end: read its cache, plan, build the missing root filesystems, run the programs,
judge them, record the stamps and clear out what nothing asks for any more.

The canary runs Debian's own ldconfig and getconf, with chroot, through binfmt_misc: the kernel hands them to the very
interpreter every build uses (opened when the handler was registered, thanks to the F flag). A stamp per
interpreter, flags and QEMU version says it passed, so an unchanged host proves nothing again.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from typing import Any

from ansible.module_utils.facts.system.distribution import DistributionFactCollector

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_plan import (
    STAMP_GLOB,
    STAMP_MODE,
    CanaryRequest,
    canary_targets,
    plan_canary,
    prediction,
    render_stamp,
    summary,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_rootfs import (
    Owners,
    build_root_filesystems,
    remove_path,
    write_owned_file,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import (
    CanaryError,
    CanaryFailed,
    RunResult,
    check_expectations,
    failure_message,
    passes,
    run_program,
    run_timed,
    tolerance_warning,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import read_file

# A stamp is a few hundred bytes; anything much larger is not one, and is simply rewritten.
MAX_STAMP_BYTES = 64 * 1024
BUILD_TOOLS = ("apt-get", "dpkg-deb")


class Host:
    """What the canary needs of the managed host besides its cache directory: commands, timed chroot runs, and the
    accounts its directories belong to. Unit tests pass a stand-in with the same methods."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def command(self, argv: list, cwd: str | None = None) -> tuple:
        return self.module.run_command(argv, cwd=cwd)

    def run_timed(self, argv: list, timeout: int) -> RunResult:
        return run_timed(argv, timeout)

    def chroot(self) -> str:
        path = self.module.get_bin_path("chroot")
        if not path:
            raise CanaryError("The QEMU canary runs its programs with chroot, which this host does not have"
                              " (coreutils); install it, or go without the canary with qemu_canary_platforms: [].")
        return path

    def owners(self) -> Owners:
        return Owners.of_host()

    def check_can_build(self) -> None:
        """Refuse, as the role did on other OS families, a host without apt-get and dpkg-deb."""
        if all(self.module.get_bin_path(tool) for tool in BUILD_TOOLS):
            return
        raise CanaryError(f"The QEMU canary unpacks Debian's libc6 and libc-bin with apt-get and dpkg-deb, which"
                          f" {self._os_family()} hosts do not have. Go without it with qemu_canary_platforms: [] (the"
                          " uname -m probes still run).")

    def _os_family(self) -> str:
        # Only for the message above: Ansible's own reading of the distribution, as the role's os_family was.
        return DistributionFactCollector().collect(module=self.module).get("os_family") or "these"


def read_cache(canary_dir: str, marker: str) -> list[str]:
    """The markers and stamps in CANARY_DIR and one level below, as `find -H DIR -maxdepth 2` listed them for the role:
    the cache directory itself may be a link, nothing below it is followed, and a missing directory holds nothing."""
    found = []
    try:
        entries = sorted(os.scandir(canary_dir), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return found
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not read its cache {canary_dir}: {exc.strerror}") from exc
    for entry in entries:
        path = f"{canary_dir}/{entry.name}"
        if _cached(entry.name, marker):
            found.append(path)
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            below = sorted(os.listdir(path))
        except FileNotFoundError:
            continue  # removed meanwhile
        except OSError as exc:
            raise CanaryError(f"The QEMU canary could not read its cache {path}: {exc.strerror}") from exc
        found.extend(f"{path}/{name}" for name in below if _cached(name, marker))
    return found


def _cached(name: str, marker: str) -> bool:
    return name == marker or fnmatch.fnmatchcase(name, STAMP_GLOB)


# The programs the canary runs when none are given (the qemu role passes its qemu_canary_programs).
DEFAULT_PROGRAMS = [
    dict(name="ldconfig", argv=["/sbin/ldconfig", "-C", "/tmp/ld.so.cache"], expect=""),
    dict(name="getconf", argv=["/usr/bin/getconf", "GNU_LIBC_VERSION"], expect="^glibc [0-9]"),
]


def canary_argument_spec() -> dict[str, Any]:
    """The qemu_canary module's options; qemu_host_state takes the same ones (binfmt and plan_only aside) to read the
    canary's cache in its one round trip."""
    return dict(
        binfmt=dict(type="dict", required=True),
        probes=dict(type="dict", required=True),
        platforms=dict(type="list", elements="str", default=["linux/arm64"]),
        dir=dict(type="path", default="/var/cache/multiarch-buildhost/qemu-canary"),
        suite=dict(type="str", default="bullseye"),
        mirror=dict(type="str", default="http://deb.debian.org/debian"),
        keyring=dict(type="path", default="/usr/share/keyrings/debian-archive-keyring.gpg"),
        packages=dict(type="list", elements="str", default=["libc6", "libc-bin"]),
        programs=dict(type="list", elements="dict", default=DEFAULT_PROGRAMS, options=dict(
            name=dict(type="str", required=True),
            argv=dict(type="list", elements="str", required=True),
            expect=dict(type="str", default=""),
        )),
        repeat=dict(type="int", default=50),
        timeout=dict(type="int", default=120),
        max_crash_percent=dict(type="int", default=20),
        marker=dict(type="str", default="multiarch-buildhost-canary.json"),
        force=dict(type="bool", default=False),
        plan_only=dict(type="bool", default=False),
    )


def request_from_params(params: dict) -> CanaryRequest:
    """The module's options as a request, checked where a bad value would only show halfway through a run."""
    for name, least in (("repeat", 1), ("timeout", 1), ("max_crash_percent", 0)):
        if params[name] < least:
            raise CanaryError(f"The QEMU canary's {name} must be at least {least}, not {params[name]}.")
    if params["max_crash_percent"] > 100:
        raise CanaryError(f"The QEMU canary's max_crash_percent is a share of the runs, at most 100, not"
                          f" {params['max_crash_percent']}.")
    # The suite names a directory of the cache: one plain name, so that no target lies outside it or too deep to be read.
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$", params["suite"]):
        raise CanaryError(f"The QEMU canary's suite is one Debian suite name (bullseye), not {params['suite']!r}.")
    if not os.path.isabs(params["dir"]):
        raise CanaryError(f"The QEMU canary's dir is an absolute path, not {params['dir']!r}.")
    if "/" in params["marker"] or params["marker"] in ("", ".", ".."):
        raise CanaryError(f"The QEMU canary's marker is a file name, not {params['marker']!r}.")
    check_expectations(params["programs"])
    return CanaryRequest(**{field.name: params[field.name] for field in dataclasses.fields(CanaryRequest)})


def _write_stamp(target: dict, content: bytes) -> bool:
    """Write TARGET's stamp unless it already says exactly this; True when it changed."""
    state = read_file(target["stamp"], MAX_STAMP_BYTES)
    if state.exists and state.content == content and state.mode == STAMP_MODE:
        return False
    write_owned_file(target["stamp"], content)
    return True


def converge(request: CanaryRequest, check_mode: bool, host: Any) -> dict:
    """Run the canary as REQUEST asks. Returns the module's result with its warnings under 'warnings'; raises
    CanaryFailed (its details the result so far) when a QEMU fails it."""
    targets = canary_targets(request.probes, request.binfmt, request.platforms, request.dir, request.suite,
                             request.mirror, request.marker)
    plan = plan_canary(targets, read_cache(request.dir, request.marker), request.force, request.dir, request.marker)
    result = dict(plan.result(), verdicts=[], built=[], removed=[], warnings=[])
    if request.plan_only:
        return dict(result, changed=False, msg=prediction(plan, request))
    if check_mode:
        return dict(result, changed=plan.has_work, msg=prediction(plan, request),
                    built=[target["arch"] for target in plan.unbuilt], removed=plan.stale_stamps + plan.stale_dirs)

    if plan.unbuilt:
        host.check_can_build()
        result["built"] = build_root_filesystems(plan.unbuilt, request, host.command, host.owners())
    chroot = host.chroot() if plan.due else ""
    verdicts = [run_program(target, program, request.repeat, request.timeout, chroot, host.run_timed)
                for target in plan.due for program in request.programs]
    result["verdicts"] = verdicts
    failed = [item for item in verdicts if not passes(item, request.max_crash_percent)]
    if failed:
        # A stamp says "passed with this QEMU". A forced run that fails takes it back, so the next run proves the QEMU
        # again instead of trusting the old pass, and report.yml warns until one passes.
        failed_platforms = {item["platform"] for item in failed}
        withdrawn = [target["stamp"] for target in plan.due
                     if target["platform"] in failed_platforms and remove_path(target["stamp"])]
        details = {key: value for key, value in result.items() if key != "warnings"}
        details["removed"] = withdrawn
        raise CanaryFailed("\n".join(failure_message(item, request.suite) for item in failed),
                           changed=bool(result["built"] or withdrawn), **details)
    result["warnings"] = [tolerance_warning(item, request.suite, request.max_crash_percent)
                          for item in verdicts if item["failures"]]
    stamped = [target["stamp"] for target in plan.due
               if _write_stamp(target, render_stamp(target, request.suite, verdicts))]
    result["removed"] = [path for path in plan.stale_stamps + plan.stale_dirs if remove_path(path)]
    removed = f"; removed what nothing asks for any more: {', '.join(result['removed'])}" if result["removed"] else ""
    return dict(result, changed=bool(result["built"] or stamped or result["removed"]), msg=summary(plan, request) + removed)
