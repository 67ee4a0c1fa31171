"""Platforms as buildx stores them after containerd's parser has normalised them, and the ones no BuildKit knows."""
from __future__ import annotations

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import PlatformError, normalize_platform


@pytest.mark.parametrize(("spelling", "stored"), [
    ("linux/arm64", "linux/arm64"),
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/arm/6", "linux/arm/v6"),
    ("linux/x86_64", "linux/amd64"),
    ("linux/amd64/v2", "linux/amd64/v2"),
    ("linux/i386", "linux/386"),
    ("Linux/PPC64LE", "linux/ppc64le"),
    ("arm64", "linux/arm64"),
    ("riscv64", "linux/riscv64"),
])
def test_spellings_become_what_buildx_stores(spelling, stored):
    assert normalize_platform(spelling) == stored


@pytest.mark.parametrize(("spelling", "message"), [
    ("linux/amd46", "unknown architecture 'amd46'"),
    ("linxu/amd64", "unknown operating system 'linxu'"),
    ("linux", "names an operating system only"),
    ("local", "unknown architecture 'local'"),
    ("", "is not os/arch"),
    ("linux/", "is not os/arch"),
    ("linux/arm64 ", "is not os/arch"),
    ("linux/arm/v7/extra", "is not os/arch"),
    ("linux/*", "is not os/arch"),
    (None, "is not a string"),
])
def test_what_buildkit_cannot_build_for_is_refused_by_name(spelling, message):
    with pytest.raises(PlatformError, match=message) as error:
        normalize_platform(spelling)
    assert repr(spelling) in str(error.value)
