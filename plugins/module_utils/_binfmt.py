# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""QEMU handlers in the kernel's binfmt_misc: the architecture table, /proc parsing, registration strings."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

PROC_DIR = "/proc/sys/fs/binfmt_misc"
PERSIST_DIR = "/etc/binfmt.d"
QEMU_PACKAGE_HINT = "qemu-user-static (Debian, Ubuntu, Fedora) or qemu-user-static-<arch> (RHEL/EPEL)"


@dataclass(frozen=True)
class Architecture:
    qemu: str                 # QEMU's name: qemu-<qemu>-static, handler qemu-<qemu>
    platforms: tuple          # Docker's spellings; the first is the canonical one
    aliases: tuple            # other names people use (uname -m, Debian arch)
    native_on: tuple          # `uname -m` values whose CPU runs it without emulation
    magic: str                # ELF header bytes, in the kernel's \x escapes
    mask: str

    @property
    def handler(self) -> str:
        return f"qemu-{self.qemu}"

    def interpreter(self, directory: str) -> str:
        return os.path.join(directory, f"qemu-{self.qemu}-static")


_ELF64_LE = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
_ELF32_LE = r"\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
_MASK_COMMON = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
_MASK_X86 = r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"

# Magic and mask as QEMU's qemu-binfmt-conf.sh defines them (and distributions ship them).
ARCHITECTURES = (
    Architecture("aarch64", ("linux/arm64", "linux/arm64/v8"), ("arm64", "aarch64"), ("aarch64", "arm64"),
                 _ELF64_LE + r"\xb7\x00", _MASK_COMMON),
    Architecture("arm", ("linux/arm/v7", "linux/arm/v6", "linux/arm"), ("arm", "armhf", "armel", "armv7", "armv6", "armv7l"),
                 ("armv7l", "armv6l", "armv8l"), _ELF32_LE + r"\x28\x00", _MASK_COMMON),
    Architecture("riscv64", ("linux/riscv64",), ("riscv64",), ("riscv64",), _ELF64_LE + r"\xf3\x00", _MASK_COMMON),
    Architecture("ppc64le", ("linux/ppc64le",), ("ppc64le", "ppc64el"), ("ppc64le",), _ELF64_LE + r"\x15\x00",
                 r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00"),
    Architecture("s390x", ("linux/s390x",), ("s390x",), ("s390x",),
                 r"\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
                 r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff"),
    Architecture("i386", ("linux/386",), ("386", "i386", "i686", "x86"), ("x86_64", "i386", "i686"),
                 _ELF32_LE + r"\x03\x00", _MASK_X86),
    Architecture("x86_64", ("linux/amd64",), ("amd64", "x86_64", "x86-64"), ("x86_64",), _ELF64_LE + r"\x3e\x00", _MASK_X86),
    Architecture("mips64el", ("linux/mips64le",), ("mips64le", "mips64el"), ("mips64",), _ELF64_LE + r"\x08\x00",
                 r"\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"),
    Architecture("loongarch64", ("linux/loong64",), ("loong64", "loongarch64"), ("loongarch64",), _ELF64_LE + r"\x02\x01",
                 r"\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"),
)


def _without_os(name: str) -> str:
    """``linux/arm64`` -> ``arm64`` (str.removeprefix would need Python 3.9 on the managed host)."""
    return name[len("linux/"):] if name.startswith("linux/") else name


_BY_NAME = {}
for _arch in ARCHITECTURES:
    for _name in _arch.platforms + _arch.aliases + (_arch.qemu,):
        _BY_NAME[_without_os(_name.lower())] = _arch


class UnknownPlatform(BuildhostError):
    pass


def resolve_platform(spelling: str) -> Architecture:
    """``linux/arm64``, ``arm64``, ``aarch64``, ``linux/arm/v7`` ... -> the Architecture."""
    key = _without_os(spelling.strip().lower())
    if key in _BY_NAME:
        return _BY_NAME[key]
    known = ", ".join(arch.platforms[0] for arch in ARCHITECTURES)
    raise UnknownPlatform(f"unknown platform {spelling!r}; known: {known} (or their short names such as arm64), or 'all'")


def is_native(arch: Architecture, machine: str) -> bool:
    return machine in arch.native_on


# From Linux 5.12 the kernel tells the interpreter (AT_FLAGS) that argv[0] was preserved, which QEMU 6+ reads.
# Without P, a multi-call binary such as busybox re-executing itself as an applet loses its applet name.
PRESERVE_ARGV0_SINCE = "5.12"


def default_flags(kernel_release: str) -> str:
    from ansible_collections.multiarch.buildhost.plugins.module_utils._version import version_at_least

    return "PCF" if version_at_least(kernel_release, PRESERVE_ARGV0_SINCE) else "CF"


def required_flags(flags: str) -> str:
    """What /proc shows for FLAGS: the kernel implies O (open-binary) for C (credentials)."""
    shown = set(flags.upper())
    if "C" in shown:
        shown.add("O")
    return "".join(sorted(shown))


def registration_line(arch: Architecture, interpreter: str, flags: str) -> str:
    """The kernel's format, also systemd-binfmt's: :name:type:offset:magic:mask:interpreter:flags"""
    return f":{arch.handler}:M::{arch.magic}:{arch.mask}:{interpreter}:{flags}"


def escaped_to_hex(escaped: str) -> str:
    """``\\x7fELF`` -> ``7f454c46``, as /proc prints magic and mask."""
    return escaped.encode("latin-1").decode("unicode_escape").encode("latin-1").hex()


@dataclass(frozen=True)
class Handler:
    name: str
    enabled: bool
    interpreter: str
    flags: str
    magic: str
    mask: str

    def as_result(self) -> dict:
        return {"enabled": self.enabled, "interpreter": self.interpreter, "flags": self.flags}


def parse_entry(name: str, text: str) -> Handler:
    """Parse /proc/sys/fs/binfmt_misc/<name>."""
    fields = {"flags": ""}
    enabled = False
    for line in text.splitlines():
        line = line.strip()
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
        elif line.startswith("flags:"):
            fields["flags"] = line.split(":", 1)[1].strip()
        elif " " in line:
            key, value = line.split(" ", 1)
            fields[key] = value.strip()
    return Handler(name, enabled, fields.get("interpreter", ""), "".join(sorted(fields["flags"])),
                   fields.get("magic", ""), fields.get("mask", ""))


def handler_matches(current: Handler, arch: Architecture, interpreter: str, flags: str) -> bool:
    return (
        current.enabled
        and current.interpreter == interpreter
        and current.flags == required_flags(flags)
        and current.magic == escaped_to_hex(arch.magic)
        and current.mask == escaped_to_hex(arch.mask)
    )


def platforms_of(handlers: dict) -> list:
    """Docker platforms whose QEMU handler is registered and enabled."""
    found = []
    for arch in ARCHITECTURES:
        handler = handlers.get(arch.handler)
        if handler is not None and handler.enabled:
            found.extend(arch.platforms[:2] if arch.qemu == "arm" else arch.platforms[:1])
    return found
