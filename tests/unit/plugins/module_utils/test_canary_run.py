"""The QEMU canary's runs: how a run ended, when a QEMU passes, and the role's words for a failure and a warning."""
from __future__ import annotations

import time

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import (
    CanaryError,
    RunResult,
    check_expectations,
    failure_message,
    outcome,
    passes,
    run_program,
    run_timed,
    tolerance_warning,
)

TARGET = {"platform": "linux/arm64", "handler": "qemu-aarch64", "arch": "arm64", "dir": "/c/bullseye-arm64",
          "rootfs": "/c/bullseye-arm64/rootfs", "marker": "/c/bullseye-arm64/m.json",
          "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "PCF", "qemu_version": "9.2.0",
          "stamp": "/c/bullseye-arm64/passed-0123456789abcdef.json"}
LDCONFIG = {"name": "ldconfig", "argv": ["/sbin/ldconfig", "-C", "/tmp/ld.so.cache"], "expect": ""}
GETCONF = {"name": "getconf", "argv": ["/usr/bin/getconf", "GNU_LIBC_VERSION"], "expect": "^glibc [0-9]"}


@pytest.mark.parametrize("rc, text", [
    (0, "exited 0"),
    (1, "exited 1"),
    (127, "exited 127"),
    (128, "exited 128"),
    (139, "was killed by signal 11 (segmentation fault)"),  # the shell's 128 + SIGSEGV
    (-11, "was killed by signal 11 (segmentation fault)"),  # Python's -SIGSEGV
    (-4, "was killed by signal 4 (illegal instruction)"),
    (-6, "was killed by signal 6 (aborted)"),
    (135, "was killed by signal 7 (bus error)"),
    (-9, "was killed by signal 9 (killed)"),
    (-15, "was killed by signal 15 (see signal(7))"),
    (124, "had no answer within 120 s"),
])
def test_each_end_of_a_run_is_told_in_the_roles_words(rc, text):
    assert outcome(rc, 120) == text


class ScriptedRunner:
    def __init__(self, *results):
        self.results = list(results)
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append((argv, timeout))
        return self.results.pop(0)


def test_every_run_is_chrooted_and_the_first_failure_and_the_last_output_are_kept():
    runner = ScriptedRunner(RunResult(0, "glibc 2.30\n", ""),
                            RunResult(139, "", "one\ntwo\nthree\nfour\n"),
                            RunResult(-4, "", "later failure\n"),
                            RunResult(0, "glibc 2.31\nsecond line\n\n", "noise"))
    result = run_program(TARGET, GETCONF, 4, 30, "/usr/sbin/chroot", runner)
    assert runner.calls == [(["/usr/sbin/chroot", "/c/bullseye-arm64/rootfs", "/usr/bin/getconf", "GNU_LIBC_VERSION"],
                             30)] * 4
    assert result == dict(TARGET, program="getconf", argv=GETCONF["argv"], expect="^glibc [0-9]", runs=4, failures=2,
                          outcome="was killed by signal 11 (segmentation fault)", stderr="two / three / four",
                          output="glibc 2.31 second line")


def test_a_program_that_never_succeeds_prints_nothing():
    result = run_program(TARGET, LDCONFIG, 3, 30, "chroot", ScriptedRunner(*[RunResult(124, "partial", "")] * 3))
    assert (result["failures"], result["output"], result["outcome"], result["stderr"]) == (
        3, "", "had no answer within 30 s", "")


@pytest.mark.parametrize("failures, runs, percent, output, expect, verdict", [
    (10, 50, 20, "", "", True),            # exactly the tolerated share
    (11, 50, 20, "", "", False),           # one more than that
    (0, 50, 0, "", "", True),
    (1, 50, 0, "", "", False),             # 0 refuses any crash
    (0, 50, 20, "glibc 2.31", "^glibc [0-9]", True),
    (0, 50, 20, "musl 1.2", "^glibc [0-9]", False),   # ran, but not the program expected
    (0, 50, 20, "GNU glibc 2.31", "glibc [0-9]", True),  # searched, not anchored
    (50, 50, 100, "", "^glibc [0-9]", True),  # every run failed: nothing printed to judge
    (49, 50, 100, "", "^glibc [0-9]", False),  # a run succeeded, so its output counts
])
def test_a_qemu_passes_within_the_crash_share_and_with_the_expected_output(
        failures, runs, percent, output, expect, verdict):
    assert passes({"failures": failures, "runs": runs, "output": output, "expect": expect}, percent) is verdict


