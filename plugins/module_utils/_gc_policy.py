# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared build-cache GC policy (the multiarch role's multiarch_gc_*): how many bytes of cache a builder keeps,
and the daemon.json settings that give the engine's own BuildKit that limit. One formula for dockerd's builder.gc (the
docker role, through docker_host_state) and docker-container builders (the buildx role, through the gc_keep_bytes
filter).

BuildKit (v0.13) collects by bytes only; it ignores inodes (buildkit#3039). A cache of many small files runs a
filesystem with few inodes out of them long before a byte cap is reached. The formula bounds inodes through bytes.
Where the cache sits on a containerd snapshotter (a docker-container builder's or a fleet's BuildKit, and dockerd with
the containerd image store), a snapshot's size is the blocks its files hold (st_blocks), and a regular file with data,
a directory or a slow symbolic link holds at least one filesystem block. So a cache of at most KEEP_INODE_FRACTION x
INODES x BLOCK_SIZE bytes holds at most KEEP_INODE_FRACTION of the inodes in such files. What holds no block escapes
that bound: empty files, fast symbolic links (a short target kept in the inode), device nodes, and files small enough
for ext4's inline_data (a feature mkfs.ext4 leaves off). dockerd's classic store (overlay2 without the containerd
image store) sizes its build cache by the files' apparent bytes, without directories or empty files, so there the term
only lowers the cap. Collections also run at most once a minute, so a minute of builds lands on top of the cap either
way."""
from __future__ import annotations

from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

# The documented defaults of the multiarch role's multiarch_gc_keep_*, which the filter and docker_host_state repeat.
KEEP_FRACTION = 0.1
# Half the inodes, counted as one block each. On an ext4 made with mkfs.ext4's defaults (one inode per 16 KiB, 4 KiB
# blocks) that is 0.5 x size / 4 = 12.5 % of the size: above KEEP_FRACTION, so the byte term decides there, and the
# inode term decides only where inodes are scarcer than that.
KEEP_INODE_FRACTION = 0.5
KEEP_STORAGE_FALLBACK = 10_000_000_000


def inode_cap_bytes(inodes: Any, block_size: Any, keep_inode_fraction: Any) -> int | None:
    """KEEP_INODE_FRACTION x INODES x BLOCK_SIZE, the bytes of one-block files that fill that share of the filesystem's
    inodes; None when there is no such bound: the inode count or block size is unknown or 0 (btrfs has no fixed inode
    count: statvfs's f_files is 0), or KEEP_INODE_FRACTION is 0 or None (the term turned off)."""
    if keep_inode_fraction is None or not inodes or not block_size:
        return None
    fraction = float(keep_inode_fraction)
    if fraction == 0:
        return None
    if fraction < 0:
        raise ValueError("keep_inode_fraction must not be below 0 (0 turns the inode term off)")
    return int(int(inodes) * int(block_size) * fraction)


def keep_storage_bytes(keep_storage: Any, data_root_size: Any, keep_fraction: Any, fallback: Any, inodes: Any = None,
                       block_size: Any = None, keep_inode_fraction: Any = None) -> int:
    """KEEP_STORAGE when set; else the smaller of KEEP_FRACTION of the filesystem that holds the cache (DATA_ROOT_SIZE
    bytes) and KEEP_INODE_FRACTION of its INODES counted as one BLOCK_SIZE each (inode_cap_bytes; left out where it
    does not apply); else, when that size could not be read, FALLBACK."""
    try:
        if keep_storage is not None:
            return int(keep_storage)
        if data_root_size:
            keep = int(int(data_root_size) * float(keep_fraction))
            inode_cap = inode_cap_bytes(inodes, block_size, keep_inode_fraction)
            return keep if inode_cap is None else min(keep, inode_cap)
        return int(fallback)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: inf
        raise BuildhostError(f"the GC policy needs numbers: keep_storage={keep_storage!r}, keep_fraction={keep_fraction!r}, "
                             f"keep_inode_fraction={keep_inode_fraction!r}, keep_storage_fallback={fallback!r} "
                             f"({exc})") from None


def builder_gc_settings(policy: dict[str, Any] | None, data_root_size: int | None, inodes: int | None = None,
                        block_size: int | None = None) -> dict[str, Any]:
    """daemon.json's builder.gc for POLICY ({enabled, keep_storage, keep_fraction, keep_inode_fraction,
    keep_storage_fallback}) on a data root of DATA_ROOT_SIZE bytes, INODES inodes and BLOCK_SIZE-byte blocks, or nothing
    when POLICY is missing or disabled. defaultKeepStorage is a string: dockerd parses it as a size."""
    if not policy or not policy.get("enabled"):
        return {}
    keep = keep_storage_bytes(policy.get("keep_storage"), data_root_size, policy.get("keep_fraction", KEEP_FRACTION),
                              policy.get("keep_storage_fallback", KEEP_STORAGE_FALLBACK), inodes, block_size,
                              policy.get("keep_inode_fraction", KEEP_INODE_FRACTION))
    return {"builder": {"gc": {"enabled": True, "defaultKeepStorage": str(keep)}}}
