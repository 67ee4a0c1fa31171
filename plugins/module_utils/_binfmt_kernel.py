# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile the kernel's binfmt_misc table and /etc/binfmt.d with the handlers a host should have."""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt import (
    ARCHITECTURES,
    PERSIST_DIR,
    PROC_DIR,
    QEMU_PACKAGE_HINT,
    Architecture,
    Handler,
    default_flags,
    escaped_to_hex,
    handler_matches,
    is_native,
    parse_entry,
    platforms_of,
    registration_line,
    required_flags,
    resolve_platform,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import open_parent, read_file, write_file

# A binfmt.d line is one registration string; a file far larger than that is not one of ours.
MAX_CONF_BYTES = 64 * 1024


class BinfmtError(BuildhostError):
    pass


@dataclass
class BinfmtMisc:
    """The kernel interface: a mounted binfmt_misc directory."""

    module: Any
    proc_dir: str = PROC_DIR

    @property
    def mounted(self) -> bool:
        return os.path.exists(os.path.join(self.proc_dir, "register"))

    def mount(self) -> None:
        rc, _out, err = self.module.run_command(["mount", "-t", "binfmt_misc", "binfmt_misc", self.proc_dir])
        if rc != 0 or not self.mounted:
            raise BinfmtError(f"binfmt_misc is not mounted at {self.proc_dir} and mounting it failed: {err.strip()}"
                              " (an unprivileged or rootless container cannot; run on the host or a privileged container)")

    def handlers(self) -> dict[str, Handler]:
        found = {}
        if not self.mounted:
            return found
        for name in sorted(os.listdir(self.proc_dir)):
            if name in ("register", "status"):
                continue
            with open(os.path.join(self.proc_dir, name), encoding="utf-8") as handle:
                found[name] = parse_entry(name, handle.read())
        return found

    def _write(self, name: str, text: str) -> None:
        path = os.path.join(self.proc_dir, name)
        try:
            with open(path, "w", encoding="latin-1") as handle:
                handle.write(text)
        except OSError as exc:
            raise BinfmtError(f"cannot write {path}: {exc.strerror} (binfmt_misc is kernel-global: it needs root on the host"
                              " or a privileged container)") from exc

    def register(self, line: str) -> None:
        self._write("register", line)

    def unregister(self, name: str) -> None:
        self._write(name, "-1")


@dataclass(frozen=True)
class BinfmtRequest:
    """What the module was asked for, validated."""

    platforms: list
    state: str = "present"
    flags: str = "PCF"
    replace: bool = True
    persist: bool = True
    interpreter_dir: str = "/usr/bin"
    persist_dir: str = PERSIST_DIR
    # Also ask each requested handler's interpreter for QEMU's version (what binfmt_info reports), in the same round trip.
    report_versions: bool = False


@dataclass(frozen=True)
class Registration:
    arch: Architecture
    interpreter: str
    reason: str


@dataclass
class Plan:
    register: list[Registration] = field(default_factory=list)
    unregister: list[str] = field(default_factory=list)      # handler names
    persist: dict[str, str] = field(default_factory=dict)    # path -> content
    unpersist: list[str] = field(default_factory=list)       # paths
    native: list[str] = field(default_factory=list)          # platforms skipped as native
    warnings: list[str] = field(default_factory=list)        # conflicts kept, masked files, predicted interpreters

    @property
    def changed(self) -> bool:
        return bool(self.register or self.unregister or self.persist or self.unpersist)

    def actions(self) -> list[str]:
        return ([f"unregister {name}" for name in self.unregister]
                + [f"register {r.arch.handler} ({r.reason})" for r in self.register]
                + [f"write {path}" for path in self.persist] + [f"remove {path}" for path in self.unpersist])


def checked_flags(flags: str | None, kernel_release: str) -> str:
    """FLAGS upper-cased, or the kernel's default; F (fix binary) is required."""
    chosen = (flags or default_flags(kernel_release)).upper()
    if "F" not in chosen or set(chosen) - set("POCF"):
        raise BinfmtError(f"flags={flags!r}: use letters from P, O, C, F, and keep F (fix binary), without which "
                          "handlers do not work inside containers")
    return chosen


