from __future__ import annotations

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._version import (
    UnparsableVersion,
    parse_version,
    version_at_least,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("26.1.5", (26, 1, 5)),
        ("19.03.15", (19, 3, 15)),
        ("18.09.9-ce", (18, 9, 9)),
        ("1.13.1", (1, 13, 1)),
        ("v0.13.1", (0, 13, 1)),
        ("1.7.24~ds1", (1, 7, 24)),
        ("19.03.0", (19, 3)),
    ],
)
def test_real_version_strings_parse(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("found", "minimum", "ok"),
    [
        ("20.10.24+dfsg1", "19.03", True),
        ("19.03.0", "19.03", True),
        ("19.03.15", "19.03", True),
        ("18.09.9-ce", "19.03", False),
        ("1.13.1", "19.03", False),
        ("26.1.5", "26.1.6", False),
    ],
)
def test_minimum_comparison(found, minimum, ok):
    assert version_at_least(found, minimum) is ok


def test_garbage_is_refused():
    with pytest.raises(UnparsableVersion):
        parse_version("latest")
