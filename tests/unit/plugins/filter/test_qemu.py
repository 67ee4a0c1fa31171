"""qemu_known_bad_findings: the qemu role's refusal of QEMU releases known to crash, with the role's own table."""
from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.qemu import FilterModule, qemu_known_bad_findings

TABLE = yaml.safe_load((pathlib.Path(__file__).parents[4] / "roles" / "qemu" / "vars" / "main.yml").read_text())["qemu_known_bad"]


def binfmt(**versions):
    return {"requested_handlers": ["qemu-aarch64", "qemu-arm"],
            "handlers": {name: {"interpreter": f"/usr/bin/{name}-static"} for name in versions},
            "qemu_versions": versions}


@pytest.mark.parametrize("version, affected", [
    ("8.1.0", False), ("8.1.1", True), ("8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)", True), ("9.2.0", True),
    ("9.2.2", False), ("10.0.6 (Debian 1:10.0.6+ds-0+deb13u2)", False), ("7.2.19", False),
])
def test_the_range_is_introduced_up_to_not_including_fixed(version, affected):
    [finding] = qemu_known_bad_findings(binfmt(**{"qemu-aarch64": version}), TABLE)
    assert finding["id"] == "qemu-issue-1913"
    assert [item["handler"] for item in finding["affected"]] == (["qemu-aarch64"] if affected else [])
    assert finding["vetted_versions"] == [version] and finding["accepted"] is False


def test_each_affected_interpreter_is_named_and_an_accepted_id_says_so():
    [finding] = qemu_known_bad_findings(binfmt(**{"qemu-aarch64": "9.2.0", "qemu-arm": "10.0.6"}), TABLE,
                                        ["qemu-issue-1913"])
    assert finding["affected"] == [{"handler": "qemu-aarch64", "interpreter": "/usr/bin/qemu-aarch64-static",
                                    "qemu_version": "9.2.0"}]
    assert finding["accepted"] is True and finding["vetted_versions"] == ["10.0.6", "9.2.0"]


def test_handlers_without_a_version_and_handlers_not_requested_are_not_vetted():
    result = binfmt(**{"qemu-aarch64": None, "qemu-riscv64": "9.2.0"})
    [finding] = qemu_known_bad_findings(result, TABLE)
    assert finding["affected"] == [] and finding["vetted_versions"] == []


def test_a_table_version_that_is_not_a_version_fails_naming_the_entry():
    with pytest.raises(AnsibleFilterError, match="bad-1's fixed is not a QEMU version"):
        qemu_known_bad_findings(binfmt(**{"qemu-aarch64": "9.2.0"}), [{"id": "bad-1", "introduced": "1.0", "fixed": "soon"}])


def test_registered_under_its_documented_name():
    assert FilterModule().filters() == {"qemu_known_bad_findings": qemu_known_bad_findings}
