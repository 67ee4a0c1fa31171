"""What the QEMU canary has to do, read from its cache: the stamps and markers the role's Jinja wrote stay valid, and
only what the canary made is ever called stale."""
from __future__ import annotations

import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_converge import read_cache
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_plan import (
    CanaryPlan,
    CanaryRequest,
    canary_targets,
    manifest_packages,
    plan_canary,
    prediction,
    render_manifest,
    render_stamp,
    summary,
)

CACHE = "/var/cache/multiarch-buildhost/qemu-canary"
MARKER = "multiarch-buildhost-canary.json"
MIRROR = "http://deb.debian.org/debian"
PROBES = {"qemu-aarch64": {"platform": "linux/arm64", "debian_arch": "arm64"},
          "qemu-riscv64": {"platform": "linux/riscv64", "debian_arch": "riscv64"},
          "qemu-s390x": {"platform": "linux/s390x", "debian_arch": "s390x"}}
BINFMT = {"requested_handlers": ["qemu-aarch64", "qemu-riscv64"],
          "handlers": {
              "qemu-aarch64": {"enabled": True, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "PCF"},
              "qemu-riscv64": {"enabled": True, "interpreter": "/usr/bin/qemu-riscv64-static", "flags": "PCF"}},
          "qemu_versions": {"qemu-aarch64": "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)",
                            "qemu-riscv64": "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)"}}
# sha1("/usr/bin/qemu-aarch64-static|PCF|7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)|bullseye|http://deb.debian.org/debian"),
# its first 16 hex digits: the name the role's Jinja gave this stamp.
ARM64_STAMP = f"{CACHE}/bullseye-arm64/passed-eee02b14a6eceb40.json"


def targets(platforms=("linux/arm64", "linux/riscv64")):
    return canary_targets(PROBES, BINFMT, list(platforms), CACHE, "bullseye", MIRROR, MARKER)


def built(*archs):
    return [f"{CACHE}/bullseye-{arch}/{MARKER}" for arch in archs]


def request(**changes):
    values = dict(binfmt=BINFMT, probes=PROBES, platforms=["linux/arm64", "linux/riscv64", "linux/s390x"], dir=CACHE,
                  suite="bullseye", mirror=MIRROR, keyring="/usr/share/keyrings/debian-archive-keyring.gpg",
                  packages=["libc6", "libc-bin"], programs=[], repeat=50, timeout=120, max_crash_percent=20,
                  marker=MARKER)
    return CanaryRequest(**dict(values, **changes))


def test_the_stamp_keeps_the_name_the_role_gave_it():
    arm64 = targets()[0]
    assert arm64["stamp"] == ARM64_STAMP
    assert arm64["marker"] == f"{CACHE}/bullseye-arm64/{MARKER}" and arm64["rootfs"] == f"{CACHE}/bullseye-arm64/rootfs"


def test_an_unchanged_host_with_stamps_and_markers_has_no_work():
    found = [*built("arm64", "riscv64"), *(target["stamp"] for target in targets())]
    plan = plan_canary(targets(), found, False, CACHE, MARKER)
    assert (plan.due, plan.unbuilt, plan.stale_stamps, plan.stale_dirs, plan.has_work) == ([], [], [], [], False)


def test_a_missing_stamp_makes_only_that_target_due():
    arm64, riscv64 = targets()
    plan = plan_canary([arm64, riscv64], [*built("arm64", "riscv64"), arm64["stamp"]], False, CACHE, MARKER)
    assert plan.due == [riscv64] and plan.unbuilt == [] and plan.has_work


def test_force_makes_every_target_due_even_with_its_stamp():
    found = [*built("arm64", "riscv64"), *(target["stamp"] for target in targets())]
    plan = plan_canary(targets(), found, True, CACHE, MARKER)
    assert plan.due == targets() and plan.unbuilt == []


