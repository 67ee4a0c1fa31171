"""_gc_policy: the one GC formula for dockerd's builder.gc and docker-container builders."""
from __future__ import annotations

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._gc_policy import builder_gc_settings, keep_storage_bytes


@pytest.mark.parametrize("keep, size, fraction, fallback, expected", [
    (None, 100_000_000_000, 0.1, 7, 10_000_000_000),  # a tenth of the data root's filesystem
    (None, 100_000_000_000, "0.25", 7, 25_000_000_000),  # -e gives strings
    (5_000, 100_000_000_000, 0.1, 7, 5_000),  # set: wins over the fraction
    (None, None, 0.1, 7, 7),  # no size read (no engine yet): the fallback
    (None, 0, 0.1, "7", 7),
])
def test_keep_storage_bytes(keep, size, fraction, fallback, expected):
    assert keep_storage_bytes(keep, size, fraction, fallback) == expected


def test_a_policy_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(BuildhostError, match="keep_fraction='a tenth'"):
        keep_storage_bytes(None, 100, "a tenth", 7)


def test_builder_gc_settings_are_what_dockerd_reads():
    policy = {"enabled": True, "keep_storage": None, "keep_fraction": 0.1, "keep_storage_fallback": 10}
    assert builder_gc_settings(policy, 1_000) == {"builder": {"gc": {"enabled": True, "defaultKeepStorage": "100"}}}
    assert builder_gc_settings(dict(policy, enabled=False), 1_000) == {}
    assert builder_gc_settings(None, 1_000) == {}


# The inode term: KEEP_INODE_FRACTION x inodes x block size, the bytes of one-block files that fill that share of the
# inodes (BuildKit collects by bytes only, buildkit#3039).
MIB = 1024 * 1024
FEW_INODES = dict(size=512 * MIB, inodes=8192, block=4096)  # mkfs.ext4 -N 8192 on 512 MiB
# mkfs.ext4's defaults on 100 GiB: one inode per 16 KiB, 4 KiB blocks.
ORDINARY_EXT4 = dict(size=100 * 1024 * MIB, inodes=100 * 1024 * MIB // 16384, block=4096)


def test_the_inode_term_binds_on_a_filesystem_with_few_inodes():
    fs = FEW_INODES
    keep = keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], 0.5)
    assert keep == 16 * MIB == 0.5 * 8192 * 4096
    assert keep < int(fs["size"] * 0.1)  # the byte term alone (51 MiB, 13107 blocks) would outlast the 8192 inodes
    assert keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], "0.25") == 8 * MIB  # -e gives strings


def test_the_inode_term_does_not_bind_on_an_ordinary_ext4():
    fs = ORDINARY_EXT4
    keep = keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], 0.5)
    assert keep == int(fs["size"] * 0.1)
    assert fs["inodes"] * fs["block"] * 0.5 == fs["size"] * 0.125  # the inode term, above the tenth


@pytest.mark.parametrize("inodes, block", [(0, 4096), (None, 4096), (8192, 0), (8192, None)])
def test_the_inode_term_is_left_out_without_an_inode_count_or_block_size(inodes, block):
    # btrfs has no fixed inode count (statvfs f_files = 0; engine_info reads None); a remote engine gives None.
    assert keep_storage_bytes(None, 512 * MIB, 0.1, 7, inodes, block, 0.5) == int(512 * MIB * 0.1)


def test_the_inode_term_is_left_out_when_its_fraction_is_0_or_null():
    fs = FEW_INODES
    assert keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], 0) == int(fs["size"] * 0.1)
    assert keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], "0.0") == int(fs["size"] * 0.1)
    assert keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"], None) == int(fs["size"] * 0.1)
    assert keep_storage_bytes(None, fs["size"], 0.1, 7, fs["inodes"], fs["block"]) == int(fs["size"] * 0.1)


def test_an_explicit_keep_storage_wins_over_the_inode_term():
    fs = FEW_INODES
    assert keep_storage_bytes(400 * MIB, fs["size"], 0.1, 7, fs["inodes"], fs["block"], 0.5) == 400 * MIB


def test_the_fallback_applies_when_the_size_is_unknown_whatever_the_inodes():
    assert keep_storage_bytes(None, None, 0.1, 7, 8192, 4096, 0.5) == 7


@pytest.mark.parametrize("fraction", [-0.5, "half", "nan", "inf"])
def test_an_inode_fraction_below_zero_or_not_a_number_is_refused_by_name(fraction):
    with pytest.raises(BuildhostError, match=f"keep_inode_fraction={fraction!r}"):
        keep_storage_bytes(None, 512 * MIB, 0.1, 7, 8192, 4096, fraction)


def test_builder_gc_settings_apply_the_inode_term_by_default():
    policy = {"enabled": True, "keep_storage": None, "keep_fraction": 0.1, "keep_storage_fallback": 10}
    fs = FEW_INODES
    assert builder_gc_settings(policy, fs["size"], fs["inodes"], fs["block"]) == {
        "builder": {"gc": {"enabled": True, "defaultKeepStorage": str(16 * MIB)}}}
    assert builder_gc_settings(dict(policy, keep_inode_fraction=None), fs["size"], fs["inodes"], fs["block"]) == {
        "builder": {"gc": {"enabled": True, "defaultKeepStorage": str(int(fs["size"] * 0.1))}}}
    assert builder_gc_settings(policy, fs["size"], 0, fs["block"]) == {  # btrfs
        "builder": {"gc": {"enabled": True, "defaultKeepStorage": str(int(fs["size"] * 0.1))}}}