def select_architectures(platforms: list, machine: str, interpreter_dir: str) -> tuple[list, list]:
    """Resolve PLATFORMS ('all' = every architecture with an installed interpreter); split off native ones."""
    if any(p.strip().lower() == "all" for p in platforms):
        wanted = [a for a in ARCHITECTURES if os.path.exists(a.interpreter(interpreter_dir))]
    else:
        wanted = []
        for spelling in platforms:
            arch = resolve_platform(spelling)
            if arch not in wanted:
                wanted.append(arch)
    native = [a for a in wanted if is_native(a, machine)]
    return [a for a in wanted if a not in native], [a.platforms[0] for a in native]


def persist_path(arch: Architecture, persist_dir: str = PERSIST_DIR) -> str:
    return os.path.join(persist_dir, f"{arch.handler}.conf")


def is_masked(conf: str) -> bool:
    """systemd's way to disable a binfmt.d file: a link to /dev/null with the same name (root's directory)."""
    return os.path.islink(conf) and os.readlink(conf) == "/dev/null"


def plan(request: BinfmtRequest, archs: list, native: list, current: dict, check_mode: bool = False) -> Plan:
    """What to change so that the kernel and /etc/binfmt.d hold exactly the requested handlers."""
    result = Plan(native=native)
    for arch in archs:
        handler = current.get(arch.handler)
        conf = persist_path(arch, request.persist_dir)
        masked = is_masked(conf)
        on_disk = read_file(conf, MAX_CONF_BYTES) if not masked else None
        if request.state == "absent":
            if handler is not None:
                result.unregister.append(arch.handler)
            if on_disk is not None and on_disk.exists:
                result.unpersist.append(conf)
            continue
        interpreter = arch.interpreter(request.interpreter_dir)
        if not os.path.exists(interpreter):
            if not check_mode:
                raise BinfmtError(f"the QEMU interpreter for {arch.platforms[0]} is missing: {interpreter} does not exist;"
                                  f" install {QEMU_PACKAGE_HINT}, or set interpreter_path")
            # A check run on a fresh host: the qemu role's package task only predicted the install.
            result.warnings.append(f"{interpreter} does not exist yet; registering {arch.handler} is predicted on the"
                                   " assumption that the package install before this task provides it")
        if handler is None:
            result.register.append(Registration(arch, interpreter, "not registered"))
        elif not handler_matches(handler, arch, interpreter, request.flags):
            why = (f"registered with interpreter {handler.interpreter} and flags {handler.flags or '(none)'},"
                   f" enabled={handler.enabled}")
            if request.replace:
                result.unregister.append(arch.handler)
                result.register.append(Registration(arch, interpreter, why))
            else:
                result.warnings.append(f"{arch.handler}: {why} (replace=false)")
        line = registration_line(arch, interpreter, request.flags) + "\n"
        if masked:
            result.warnings.append(f"{conf} is masked (a link to /dev/null): {arch.handler} is registered now but will"
                                   " not come back after a reboot; remove the mask to persist it")
        elif request.persist and on_disk.content != line.encode("latin-1"):
            result.persist[conf] = line
        elif not request.persist and on_disk.exists:
            result.unpersist.append(conf)
    return result


def _register(kernel: BinfmtMisc, registration: Registration, flags: str) -> None:
    """Register one handler. binfmt_misc is kernel-global: another run on the same kernel (containers share it) may
    have registered the same handler between this run's read and its write. The kernel then says EEXIST, and what
    stands is accepted when it is what this run would have written; anything else is still an error."""
    try:
        kernel.register(registration_line(registration.arch, registration.interpreter, flags))
    except BinfmtError as exc:
        if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != errno.EEXIST:
            raise
        present = kernel.handlers().get(registration.arch.handler)
        if not (present and handler_matches(present, registration.arch, registration.interpreter, flags)):
            raise


def apply(kernel: BinfmtMisc, steps: Plan, flags: str) -> None:
    for name in steps.unregister:
        kernel.unregister(name)
    for registration in steps.register:
        _register(kernel, registration, flags)
    for path, content in steps.persist.items():
        write_file(path, content.encode("latin-1"), 0o644, 0, 0)
    for path in steps.unpersist:
        with open_parent(path) as parent:
            parent.remove()


