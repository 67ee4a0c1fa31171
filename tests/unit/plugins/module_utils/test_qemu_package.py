"""_qemu_package: an idempotent run skips apt only when dpkg says the package is fully installed at the pin (issue 19's
rule, moved from the qemu role's vars into Python with issue 30)."""
from __future__ import annotations

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._qemu_package import package_state, version_matches_pin


class FakeModule:
    def __init__(self, rc=0, out="", dpkg="/usr/bin/dpkg-query"):
        self.answer, self.dpkg, self.ran = (rc, out, ""), dpkg, []

    def get_bin_path(self, name):
        return self.dpkg if name == "dpkg-query" else None

    def run_command(self, argv):
        self.ran.append(argv)
        return self.answer


@pytest.mark.parametrize("record, pin, expected", [
    ("ii |1:10.0.6+ds-0+deb13u2", "", True),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0.6+ds-0+deb13u2", True),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0*", True),  # apt's wildcard pin, as defaults/main.yml documents it
    ("ii |1:10.0.6+ds-0+deb13u2", "1:9.2*", False),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0.6", False),  # a pin is the whole version, not a prefix
    ("ii |1:10x0.6", "1:10.0*", False),  # the pin's dot is a dot
    ("rc |1:10.0.6+ds-0+deb13u2", "", False),  # removed, configuration left: apt must install it
    ("iU |1:10.0.6+ds-0+deb13u2", "", False),  # unpacked, not configured
])
def test_apt_is_skipped_only_for_a_fully_installed_package_at_the_pin(record, pin, expected):
    module = FakeModule(out=record)
    state = package_state(module, "qemu-user-static", pin)
    assert state["installed"] is expected and state["manager"] == "dpkg"
    assert state["version"] == record.split("|", 1)[1]
    assert module.ran == [["/usr/bin/dpkg-query", "--show", "--showformat=${db:Status-Abbrev}|${Version}", "qemu-user-static"]]


def test_no_record_means_apt_runs():
    state = package_state(FakeModule(rc=1, out=""), "qemu-user-static", "")
    assert state == {"manager": "dpkg", "installed": False, "version": None}


def test_without_dpkg_the_package_module_decides():
    assert package_state(FakeModule(dpkg=None), "qemu-user-static", "")["installed"] is None


def test_a_wildcard_matches_any_rest_and_nothing_else_is_special():
    assert version_matches_pin("1:10.0.6+ds", "1:10*+ds")
    assert not version_matches_pin("1:10.0.6+ds", "1:10.0.6?ds")
