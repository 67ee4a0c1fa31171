"""_host_files: root's small files and timers as a read sees them (the prune watchdog's), without writing."""
from __future__ import annotations

import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._host_files import file_state, timer_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="compares root's ownership")


def test_a_file_is_unchanged_only_with_the_same_bytes_mode_and_root_as_owner(tmp_path):
    path = tmp_path / "unit.timer"
    assert file_state(str(path), "[Timer]\n", 0o644) == {"exists": False, "would_change": True}
    path.write_text("[Timer]\n")
    path.chmod(0o644)
    assert file_state(str(path), "[Timer]\n", 0o644) == {"exists": True, "would_change": False}
    assert file_state(str(path), "[Timer]\nX=1\n", 0o644)["would_change"] is True
    assert file_state(str(path), "[Timer]\n", 0o755)["would_change"] is True
    os.chown(path, 4242, 0)
    assert file_state(str(path), "[Timer]\n", 0o644)["would_change"] is True


class FakeModule:
    def __init__(self, out, systemctl="/usr/bin/systemctl"):
        self.out, self.systemctl, self.ran = out, systemctl, []

    def get_bin_path(self, name):
        return self.systemctl

    def run_command(self, argv):
        self.ran.append(argv)
        return 0, self.out, ""


def test_a_timer_is_read_in_one_systemctl_run():
    module = FakeModule("UnitFileState=enabled\nActiveState=active\n")
    assert timer_state(module, "x.timer") == {"enabled": True, "active": True}
    assert module.ran == [["/usr/bin/systemctl", "show", "x.timer", "--property", "UnitFileState,ActiveState"]]
    assert timer_state(FakeModule("UnitFileState=disabled\nActiveState=inactive\n"), "x.timer") == {"enabled": False, "active": False}
    assert timer_state(FakeModule("", systemctl=None), "x.timer") == {"enabled": False, "active": False}
