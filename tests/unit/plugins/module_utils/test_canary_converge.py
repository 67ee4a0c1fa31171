"""The QEMU canary from cache to stamp, with apt, dpkg-deb and chroot stood in for: a first run builds, runs and
stamps; the next finds its stamps and does nothing; a failing QEMU leaves no stamp; check mode touches nothing."""
from __future__ import annotations

import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_converge import (
    converge,
    request_from_params,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_rootfs import Owners
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import (
    CanaryError,
    CanaryFailed,
    RunResult,
)

MARKER = "multiarch-buildhost-canary.json"
PROBES = {"qemu-aarch64": {"probe": "uname-m-aarch64", "machine": "aarch64", "platform": "linux/arm64",
                           "debian_arch": "arm64"},
          "qemu-riscv64": {"probe": "uname-m-riscv64", "machine": "riscv64", "platform": "linux/riscv64",
                           "debian_arch": "riscv64"}}
BINFMT = {"requested_handlers": ["qemu-aarch64", "qemu-riscv64"],
          "handlers": {
              "qemu-aarch64": {"enabled": True, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "PCF"},
              "qemu-riscv64": {"enabled": True, "interpreter": "/usr/bin/qemu-riscv64-static", "flags": "PCF"}},
          "qemu_versions": {"qemu-aarch64": "9.2.0", "qemu-riscv64": "9.2.0"}}
PROGRAMS = [{"name": "ldconfig", "argv": ["/sbin/ldconfig", "-C", "/tmp/ld.so.cache"], "expect": ""},
            {"name": "getconf", "argv": ["/usr/bin/getconf", "GNU_LIBC_VERSION"], "expect": "^glibc [0-9]"}]


def params(tmp_path, **changes):
    values = dict(binfmt=BINFMT, probes=PROBES, platforms=["linux/arm64", "linux/riscv64", "linux/s390x"],
                  dir=str(tmp_path / "cache" / "qemu-canary"), suite="bullseye", mirror="http://deb.debian.org/debian",
                  keyring="/usr/share/keyrings/debian-archive-keyring.gpg", packages=["libc6", "libc-bin"],
                  programs=PROGRAMS, repeat=5, timeout=120, max_crash_percent=20, marker=MARKER, force=False,
                  plan_only=False)
    return dict(values, **changes)


class FakeHost:
    """The host as the canary sees it: apt-get and dpkg-deb leave files, chroot runs answer as scripted (per rootfs
    architecture and program: a list of RunResults taken in turn, the last one repeated)."""

    def __init__(self, answers=None):
        self.commands = []
        self.runs = []
        self.answers = answers or {}

    def command(self, argv, cwd=None):
        self.commands.append(argv)
        if argv[0] == "apt-get" and "download" in argv:
            for wanted in argv[argv.index("download") + 1:]:
                package, arch = wanted.split(":")
                open(os.path.join(cwd, f"{package}_2.31-13+deb11u11_{arch}.deb"), "w", encoding="utf-8").close()
        if argv[0] == "dpkg-deb":
            os.makedirs(f"{argv[3]}/sbin", exist_ok=True)
        return 0, "", ""

    def run_timed(self, argv, timeout):
        self.runs.append(argv)
        arch = argv[1].rsplit("/", 2)[1].split("-", 1)[1]
        program = os.path.basename(argv[2])
        success = RunResult(0, "glibc 2.31\n" if program == "getconf" else "", "")
        answers = self.answers.get((arch, program)) or [success]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def chroot(self):
        return "/usr/sbin/chroot"

    def owners(self):
        return Owners(os.geteuid(), os.getegid(), os.geteuid())

    def check_can_build(self):
        return None


def run(tmp_path, host=None, check_mode=False, **changes):
    return converge(request_from_params(params(tmp_path, **changes)), check_mode, host or FakeHost())


def tree(path):
    """Every path below PATH with its mode, link target and content: a snapshot to compare."""
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            content = os.readlink(full) if os.path.islink(full) else (
                open(full, "rb").read() if os.path.isfile(full) else None)
            found[full] = (st.st_mode, st.st_mtime_ns, content)
    return found


def test_a_first_run_builds_runs_and_stamps_and_the_next_run_does_nothing(tmp_path):
    host = FakeHost()
    first = run(tmp_path, host)
    cache = params(tmp_path)["dir"]
    assert first["changed"] is True and first["built"] == ["arm64", "riscv64"] and first["removed"] == []
    assert [target["platform"] for target in first["due"]] == ["linux/arm64", "linux/riscv64"]
    assert [(item["platform"], item["program"], item["runs"], item["failures"], item["output"])
            for item in first["verdicts"]] == [
        ("linux/arm64", "ldconfig", 5, 0, ""), ("linux/arm64", "getconf", 5, 0, "glibc 2.31"),
        ("linux/riscv64", "ldconfig", 5, 0, ""), ("linux/riscv64", "getconf", 5, 0, "glibc 2.31")]
    assert len(host.runs) == 20 and host.runs[0] == ["/usr/sbin/chroot", f"{cache}/bullseye-arm64/rootfs",
                                                     "/sbin/ldconfig", "-C", "/tmp/ld.so.cache"]
    assert first["msg"] == ("canary (bullseye ldconfig and getconf): linux/arm64 ran and passed (QEMU 9.2.0);"
                            " linux/riscv64 ran and passed (QEMU 9.2.0); skipped (not emulated here): linux/s390x")
    assert first["warnings"] == []
    for target in first["targets"]:
        with open(target["stamp"], "rb") as handle:
            assert handle.read() == (
                '{\n    "flags": "PCF",\n'
                f'    "interpreter": "{target["interpreter"]}",\n'
                f'    "platform": "{target["platform"]}",\n'
                '    "programs": {\n'
                '        "getconf": {\n            "failures": 0,\n            "output": "glibc 2.31",\n'
                '            "runs": 5\n        },\n'
                '        "ldconfig": {\n            "failures": 0,\n            "output": "",\n'
                '            "runs": 5\n        }\n'
                '    },\n    "qemu_version": "9.2.0",\n    "suite": "bullseye"\n}\n').encode()
        assert os.stat(target["stamp"]).st_mode & 0o777 == 0o644
    assert not os.path.exists(f"{cache}/apt-state")

    again = FakeHost()
    second = run(tmp_path, again)
    assert (second["changed"], second["has_work"], second["verdicts"], second["built"]) == (False, False, [], [])
    assert again.commands == [] and again.runs == []
    assert second["msg"] == ("canary (bullseye ldconfig and getconf): linux/arm64 passed before, not re-run (QEMU"
                             " 9.2.0); linux/riscv64 passed before, not re-run (QEMU 9.2.0); skipped (not emulated"
                             " here): linux/s390x")


def test_forced_runs_that_find_the_same_answers_change_nothing(tmp_path):
    run(tmp_path)
    host = FakeHost()
    forced = run(tmp_path, host, force=True)
    assert len(forced["verdicts"]) == 4 and len(host.runs) == 20
    assert forced["changed"] is False and host.commands == []


def test_a_new_qemu_runs_again_stamps_anew_and_forgets_the_old_stamp(tmp_path):
    first = run(tmp_path)
    newer = dict(BINFMT, qemu_versions={"qemu-aarch64": "9.2.2", "qemu-riscv64": "9.2.0"})
    result = run(tmp_path, binfmt=newer)
    old_arm64 = first["targets"][0]["stamp"]
    assert [target["platform"] for target in result["due"]] == ["linux/arm64"]
    assert result["removed"] == [old_arm64] and not os.path.exists(old_arm64)
    assert os.path.exists(result["targets"][0]["stamp"]) and result["changed"] is True


def test_trees_of_platforms_no_longer_asked_for_are_removed_and_other_directories_kept(tmp_path):
    riscv64_stamp = run(tmp_path)["targets"][1]["stamp"]
    cache = params(tmp_path)["dir"]
    os.makedirs(f"{cache}/not-ours")
    result = run(tmp_path, platforms=["linux/arm64"])
    assert result["stale_dirs"] == [f"{cache}/bullseye-riscv64"] and result["stale_stamps"] == [riscv64_stamp]
    assert result["removed"] == [riscv64_stamp, f"{cache}/bullseye-riscv64"]
    assert result["msg"].endswith(f"removed what nothing asks for any more: {riscv64_stamp}, {cache}/bullseye-riscv64")
    assert not os.path.exists(f"{cache}/bullseye-riscv64") and os.path.isdir(f"{cache}/not-ours")
    assert result["changed"] is True and result["verdicts"] == []


def test_a_failing_qemu_fails_with_the_roles_message_and_leaves_no_stamp(tmp_path):
    crash = RunResult(-11, "", "qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n")
    host = FakeHost({("arm64", "ldconfig"): [RunResult(0, "", ""), crash]})
    with pytest.raises(CanaryFailed) as raised:
        run(tmp_path, host)
    cache = params(tmp_path)["dir"]
    assert str(raised.value) == (
        "QEMU canary failed for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.0, flags PCF) could not run"
        " bullseye's arm64 ldconfig (chroot " + cache + "/bullseye-arm64/rootfs /sbin/ldconfig -C /tmp/ld.so.cache):"
        " 4 of 5 runs failed, the first was killed by signal 11 (segmentation fault): \"qemu: uncaught target signal 11"
        " (Segmentation fault) - core dumped\". The static probes only prove the handler exists; this QEMU fails in"
        " real programs, so image builds will fail too, typically in apt-get install when the libc-bin trigger runs"
        " ldconfig. Install another QEMU (qemu_backports: true, or pin qemu_package_version) and re-run: the canary"
        " runs again when the QEMU package or a handler changes (qemu_verify: always forces it). Should the canary's"
        " own files be damaged, delete " + cache + "/bullseye-arm64 and it is rebuilt.")
    details = raised.value.details
    assert details["changed"] is True and details["built"] == ["arm64", "riscv64"] and len(details["verdicts"]) == 4
    assert "warnings" not in details
    assert not any(os.path.exists(target["stamp"]) for target in details["targets"])


def test_a_forced_run_that_fails_withdraws_the_failing_platforms_stamp_only(tmp_path):
    first = run(tmp_path, FakeHost())
    arm64, riscv64 = (target["stamp"] for target in first["targets"])
    assert os.path.exists(arm64) and os.path.exists(riscv64)
    crash = RunResult(-11, "", "qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n")
    with pytest.raises(CanaryFailed) as raised:
        run(tmp_path, FakeHost({("arm64", "getconf"): [crash]}), force=True)
    assert raised.value.details["removed"] == [arm64] and raised.value.details["changed"] is True
    assert not os.path.exists(arm64) and os.path.exists(riscv64)
    # The next plain run does not trust the old pass: arm64 is due again, riscv64 is not.
    again = run(tmp_path, FakeHost(), check_mode=True)
    assert [target["platform"] for target in again["due"]] == ["linux/arm64"]


def test_crashes_within_the_share_pass_with_a_warning_and_the_stamp_counts_them(tmp_path):
    crash = RunResult(139, "", "Segmentation fault\n")
    host = FakeHost({("riscv64", "ldconfig"): [crash, RunResult(0, "", "")]})
    result = run(tmp_path, host)
    assert result["warnings"] == [
        "QEMU canary for linux/riscv64: /usr/bin/qemu-riscv64-static (QEMU 9.2.0) failed 1 of 5 runs of bullseye's"
        " riscv64 ldconfig, the first was killed by signal 11 (segmentation fault): \"Segmentation fault\". Builds that"
        " run it (apt-get install in images of that age) will fail now and then the same way. Tolerated up to"
        " qemu_canary_max_crash_percent (20 %); set it to 0 to refuse this QEMU."]
    with open(result["targets"][1]["stamp"], encoding="utf-8") as handle:
        assert '"ldconfig": {\n            "failures": 1,' in handle.read()


def test_check_mode_predicts_and_changes_nothing_on_disk(tmp_path):
    run(tmp_path)
    cache = params(tmp_path)["dir"]
    os.makedirs(f"{cache}/bookworm-armhf")
    with open(f"{cache}/bookworm-armhf/{MARKER}", "w", encoding="utf-8") as handle:
        handle.write("{}")
    os.remove(f"{cache}/bullseye-arm64/{MARKER}")
    before = tree(tmp_path)
    host = FakeHost()
    newer = dict(BINFMT, qemu_versions={"qemu-aarch64": "9.2.0", "qemu-riscv64": "10.0.0"})
    result = run(tmp_path, host, check_mode=True, binfmt=newer)
    assert tree(tmp_path) == before and host.commands == [] and host.runs == []
    assert result["changed"] is True and result["verdicts"] == [] and result["built"] == ["arm64"]
    assert result["removed"] == [f"{cache}/bullseye-riscv64/{os.path.basename(result['stale_stamps'][0])}",
                                 f"{cache}/bookworm-armhf"]
    assert result["msg"] == (f"would download libc6, libc-bin of bullseye for arm64 from http://deb.debian.org/debian"
                             f" into {cache}; would run the canary for linux/arm64, linux/riscv64")


def test_check_mode_on_an_unchanged_host_predicts_no_change(tmp_path):
    run(tmp_path)
    result = run(tmp_path, check_mode=True)
    assert (result["changed"], result["has_work"]) == (False, False)
    assert result["msg"] == "the canary passed before with these handlers and this QEMU: nothing to run"


def test_plan_only_reads_and_never_changes_anything_outside_check_mode_either(tmp_path):
    host = FakeHost()
    result = run(tmp_path, host, plan_only=True)
    assert result["changed"] is False and result["has_work"] is True and len(result["unbuilt"]) == 2
    assert (result["built"], result["removed"], result["verdicts"]) == ([], [], [])
    assert host.commands == [] and host.runs == [] and not os.path.exists(tmp_path / "cache")


@pytest.mark.parametrize("change, message", [
    ({"repeat": 0}, "repeat must be at least 1"),
    ({"timeout": 0}, "timeout must be at least 1"),
    ({"max_crash_percent": 101}, "at most 100"),
    ({"marker": "../x.json"}, "marker is a file name"),
    # A suite with a slash or dots would put a target outside the cache, or too deep for the cache read to find it.
    ({"suite": "../outside"}, "suite is one Debian suite name"),
    ({"suite": "buster/updates"}, "suite is one Debian suite name"),
    ({"dir": "relative/cache"}, "dir is an absolute path"),
    ({"programs": [dict(PROGRAMS[1], expect="(")]}, "is not a regular expression"),
])
def test_options_that_would_only_fail_halfway_are_refused_first(tmp_path, change, message):
    with pytest.raises(CanaryError, match=message):
        run(tmp_path, **change)
    assert not os.path.exists(tmp_path / "cache")