def test_a_missing_marker_means_unbuilt_and_due_though_a_stamp_is_there():
    # Building starts from an empty directory, which takes the stamp with it: the canary must run on the new tree.
    arm64, riscv64 = targets()
    plan = plan_canary([arm64, riscv64], [*built("riscv64"), arm64["stamp"], riscv64["stamp"]], False, CACHE, MARKER)
    assert plan.unbuilt == [arm64] and plan.due == [arm64]


def test_a_new_qemu_makes_the_old_stamp_stale_and_the_target_due():
    old = f"{CACHE}/bullseye-arm64/passed-0123456789abcdef.json"
    plan = plan_canary(targets(["linux/arm64"]), [*built("arm64"), old], False, CACHE, MARKER)
    assert plan.stale_stamps == [old] and [target["platform"] for target in plan.due] == ["linux/arm64"]


def test_only_names_that_look_like_stamps_are_stale():
    odd = f"{CACHE}/bullseye-arm64/passed-not-hex.json"
    plan = plan_canary(targets(["linux/arm64"]), [*built("arm64"), odd, ARM64_STAMP], False, CACHE, MARKER)
    assert plan.stale_stamps == [] and not plan.has_work


def test_only_directories_with_a_marker_and_no_target_are_stale():
    found = [*built("arm64", "riscv64", "s390x"), f"{CACHE}/bookworm-arm64/{MARKER}", f"{CACHE}/{MARKER}",
             f"{CACHE}/bookworm-armhf/passed-0123456789abcdef.json"]
    plan = plan_canary(targets(["linux/arm64"]), found, False, CACHE, MARKER)
    # bookworm-armhf has a stamp but no marker: not the canary's tree, so it stays; the cache itself is never stale.
    assert plan.stale_dirs == [f"{CACHE}/bullseye-riscv64", f"{CACHE}/bullseye-s390x", f"{CACHE}/bookworm-arm64"]
    assert plan.stale_stamps == [f"{CACHE}/bookworm-armhf/passed-0123456789abcdef.json"]


def test_without_targets_every_tree_is_stale():
    plan = plan_canary([], built("arm64"), False, CACHE, MARKER)
    assert plan.stale_dirs == [f"{CACHE}/bullseye-arm64"] and plan.due == [] and plan.has_work


def test_the_cache_is_read_two_levels_deep_without_following_links(tmp_path):
    cache = tmp_path / "cache"
    (cache / "bullseye-arm64" / "rootfs").mkdir(parents=True)
    (cache / "bullseye-arm64" / MARKER).write_text("{}")
    (cache / "bullseye-arm64" / "passed-0123456789abcdef.json").write_text("{}")
    (cache / "bullseye-arm64" / "rootfs" / MARKER).write_text("{}")  # three levels down: not the canary's marker
    (cache / "bullseye-arm64" / "other.json").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / MARKER).write_text("{}")
    os.symlink(tmp_path / "elsewhere", cache / "bullseye-riscv64")
    base = str(cache)
    assert read_cache(base, MARKER) == [f"{base}/bullseye-arm64/{MARKER}",
                                        f"{base}/bullseye-arm64/passed-0123456789abcdef.json"]


def test_the_cache_directory_itself_may_be_a_link_and_may_be_missing(tmp_path):
    (tmp_path / "real" / "bullseye-arm64").mkdir(parents=True)
    (tmp_path / "real" / "bullseye-arm64" / MARKER).write_text("{}")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert read_cache(str(tmp_path / "link"), MARKER) == [f"{tmp_path}/link/bullseye-arm64/{MARKER}"]
    assert read_cache(str(tmp_path / "missing"), MARKER) == []


