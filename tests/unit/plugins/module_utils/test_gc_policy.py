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
