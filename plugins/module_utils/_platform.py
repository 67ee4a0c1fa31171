# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One spelling of a platform, as Docker writes it: ``linux/arm64``, ``linux/arm/v7``."""
from __future__ import annotations

import re
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

# buildx adds attestation manifests with this platform to a pushed index; they are not images.
ATTESTATION_PLATFORM = "unknown/unknown"

# The operating systems and architectures containerd's platform parser knows (BuildKit 0.13 and buildx 0.13 vendor it,
# platforms/database.go). For os/arch it accepts any word and stores it, so a typo makes a builder that cannot build.
KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd",
    "openbsd", "plan9", "solaris", "windows", "zos",
})
KNOWN_ARCHITECTURES = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle",
    "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64",
    "wasm",
})
# Each component, as containerd's parser requires it.
_COMPONENT = re.compile(r"^[A-Za-z0-9_-]+$")


class PlatformError(BuildhostError):
    pass


def format_platform(platform: Any) -> str:
    """``{"os": "linux", "architecture": "arm", "variant": "v7"}`` (an OCI platform, or buildx's JSON) -> ``linux/arm/v7``.

    A string is taken as already spelled; a missing os is Linux, the only one this collection builds for.
    """
    if isinstance(platform, str):
        return platform
    parts = [platform.get("os") or "linux", platform.get("architecture") or ""]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def _normalize_architecture(architecture: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch: the aliases people write, and the variants implied by default."""
    architecture, variant = architecture.lower(), variant.lower()
    if architecture == "i386":
        return "386", ""
    if architecture in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if architecture in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8") else variant
    if architecture == "armhf":
        return "arm", "v7"
    if architecture == "armel":
        return "arm", "v6"
    if architecture == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return architecture, variant


def normalize_platform(spelling: Any) -> str:
    """A platform as buildx stores it once it has parsed and normalised it: ``linux/aarch64`` -> ``linux/arm64``,
    ``linux/arm`` -> ``linux/arm/v7``, ``arm64`` -> ``linux/arm64``.

    Comparing a builder's stored platforms with these spellings finds no drift where buildx only normalised a name.
    Raises PlatformError, naming SPELLING, for anything buildx would refuse or BuildKit could not build for: not
    ``os/arch[/variant]``, or an operating system or architecture containerd does not know.
    """
    if not isinstance(spelling, str):
        raise PlatformError(f"platform {spelling!r} is not a string such as linux/arm64")
    parts = spelling.split("/")
    if len(parts) > 3 or not all(_COMPONENT.match(part) for part in parts):
        raise PlatformError(f"platform {spelling!r} is not os/arch[/variant] (such as linux/arm64 or linux/arm/v7),"
                            " each part letters, digits, '_' or '-'")
    if len(parts) == 1:
        if parts[0].lower() in KNOWN_OS | {"macos"}:
            # buildx would add its own machine's architecture, which is seldom what a builder's platform list means.
            raise PlatformError(f"platform {spelling!r} names an operating system only; add the architecture, such as"
                                f" {parts[0].lower()}/arm64")
        parts = ["linux"] + parts  # buildx adds its own OS, and the docker CLI it runs in here is on Linux
    system = parts[0].lower()
    if system == "macos":
        system = "darwin"
    architecture, variant = _normalize_architecture(parts[1], parts[2] if len(parts) == 3 else "")
    if system not in KNOWN_OS:
        raise PlatformError(f"platform {spelling!r}: unknown operating system {system!r} (known: {', '.join(sorted(KNOWN_OS))})")
    if architecture not in KNOWN_ARCHITECTURES:
        raise PlatformError(f"platform {spelling!r}: unknown architecture {architecture!r}"
                            f" (known: {', '.join(sorted(KNOWN_ARCHITECTURES))})")
    return "/".join([system, architecture] + ([variant] if variant else []))