def test_the_stamp_is_byte_for_byte_what_the_role_wrote():
    arm64 = targets()[0]
    verdicts = [dict(arm64, program="ldconfig", runs=50, failures=1, output=""),
                dict(arm64, program="getconf", runs=50, failures=0, output="glibc 2.31"),
                dict(targets()[1], program="getconf", runs=50, failures=7, output="other platform")]
    # to_nice_json: four spaces, keys sorted, ", " never at a line's end; then the copy task's newline.
    expected = (
        '{\n'
        '    "flags": "PCF",\n'
        '    "interpreter": "/usr/bin/qemu-aarch64-static",\n'
        '    "platform": "linux/arm64",\n'
        '    "programs": {\n'
        '        "getconf": {\n'
        '            "failures": 0,\n'
        '            "output": "glibc 2.31",\n'
        '            "runs": 50\n'
        '        },\n'
        '        "ldconfig": {\n'
        '            "failures": 1,\n'
        '            "output": "",\n'
        '            "runs": 50\n'
        '        }\n'
        '    },\n'
        '    "qemu_version": "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)",\n'
        '    "suite": "bullseye"\n'
        '}\n').encode()
    assert render_stamp(arm64, "bullseye", verdicts) == expected


def test_non_ascii_in_a_stamp_is_escaped_as_to_nice_json_escapes_it():
    target = dict(targets()[0], qemu_version="7.2 (Débian)")
    assert b'"qemu_version": "7.2 (D\\u00e9bian)",\n' in render_stamp(target, "bullseye", [])


def test_the_marker_lists_the_packages_of_its_architecture_as_the_role_did():
    debs = ["libc6_2.31-13+deb11u11_arm64.deb", "libc-bin_2.31-13+deb11u11_arm64.deb", "Zlib_1%3a1.2_arm64.deb",
            "libc6_2.31-13+deb11u11_riscv64.deb", "base_1_all.deb"]
    expected = (
        '{\n'
        '    "architecture": "arm64",\n'
        '    "mirror": "http://deb.debian.org/debian",\n'
        '    "packages": [\n'
        '        "libc-bin_2.31-13+deb11u11_arm64",\n'
        '        "libc6_2.31-13+deb11u11_arm64",\n'
        '        "Zlib_1:1.2_arm64"\n'
        '    ],\n'
        '    "suite": "bullseye"\n'
        '}\n').encode()
    assert render_manifest("bullseye", MIRROR, "arm64", debs) == expected
    # Jinja's sort ignores case, so Zlib sorts after libc6.
    assert manifest_packages(debs, "riscv64") == ["libc6_2.31-13+deb11u11_riscv64"]


@pytest.mark.parametrize("due, unbuilt, expected", [
    (["arm64"], ["arm64"], f"would download libc6, libc-bin of bullseye for arm64 from {MIRROR} into {CACHE}; would run"
                           " the canary for linux/arm64"),
    ([], [], "the canary passed before with these handlers and this QEMU: nothing to run"),
    (["arm64", "riscv64"], [], "would run the canary for linux/arm64, linux/riscv64"),
])
def test_check_mode_says_what_would_be_downloaded_and_run(due, unbuilt, expected):
    by_arch = {target["arch"]: target for target in targets()}
    plan = CanaryPlan(targets(), [by_arch[arch] for arch in due], [by_arch[arch] for arch in unbuilt], [], [])
    assert prediction(plan, request()) == expected


def test_the_summary_names_each_target_and_the_platforms_not_emulated():
    arm64, riscv64 = targets()
    plan = CanaryPlan([arm64, riscv64], [arm64], [], [], [])
    assert summary(plan, request(platforms=["linux/s390x", "linux/arm64", "linux/riscv64", "linux/s390x"])) == (
        "canary (bullseye ldconfig and getconf): linux/arm64 ran and passed (QEMU 7.2.13 (Debian"
        " 1:7.2+dfsg-7+deb12u7)); linux/riscv64 passed before, not re-run (QEMU 7.2.13 (Debian"
        " 1:7.2+dfsg-7+deb12u7)); skipped (not emulated here): linux/s390x")
    assert summary(CanaryPlan([], [], [], [], []), request(platforms=["linux/arm64"])) == (
        "canary (bullseye ldconfig and getconf): ; skipped (not emulated here): linux/arm64")
