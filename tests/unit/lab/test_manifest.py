"""The lab manifest's drift report (tests/lab/manifest.py): what make test prints first when a Debian update bites."""
from __future__ import annotations

import importlib.util
import os

SPEC = importlib.util.spec_from_file_location(
    "lab_manifest", os.path.join(os.path.dirname(__file__), "..", "..", "lab", "manifest.py"))
manifest = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(manifest)

OLD = """# multiarch lab manifest: part package version
engine dockerd 26.1.5
host-image-13 systemd 257.13-1~deb13u1
host-image-13 libfoo 1.0
"""
NEW = """engine dockerd 26.1.5
host-image-13 systemd 257.14-1~deb13u1
host-archive-13 qemu-user-binfmt 1:10.0.13+ds-0+deb13u1
"""


def test_drift_names_each_change_test_hosts_first():
    lines = manifest.drift(manifest.parse(NEW), manifest.parse(OLD))
    assert lines == [
        "host-archive-13: qemu-user-binfmt 1:10.0.13+ds-0+deb13u1 (new)",
        "host-image-13: libfoo 1.0 (gone)",
        "host-image-13: systemd 257.13-1~deb13u1 -> 257.14-1~deb13u1",
    ]
    assert manifest.summary(lines).startswith("[lab-drift] 3 package versions differ from the last passing run: "
                                              "host-archive-13: qemu-user-binfmt")


def test_no_drift_says_so_and_a_long_drift_is_cut_with_a_count():
    assert "none" in manifest.summary(manifest.drift(manifest.parse(OLD), manifest.parse(OLD)))
    many = [f"host-image-13: p{i} 1 -> 2" for i in range(10)]
    assert manifest.summary(many, most=3).endswith("; and 7 more")


def test_render_and_parse_round_trip():
    entries = manifest.parse(NEW)
    assert manifest.parse(manifest.render(entries)) == entries
