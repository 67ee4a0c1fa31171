# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One spelling of a platform, as Docker writes it: ``linux/arm64``, ``linux/arm/v7``."""
from __future__ import annotations

from typing import Any

# buildx adds attestation manifests with this platform to a pushed index; they are not images.
ATTESTATION_PLATFORM = "unknown/unknown"


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
