# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build-cache GC policy's size for the roles (docs: gc_keep_bytes.yml); the formula itself is _gc_policy's, which
docker_host_state uses for dockerd's builder.gc."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._gc_policy import (
    KEEP_FRACTION,
    KEEP_INODE_FRACTION,
    KEEP_STORAGE_FALLBACK,
    keep_storage_bytes,
)


def gc_keep_bytes(data_root_size: Any, keep_storage: Any = None, keep_fraction: Any = KEEP_FRACTION,
                  keep_storage_fallback: Any = KEEP_STORAGE_FALLBACK, inodes: Any = None, block_size: Any = None,
                  keep_inode_fraction: Any = KEEP_INODE_FRACTION) -> int:
    try:
        return keep_storage_bytes(keep_storage, data_root_size, keep_fraction, keep_storage_fallback, inodes, block_size,
                                  keep_inode_fraction)
    except BuildhostError as exc:
        raise AnsibleFilterError(f"gc_keep_bytes: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gc_keep_bytes": gc_keep_bytes}
