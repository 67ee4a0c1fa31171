"""The qemu role's canary targets and verdicts, moved from Jinja programs in roles/qemu/vars/main.yml into a filter
(issue 30): the same stamps (a host whose canary passed keeps its stamp), and a forced failure read right."""
from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.qemu_canary import qemu_canary_targets, qemu_canary_verdicts

PROBES = {"qemu-aarch64": {"platform": "linux/arm64", "debian_arch": "arm64"},
          "qemu-arm": {"platform": "linux/arm/v7", "debian_arch": "armhf"},
          "qemu-riscv64": {"platform": "linux/riscv64", "debian_arch": "riscv64"}}
BINFMT = {"requested_handlers": ["qemu-aarch64", "qemu-arm"],
          "handlers": {"qemu-aarch64": {"enabled": True, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "F"},
                       "qemu-arm": {"enabled": False, "interpreter": "/usr/bin/qemu-arm-static", "flags": "F"},
                       "qemu-riscv64": {"enabled": True, "interpreter": "/usr/bin/qemu-riscv64-static", "flags": "F"}},
          "qemu_versions": {"qemu-aarch64": "1:10.0.6+ds-0+deb13u2"}}
ARGS = ("/var/cache/multiarch-buildhost/qemu-canary", "trixie", "http://deb.debian.org/debian",
        "multiarch-buildhost-canary.json")


def test_only_enabled_requested_handlers_of_asked_platforms_are_targets_with_the_stamp_the_role_wrote():
    (target,) = qemu_canary_targets(PROBES, BINFMT, ["linux/arm64", "linux/arm/v7", "linux/riscv64"], *ARGS)
    directory = "/var/cache/multiarch-buildhost/qemu-canary/trixie-arm64"
    # The key and hash the Jinja program used (Ansible's hash('sha1') of the joined string): stamps stay valid.
    key = "/usr/bin/qemu-aarch64-static|F|1:10.0.6+ds-0+deb13u2|trixie|http://deb.debian.org/debian"
    assert target == {
        "platform": "linux/arm64", "handler": "qemu-aarch64", "arch": "arm64", "dir": directory,
        "rootfs": f"{directory}/rootfs", "marker": f"{directory}/multiarch-buildhost-canary.json",
        "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "F", "qemu_version": "1:10.0.6+ds-0+deb13u2",
        "stamp": f"{directory}/passed-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"}


def test_a_new_qemu_version_means_a_new_stamp():
    newer = dict(BINFMT, qemu_versions={"qemu-aarch64": "1:10.0.7"})
    assert qemu_canary_targets(PROBES, newer, ["linux/arm64"], *ARGS)[0]["stamp"] != \
        qemu_canary_targets(PROBES, BINFMT, ["linux/arm64"], *ARGS)[0]["stamp"]
    assert qemu_canary_targets(PROBES, dict(BINFMT, qemu_versions=None), ["linux/arm64"], *ARGS)[0]["qemu_version"] == \
        "not installed yet"


def run(first_line, output="", stderr="", target=None):
    program = {"name": "ldconfig", "argv": ["/sbin/ldconfig", "-p"], "expect": "libc"}
    return {"item": [target or {"platform": "linux/arm64"}, program], "stdout_lines": [first_line, *output.split("\n")],
            "stderr": stderr}


@pytest.mark.parametrize(("first_line", "outcome"), [
    ("0 0", "exited 0"),
    ("3 139", "was killed by signal 11 (segmentation fault)"),  # 128 + SIGSEGV, as the shell reports it
    ("1 -4", "was killed by signal 4 (illegal instruction)"),
    ("2 124", "had no answer within 30 s"),                        # timeout(1)
    ("1 2", "exited 2"),
    ("1 143", "was killed by signal 15 (see signal(7))"),
])
def test_each_run_becomes_a_verdict_with_how_its_first_failure_ended(first_line, outcome):
    (verdict,) = qemu_canary_verdicts([run(first_line, "libc6 found", "line one\nline two\n")], "5", 30)
    assert verdict["outcome"] == outcome and verdict["runs"] == 5
    assert verdict["failures"] == int(first_line.split()[0])
    assert verdict["platform"] == "linux/arm64" and verdict["program"] == "ldconfig"
    assert verdict["stderr"] == "line one / line two" and verdict["output"] == "libc6 found"


def test_a_skipped_run_gives_no_verdict_and_a_garbled_first_line_fails_naming_it():
    assert qemu_canary_verdicts([{"item": [{}, {}], "skipped": True}], 5, 30) == []
    with pytest.raises(AnsibleFilterError, match="'segfault'"):
        qemu_canary_verdicts([run("segfault")], 5, 30)
