"""The gc_keep_bytes filter, with the arguments the buildx role's vars give it (strings from -e included)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.gc import FilterModule, gc_keep_bytes


def test_a_fraction_of_the_data_root_unless_set_or_unknown():
    assert gc_keep_bytes(100_000_000_000, None, "0.1", 7) == 10_000_000_000
    assert gc_keep_bytes(100_000_000_000, 5, 0.1, 7) == 5
    assert gc_keep_bytes(None, None, 0.1, "7") == 7
    assert gc_keep_bytes(100_000_000_000) == 10_000_000_000  # the documented defaults


def test_the_inode_term_as_the_buildx_role_passes_it():
    mib = 1024 * 1024
    # mkfs.ext4 -N 8192 on 512 MiB: half the inodes in 4 KiB blocks (16 MiB) is less than a tenth (51 MiB).
    assert gc_keep_bytes(512 * mib, None, 0.1, 7, inodes=8192, block_size=4096) == 16 * mib  # the documented default
    assert gc_keep_bytes(512 * mib, None, "0.1", "7", inodes="8192", block_size="4096", keep_inode_fraction="0.5") == 16 * mib
    # mkfs.ext4's defaults on 100 GB (one inode per 16 KiB): the byte term decides.
    assert gc_keep_bytes(100_000_000_000, None, 0.1, 7, inodes=6103515, block_size=4096) == 10_000_000_000
    assert gc_keep_bytes(512 * mib, None, 0.1, 7, inodes=None, block_size=4096) == int(512 * mib * 0.1)  # btrfs
    assert gc_keep_bytes(512 * mib, None, 0.1, 7, inodes=8192, block_size=4096, keep_inode_fraction=None) == int(512 * mib * 0.1)
    assert gc_keep_bytes(512 * mib, None, 0.1, 7, inodes=8192, block_size=4096, keep_inode_fraction=0) == int(512 * mib * 0.1)
    assert gc_keep_bytes(512 * mib, 5, 0.1, 7, inodes=8192, block_size=4096) == 5  # set: wins


def test_a_policy_that_is_not_a_number_fails_by_name():
    with pytest.raises(AnsibleFilterError, match="gc_keep_bytes: the GC policy needs numbers"):
        gc_keep_bytes(100, None, "lots", 7)
    with pytest.raises(AnsibleFilterError, match="keep_inode_fraction=-1"):
        gc_keep_bytes(100, None, 0.1, 7, inodes=10, block_size=4096, keep_inode_fraction=-1)


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters() == {"gc_keep_bytes": gc_keep_bytes}