def verdict_of(**changes):
    return dict(dict(TARGET, program="ldconfig", argv=LDCONFIG["argv"], expect="", runs=50, failures=0,
                     outcome="exited 0", stderr="", output=""), **changes)


TAIL = (". The static probes only prove the handler exists; this QEMU fails in real programs, so image builds will fail"
        " too, typically in apt-get install when the libc-bin trigger runs ldconfig. Install another QEMU"
        " (qemu_backports: true, or pin qemu_package_version) and re-run: the canary runs again when the QEMU package"
        " or a handler changes (qemu_verify: always forces it). Should the canary's own files be damaged, delete"
        " /c/bullseye-arm64 and it is rebuilt.")


def test_a_crashing_qemu_fails_with_the_roles_message():
    item = verdict_of(failures=50, outcome="was killed by signal 11 (segmentation fault)",
                      stderr="qemu: uncaught target signal 11 (Segmentation fault) - core dumped")
    assert failure_message(item, "bullseye") == (
        "QEMU canary failed for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.0, flags PCF) could not run"
        " bullseye's arm64 ldconfig (chroot /c/bullseye-arm64/rootfs /sbin/ldconfig -C /tmp/ld.so.cache): 50 of 50 runs"
        " failed, the first was killed by signal 11 (segmentation fault): \"qemu: uncaught target signal 11"
        " (Segmentation fault) - core dumped\"" + TAIL)


def test_a_wrong_output_fails_with_what_it_printed_and_what_was_expected():
    item = verdict_of(program="getconf", argv=GETCONF["argv"], expect="^glibc [0-9]", output="musl")
    assert failure_message(item, "bullseye") == (
        "QEMU canary failed for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.0, flags PCF) could not run"
        " bullseye's arm64 getconf (chroot /c/bullseye-arm64/rootfs /usr/bin/getconf GNU_LIBC_VERSION): 0 of 50 runs"
        " failed; it printed \"musl\", expected /^glibc [0-9]/" + TAIL)


def test_tolerated_crashes_are_a_warning_in_the_roles_words():
    item = verdict_of(failures=2, outcome="exited 1")
    assert tolerance_warning(item, "bullseye", 20) == (
        "QEMU canary for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.0) failed 2 of 50 runs of bullseye's arm64"
        " ldconfig, the first exited 1. Builds that run it (apt-get install in images of that age) will fail now and"
        " then the same way. Tolerated up to qemu_canary_max_crash_percent (20 %); set it to 0 to refuse this QEMU.")
    assert tolerance_warning(dict(item, stderr="boom"), "bullseye", 20).startswith(
        "QEMU canary for linux/arm64: /usr/bin/qemu-aarch64-static (QEMU 9.2.0) failed 2 of 50 runs of bullseye's arm64"
        " ldconfig, the first exited 1: \"boom\". Builds")


def test_an_expect_that_is_no_regular_expression_is_refused_before_anything_runs():
    with pytest.raises(CanaryError, match=r"getconf's expect '\^glibc \[' is not a regular expression"):
        check_expectations([LDCONFIG, dict(GETCONF, expect="^glibc [")])


def test_a_real_run_past_its_timeout_is_killed_with_everything_it_started():
    started = time.monotonic()
    # The background sleep holds the pipes too: only killing the whole session lets the run end.
    result = run_timed(["sh", "-c", "echo started; sleep 30 & wait"], 1)
    assert result.rc == 124 and result.stdout == "started\n"
    assert time.monotonic() - started < 10


def test_a_real_run_killed_by_a_signal_reads_as_that_signal():
    result = run_timed(["sh", "-c", "echo oops >&2; kill -SEGV $$"], 10)
    assert outcome(result.rc, 10) == "was killed by signal 11 (segmentation fault)" and result.stderr == "oops\n"
    assert run_timed(["sh", "-c", "printf 'glibc 2.31\\n'"], 10) == RunResult(0, "glibc 2.31\n", "")