def predicted(current: dict, steps: Plan, flags: str) -> dict:
    """The handler table as it will be once STEPS are applied (what check mode reports)."""
    after = {name: h for name, h in current.items() if name not in steps.unregister}
    for registration in steps.register:
        arch = registration.arch
        after[arch.handler] = Handler(arch.handler, True, registration.interpreter, required_flags(flags),
                                      escaped_to_hex(arch.magic), escaped_to_hex(arch.mask))
    return after


def describe(handlers: dict) -> str:
    """The QEMU handlers as diff text."""
    return "".join(f"{name}: {h.interpreter} flags={h.flags} enabled={h.enabled}\n"
                   for name, h in sorted(handlers.items()) if name.startswith("qemu-"))


def binfmt_argument_spec() -> dict[str, Any]:
    """The binfmt module's options; qemu_host_state takes the same ones to predict it."""
    return dict(
        platforms=dict(type="list", elements="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        flags=dict(type="str"),
        persist=dict(type="bool", default=True),
        replace=dict(type="bool", default=True),
        interpreter_path=dict(type="path", default="/usr/bin"),
        report_versions=dict(type="bool", default=False),
    )


def binfmt_request(params: dict[str, Any]) -> BinfmtRequest:
    """The binfmt module's options as a request, the flags checked against the running kernel."""
    return BinfmtRequest(platforms=params["platforms"], state=params["state"],
                         flags=checked_flags(params["flags"], os.uname().release), replace=params["replace"],
                         persist=params["persist"], interpreter_dir=params["interpreter_path"],
                         report_versions=params["report_versions"])


def reconcile(module: Any, request: BinfmtRequest, check_mode: bool) -> dict[str, Any]:
    """Bring binfmt_misc and /etc/binfmt.d to REQUEST; returns the module's result."""
    kernel = BinfmtMisc(module)
    archs, native = select_architectures(request.platforms, os.uname().machine, request.interpreter_dir)
    if not kernel.mounted and not check_mode:
        kernel.mount()
    current = kernel.handlers()
    steps = plan(request, archs, native, current, check_mode)
    if steps.changed and not check_mode:
        apply(kernel, steps, request.flags)
    after = predicted(current, steps, request.flags) if check_mode else kernel.handlers()
    requested = [arch.handler for arch in archs]
    versions = {name: interpreter_version(module, after[name].interpreter) for name in requested if name in after} \
        if request.report_versions else None
    return dict(
        qemu_versions=versions,
        changed=steps.changed,
        handlers={name: h.as_result() for name, h in after.items() if name.startswith("qemu-")},
        emulated_platforms=platforms_of(after),
        requested_handlers=requested,
        native_platforms=steps.native,
        actions=steps.actions(),
        warnings=steps.warnings,
        diff={"before": describe(current), "after": describe(after), "before_header": "binfmt_misc", "after_header": "binfmt_misc"},
    )


def interpreter_version(module: Any, interpreter: str) -> str | None:
    """``qemu-aarch64 version 7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)`` -> ``7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)``."""
    if not os.path.exists(interpreter):
        return None
    rc, out, _err = module.run_command([interpreter, "--version"])
    first = out.splitlines()[0] if rc == 0 and out else ""
    return first.split(" version ", 1)[1].strip() if " version " in first else None


def handler_report(module: Any) -> dict[str, Any]:
    """The QEMU handlers binfmt_misc holds now, each with its Docker platform and QEMU's own version; no change."""
    kernel = BinfmtMisc(module)
    handlers = kernel.handlers()
    by_handler = {arch.handler: arch for arch in ARCHITECTURES}
    report = {}
    for name, handler in sorted(handlers.items()):
        if not name.startswith("qemu-"):
            continue
        arch = by_handler.get(name)
        report[name] = dict(handler.as_result(), platform=arch.platforms[0] if arch else None,
                            qemu_version=interpreter_version(module, handler.interpreter))
    return dict(mounted=kernel.mounted, handlers=report, emulated_platforms=platforms_of(handlers))
