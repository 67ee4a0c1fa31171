# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile the kernel's binfmt_misc table and /etc/binfmt.d with the handlers a host should have."""
from __future__ import annotations

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
    handler_matches,
    is_native,
    parse_entry,
    registration_line,
    resolve_platform,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import read_file, write_file

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


@dataclass
class Plan:
    register: list = field(default_factory=list)     # (Architecture, interpreter, reason)
    unregister: list = field(default_factory=list)   # handler names
    persist: dict = field(default_factory=dict)      # path -> content
    unpersist: list = field(default_factory=list)    # paths
    native: list = field(default_factory=list)       # platforms skipped as native
    kept_conflicts: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.register or self.unregister or self.persist or self.unpersist)


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


def plan(archs: list, native: list, state: str, flags: str, replace: bool, persist: bool, interpreter_dir: str,
         current: dict, persist_dir: str = PERSIST_DIR) -> Plan:
    result = Plan(native=native)
    for arch in archs:
        handler = current.get(arch.handler)
        conf = persist_path(arch, persist_dir)
        on_disk = read_file(conf, MAX_CONF_BYTES)
        if state == "absent":
            if handler is not None:
                result.unregister.append(arch.handler)
            if on_disk.exists:
                result.unpersist.append(conf)
            continue
        interpreter = arch.interpreter(interpreter_dir)
        if not os.path.exists(interpreter):
            raise BinfmtError(f"the QEMU interpreter for {arch.platforms[0]} is missing: {interpreter} does not exist;"
                              f" install {QEMU_PACKAGE_HINT}, or set interpreter_path")
        if handler is None:
            result.register.append((arch, interpreter, "not registered"))
        elif not handler_matches(handler, arch, interpreter, flags):
            why = (f"registered with interpreter {handler.interpreter} and flags {handler.flags or '(none)'},"
                   f" enabled={handler.enabled}")
            if replace:
                result.unregister.append(arch.handler)
                result.register.append((arch, interpreter, why))
            else:
                result.kept_conflicts.append(f"{arch.handler}: {why} (replace=false)")
        line = registration_line(arch, interpreter, flags) + "\n"
        if persist and on_disk.content != line.encode("latin-1"):
            result.persist[conf] = line
        if not persist and on_disk.exists:
            result.unpersist.append(conf)
    return result


def apply(kernel: BinfmtMisc, steps: Plan, flags: str) -> None:
    for name in steps.unregister:
        kernel.unregister(name)
    for arch, interpreter, _why in steps.register:
        kernel.register(registration_line(arch, interpreter, flags))
    for path, content in steps.persist.items():
        write_file(path, content.encode("latin-1"), 0o644, 0, 0)
    for path in steps.unpersist:
        os.unlink(path)
