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


def test_a_policy_that_is_not_a_number_fails_by_name():
    with pytest.raises(AnsibleFilterError, match="gc_keep_bytes: the GC policy needs numbers"):
        gc_keep_bytes(100, None, "lots", 7)


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters() == {"gc_keep_bytes": gc_keep_bytes}
