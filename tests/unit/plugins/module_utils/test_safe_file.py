"""The hardened file layer's refusals that need no root (the attacks by a real user are in tests/integration/hostile)."""
from __future__ import annotations

import fcntl
import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils import _safe_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileRefused, open_parent, read_file


def test_a_nul_byte_in_the_path_is_refused_by_name():
    with pytest.raises(FileRefused) as refused:
        read_file("/tmp/a\0b", 10)
    assert "NUL" in str(refused.value)


def test_a_lock_held_elsewhere_fails_after_the_deadline_instead_of_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(_safe_file, "LOCK_TIMEOUT_SECONDS", 0.3)
    holder = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a separate open file description: flock treats it as another holder
    try:
        with pytest.raises(FileRefused) as refused:
            with open_parent(str(tmp_path / "daemon.json")):
                pass
        assert "stayed locked" in str(refused.value)
    finally:
        os.close(holder)
    with open_parent(str(tmp_path / "daemon.json")) as parent:  # free again
        assert parent.fd is not None
