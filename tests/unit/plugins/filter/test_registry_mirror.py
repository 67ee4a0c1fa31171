# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.registry_mirror import (
    registry_mirror_buildkitd_settings, registry_mirror_daemon_settings)


def test_no_mirror_changes_nothing_anywhere():
    for empty in ([], None, ""):
        assert registry_mirror_daemon_settings(empty) == {}
        assert registry_mirror_buildkitd_settings(empty) == {}


def test_one_setting_in_each_daemons_words():
    mirrors = ["https://mirror.example.com/", "http://10.0.0.5:5000", "http://[fd00::5]:5000"]
    assert registry_mirror_daemon_settings(mirrors) == {
        "registry-mirrors": ["https://mirror.example.com", "http://10.0.0.5:5000", "http://[fd00::5]:5000"]}
    # BuildKit takes host:port, and would reach a plain-HTTP mirror over TLS without http = true.
    assert registry_mirror_buildkitd_settings(mirrors) == {"registry": {
        "docker.io": {"mirrors": ["mirror.example.com", "10.0.0.5:5000", "[fd00::5]:5000"]},
        "10.0.0.5:5000": {"http": True},
        "[fd00::5]:5000": {"http": True},
    }}


@pytest.mark.parametrize("mirror, words", [
    ("https://ci:s3cret@mirror.example.com", "holds credentials"),
    ("mirror.example.com", "is not an http:// or https:// URL"),
    ("ftp://mirror.example.com", "is not an http:// or https:// URL"),
    ("https://mirror.example.com/v2/library", "has a path"),
    ("https://mirror.example.com:99999", "port outside 1 to 65535"),
    (5000, "is not a URL"),
])
def test_a_mirror_either_daemon_would_misread_is_refused_naming_it(mirror, words):
    with pytest.raises(AnsibleFilterError, match=words):
        registry_mirror_daemon_settings([mirror])
    with pytest.raises(AnsibleFilterError, match=words):
        registry_mirror_buildkitd_settings([mirror])


def test_the_password_is_not_repeated_in_the_refusal():
    with pytest.raises(AnsibleFilterError) as refusal:
        registry_mirror_daemon_settings(["https://ci:s3cret@mirror.example.com"])
    assert "s3cret" not in str(refusal.value)


def test_a_single_string_is_refused_rather_than_read_letter_by_letter():
    with pytest.raises(AnsibleFilterError, match="is a list of URLs"):
        registry_mirror_daemon_settings("https://mirror.example.com")
