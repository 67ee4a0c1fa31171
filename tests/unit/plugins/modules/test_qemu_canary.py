"""qemu_canary in-process: check mode and plan_only leave the host alone, an unchanged host reports no change, a failing
QEMU fails with the role's message as it stands, and the documented options are the ones the module takes."""
from __future__ import annotations

import hashlib
import importlib
import os

import pytest
import yaml
from ansible.module_utils import basic

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_rootfs import Owners
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import RunResult
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

MODULE = "ansible_collections.multiarch.buildhost.plugins.modules.qemu_canary"
MARKER = "multiarch-buildhost-canary.json"
PROBES = {"qemu-aarch64": {"probe": "uname-m-aarch64", "machine": "aarch64", "platform": "linux/arm64",
                           "debian_arch": "arm64"}}
BINFMT = {"changed": False, "requested_handlers": ["qemu-aarch64"], "emulated_platforms": ["linux/arm64"],
          "handlers": {
              "qemu-aarch64": {"enabled": True, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "PCF"}},
          "qemu_versions": {"qemu-aarch64": "9.2.2"}}


def stamp_name():
    key = "/usr/bin/qemu-aarch64-static|PCF|9.2.2|bullseye|http://deb.debian.org/debian"
    return f"passed-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def args(tmp_path, **changes):
    return dict(binfmt=BINFMT, probes=PROBES, dir=str(tmp_path / "qemu-canary"), repeat=3, **changes)


def built_cache(tmp_path, stamp=True):
    tree = tmp_path / "qemu-canary" / "bullseye-arm64"
    (tree / "rootfs").mkdir(parents=True)
    (tree / MARKER).write_text("{}\n")
    if stamp:
        (tree / stamp_name()).write_text("{}\n")
    return tree


def snapshot(path):
    return sorted((root, sorted(dirs), sorted(files), os.stat(root).st_mtime_ns) for root, dirs, files in os.walk(path))


class FakeHost:
    def __init__(self, module, answer=RunResult(0, "glibc 2.31\n", "")):
        self.answer = answer

    def command(self, argv, cwd=None):
        raise AssertionError(f"nothing is to be built here, yet {argv} ran")

    def run_timed(self, argv, timeout):
        return self.answer

    def chroot(self):
        return "/usr/sbin/chroot"

    def owners(self):
        return Owners(os.geteuid(), os.getegid(), os.geteuid())

    def check_can_build(self):
        return None


def test_check_mode_predicts_a_run_and_changes_nothing(run_module, tmp_path):
    tree = built_cache(tmp_path, stamp=False)
    (tree / "passed-0123456789abcdef.json").write_text("{}\n")  # the canary passed with another QEMU
    before = snapshot(tmp_path)
    result = run_module("qemu_canary", args(tmp_path), check_mode=True)
    assert not result.failed and result["changed"] is True and result["has_work"] is True
    assert result["msg"] == "would run the canary for linux/arm64"
    assert result["stale_stamps"] == [str(tree / "passed-0123456789abcdef.json")]
    assert snapshot(tmp_path) == before


def test_an_unchanged_host_has_no_work_and_reports_no_change(run_module, tmp_path):
    built_cache(tmp_path)
    for extra in ({"plan_only": True}, {}):
        result = run_module("qemu_canary", args(tmp_path, **extra))
        assert (result["changed"], result["has_work"], result["due"], result["verdicts"]) == (False, False, [], [])
    assert result["msg"] == ("canary (bullseye ldconfig and getconf): linux/arm64 passed before, not re-run (QEMU"
                             " 9.2.2)")


def test_plan_only_on_a_new_host_creates_nothing(run_module, tmp_path):
    result = run_module("qemu_canary", args(tmp_path, plan_only=True, platforms=["linux/arm64", "linux/s390x"]))
    assert result["changed"] is False and [target["arch"] for target in result["unbuilt"]] == ["arm64"]
    assert os.listdir(tmp_path) == []


def test_a_forced_run_over_the_stamp_runs_and_rewrites_it(run_module, tmp_path, monkeypatch):
    module = importlib.import_module(MODULE)
    monkeypatch.setattr(module, "Host", FakeHost)
    tree = built_cache(tmp_path)
    result = run_module("qemu_canary", args(tmp_path, force=True))
    assert result["changed"] is True and [item["program"] for item in result["verdicts"]] == ["ldconfig", "getconf"]
    assert (tree / stamp_name()).read_text().startswith('{\n    "flags": "PCF",\n')
    assert run_module("qemu_canary", args(tmp_path, force=True))["changed"] is False


def test_a_failing_qemu_fails_with_the_roles_words_and_tolerated_crashes_warn(run_module, tmp_path, monkeypatch):
    module = importlib.import_module(MODULE)
    built_cache(tmp_path, stamp=False)
    monkeypatch.setattr(module, "Host", lambda mod: FakeHost(mod, RunResult(-11, "", "Segmentation fault\n")))
    failed = run_module("qemu_canary", args(tmp_path))
    assert failed.failed and failed["msg"].startswith(
        "QEMU canary failed for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.2, flags PCF) could not run"
        " bullseye's arm64 ldconfig (chroot ")
    assert "3 of 3 runs failed, the first was killed by signal 11 (segmentation fault): \"Segmentation fault\"." \
        in failed["msg"]
    assert failed["changed"] is False and len(failed["verdicts"]) == 2
    assert not os.path.exists(tmp_path / "qemu-canary" / "bullseye-arm64" / stamp_name())

    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warned.append(warning))
    tolerant = run_module("qemu_canary", args(tmp_path, max_crash_percent=100))
    assert not tolerant.failed and tolerant["changed"] is True and len(warned) == 2
    assert warned[0].startswith("QEMU canary for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.2) failed 3 of 3"
                                " runs of bullseye's arm64 ldconfig")


def test_other_failures_name_the_module(run_module, tmp_path, monkeypatch):
    module = importlib.import_module(MODULE)

    def refuse(*unused):
        raise BuildhostError("/x: the directory /x belongs to alice")

    monkeypatch.setattr(module, "converge", refuse)
    result = run_module("qemu_canary", args(tmp_path))
    assert result.failed and result["msg"] == "qemu_canary: /x: the directory /x belongs to alice"


class SpecSeen(Exception):
    pass


def test_the_documented_options_are_exactly_the_ones_the_module_takes(monkeypatch):
    module = importlib.import_module(MODULE)
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise SpecSeen

    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(SpecSeen):
        module.main()
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert seen["supports_check_mode"] is True

    def compare(spec, docs, where):
        assert set(spec) == set(docs), where
        for name, option in spec.items():
            doc = docs[name]
            for key in ("type", "elements", "default", "choices"):
                assert option.get(key) == doc.get(key), f"{where}{name}.{key}"
            assert bool(option.get("required")) == bool(doc.get("required")), f"{where}{name}.required"
            if "options" in option:
                compare(option["options"], doc["suboptions"], f"{where}{name}.")

    compare(seen["argument_spec"], documented, "")
    yaml.safe_load(module.RETURN)
    yaml.safe_load(module.EXAMPLES)
