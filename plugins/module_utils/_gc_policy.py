# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared build-cache GC policy (the multiarch role's multiarch_gc_*): how many bytes of cache a builder keeps,
and the daemon.json settings that give the engine's own BuildKit that limit. One formula for dockerd's builder.gc (the
docker role, through docker_host_state) and docker-container builders (the buildx role, through the gc_keep_bytes
filter)."""
from __future__ import annotations

from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


def keep_storage_bytes(keep_storage: Any, data_root_size: Any, keep_fraction: Any, fallback: Any) -> int:
    """KEEP_STORAGE when set; else KEEP_FRACTION of the filesystem that holds the cache (DATA_ROOT_SIZE bytes); else,
    when that size could not be read, FALLBACK."""
    try:
        if keep_storage is not None:
            return int(keep_storage)
        if data_root_size:
            return int(int(data_root_size) * float(keep_fraction))
        return int(fallback)
    except (TypeError, ValueError) as exc:
        raise BuildhostError(f"the GC policy needs numbers: keep_storage={keep_storage!r}, keep_fraction={keep_fraction!r}, "
                             f"keep_storage_fallback={fallback!r} ({exc})") from None


def builder_gc_settings(policy: dict[str, Any] | None, data_root_size: int | None) -> dict[str, Any]:
    """daemon.json's builder.gc for POLICY ({enabled, keep_storage, keep_fraction, keep_storage_fallback}), or nothing
    when POLICY is missing or disabled. defaultKeepStorage is a string: dockerd parses it as a size."""
    if not policy or not policy.get("enabled"):
        return {}
    keep = keep_storage_bytes(policy.get("keep_storage"), data_root_size, policy.get("keep_fraction", 0.1),
                              policy.get("keep_storage_fallback", 10_000_000_000))
    return {"builder": {"gc": {"enabled": True, "defaultKeepStorage": str(keep)}}}
