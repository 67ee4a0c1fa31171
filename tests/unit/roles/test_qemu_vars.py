"""The qemu role's expression that decides whether apt has anything to do, rendered by Ansible's own templating from
roles/qemu/vars/main.yml (issue 19: an idempotent run skips apt only when dpkg says the package is there)."""
from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

VARS = pathlib.Path(__file__).parents[3] / "roles" / "qemu" / "vars" / "main.yml"
EXPRESSION = yaml.safe_load(VARS.read_text())["qemu_package_installed"]


def installed(stdout: str, pin: str, rc: int = 0) -> bool:
    templar = Templar(loader=DataLoader(), variables={
        "qemu_dpkg_record": {"rc": rc, "stdout": stdout}, "qemu_package_version": pin})
    return templar.template(trust_as_template(EXPRESSION))


@pytest.mark.parametrize("stdout, pin, expected", [
    ("ii |1:10.0.6+ds-0+deb13u2", "", True),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0.6+ds-0+deb13u2", True),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0*", True),  # apt's wildcard pin, as defaults/main.yml documents it
    ("ii |1:10.0.6+ds-0+deb13u2", "1:9.2*", False),
    ("ii |1:10.0.6+ds-0+deb13u2", "1:10.0.6", False),  # a pin is the whole version, not a prefix
    ("ii |1:10x0.6", "1:10.0*", False),  # the pin's dot is a dot
    ("rc |1:10.0.6+ds-0+deb13u2", "", False),  # removed, configuration left: apt must install it
    ("iU |1:10.0.6+ds-0+deb13u2", "", False),  # unpacked, not configured
])
def test_apt_is_skipped_only_for_a_fully_installed_package_at_the_pin(stdout, pin, expected):
    assert installed(stdout, pin) is expected


def test_no_record_means_apt_runs():
    assert installed("", "", rc=1) is False
