"""qemu_host_state in-process: one read of the package, the binfmt prediction (binfmt's own code, always in check mode)
and the canary's cache; a handler that would be (re-)registered makes the canary due, as a real registration does;
nothing is written."""
from __future__ import annotations

import hashlib
import os

import pytest
from ansible.module_utils import basic

MODULE = "ansible_collections.multiarch.buildhost.plugins.modules.qemu_host_state"
MARKER = "multiarch-buildhost-canary.json"
PROBES = {"qemu-aarch64": {"probe": "uname-m-aarch64", "machine": "aarch64", "platform": "linux/arm64",
                           "debian_arch": "arm64"}}
BINFMT = {"changed": False, "requested_handlers": ["qemu-aarch64"], "emulated_platforms": ["linux/arm64"],
          "native_platforms": ["linux/amd64"],
          "handlers": {"qemu-aarch64": {"enabled": True, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "PCF"}},
          "qemu_versions": {"qemu-aarch64": "9.2.2"}}


@pytest.fixture
def kernel(monkeypatch):
    """binfmt's reconcile as the module calls it: records the check_mode it was given, answers with `answer`."""
    calls = []
    answer = {"binfmt": dict(BINFMT), "warnings": []}

    def reconcile(module, request, check_mode):
        calls.append((request, check_mode))
        return dict(answer["binfmt"], diff={"before": "", "after": ""}, warnings=list(answer["warnings"]))

    monkeypatch.setattr(f"{MODULE}.reconcile", reconcile)
    monkeypatch.setattr(f"{MODULE}.package_state",
                        lambda module, name, pin: {"manager": "dpkg", "installed": True, "version": "1:9.2.2"})
    return calls, answer


def stamped_cache(tmp_path):
    tree = tmp_path / "qemu-canary" / "bullseye-arm64"
    (tree / "rootfs").mkdir(parents=True)
    (tree / MARKER).write_text("{}\n")
    key = "/usr/bin/qemu-aarch64-static|PCF|9.2.2|bullseye|http://deb.debian.org/debian"
    (tree / f"passed-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json").write_text("{}\n")
    return tree


def snapshot(path):
    return sorted((root, sorted(dirs), sorted(files), os.stat(root).st_mtime_ns) for root, dirs, files in os.walk(path))


def args(tmp_path, **canary):
    return dict(binfmt=dict(platforms=["linux/arm64"], report_versions=True),
                canary=dict(dict(probes=PROBES, dir=str(tmp_path / "qemu-canary"), repeat=3), **canary))


def test_an_unchanged_host_is_recognised_in_one_read(run_module, kernel, tmp_path):
    calls, _answer = kernel
    stamped_cache(tmp_path)
    before = snapshot(tmp_path)
    result = run_module("qemu_host_state", args(tmp_path))
    assert not result.failed and result["changed"] is False
    assert result["package"]["installed"] is True
    assert result["binfmt"]["changed"] is False and "diff" not in result["binfmt"]
    assert result["canary"]["has_work"] is False and result["canary"]["due"] == []
    assert [check_mode for _request, check_mode in calls] == [True]  # binfmt predicted, never applied
    assert snapshot(tmp_path) == before


def test_a_handler_to_register_makes_every_canary_target_due(run_module, kernel, tmp_path):
    _calls, answer = kernel
    answer["binfmt"] = dict(BINFMT, changed=True)
    answer["warnings"] = ["/usr/bin/qemu-aarch64-static does not exist yet"]
    stamped_cache(tmp_path)
    result = run_module("qemu_host_state", args(tmp_path))
    assert result["binfmt"]["changed"] is True
    assert result["canary"]["has_work"] is True and len(result["canary"]["due"]) == 1


def test_warnings_of_an_unchanged_binfmt_are_said_here_since_binfmt_will_not_run(run_module, monkeypatch, kernel, tmp_path):
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warned.append(warning))
    _calls, answer = kernel
    answer["warnings"] = ["/etc/binfmt.d/qemu-aarch64.conf is masked"]
    run_module("qemu_host_state", args(tmp_path))
    assert warned == ["/etc/binfmt.d/qemu-aarch64.conf is masked"]
    answer["binfmt"] = dict(BINFMT, changed=True)
    run_module("qemu_host_state", args(tmp_path))
    assert warned == ["/etc/binfmt.d/qemu-aarch64.conf is masked"]  # binfmt runs next and says it about the host as it then is


def test_verify_always_forces_the_canary(run_module, kernel, tmp_path):
    stamped_cache(tmp_path)
    assert run_module("qemu_host_state", args(tmp_path, force=True))["canary"]["has_work"] is True


def test_a_missing_stamp_makes_the_canary_due(run_module, kernel, tmp_path):
    (stamped_cache(tmp_path) / MARKER).unlink()
    assert run_module("qemu_host_state", args(tmp_path))["canary"]["has_work"] is True


def test_without_canary_options_only_the_package_and_handlers_are_read(run_module, kernel, tmp_path):
    result = run_module("qemu_host_state", dict(binfmt=dict(platforms=["linux/arm64"])))
    assert "canary" not in result and result["binfmt"]["requested_handlers"] == ["qemu-aarch64"]


def test_a_bad_canary_option_fails_with_the_canarys_words(run_module, kernel, tmp_path):
    result = run_module("qemu_host_state", args(tmp_path, repeat=0))
    assert result.failed and "repeat must be at least 1" in result["msg"]


def test_the_binfmt_and_canary_options_are_checked_against_those_modules_specs(run_module, kernel, tmp_path):
    result = run_module("qemu_host_state", dict(binfmt=dict(platforms=["linux/arm64"], flag="F")))
    assert result.failed and "binfmt" in result["msg"] and "flag" in result["msg"]
    result = run_module("qemu_host_state", dict(binfmt=dict(platforms=["linux/arm64"]), canary=dict(repeat="many")))
    assert result.failed and "canary" in result["msg"] and "repeat" in result["msg"]
