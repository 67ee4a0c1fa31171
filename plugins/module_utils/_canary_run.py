# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU canary's runs: each program, many times, chrooted into its root filesystem; what each run's end means,
whether a program passed, and the words the role has always used to say so.

A program under a faulty QEMU crashes now and then rather than every time, so each one runs REPEAT times. The first
failure is the one reported (how it ended and the last lines it wrote to stderr); the output kept is the last
successful run's, as the role's shell loop kept it.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

# How a canary program died, in the words QEMU's own "uncaught target signal" message uses.
SIGNALS = {4: "illegal instruction", 6: "aborted", 7: "bus error", 9: "killed", 11: "segmentation fault"}
# timeout(1)'s exit status when the program had no answer in time; a run the module stops itself counts the same.
TIMED_OUT = 124
# The role's shell loop kept `tail -n 3` of the first failure's stderr.
STDERR_LINES = 3


class CanaryError(BuildhostError):
    """A failure of the canary whose message stands on its own: it names the canary, what failed and the fix."""


class CanaryFailed(CanaryError):
    """A QEMU that failed the canary; DETAILS carry the verdicts and the plan."""


@dataclass(frozen=True)
class RunResult:
    rc: int
    stdout: str
    stderr: str


# (argv, timeout in seconds) -> RunResult, rc TIMED_OUT when the program had no answer in time.
Runner = Callable[[list, int], RunResult]


def outcome(rc: int, timeout: Any) -> str:
    """How a run ended: rc as the shell reports it (128 + signal) or as Python does (-signal); TIMED_OUT: no answer."""
    if rc == TIMED_OUT:
        return f"had no answer within {timeout} s"
    number = -rc if rc < 0 else (rc - 128 if rc > 128 else 0)
    if number:
        return f"was killed by signal {number} ({SIGNALS.get(number, 'see signal(7)')})"
    return f"exited {rc}"


def verdict(target: dict, program: dict, runs: int, failures: int, first_rc: int, first_stderr: str, output: str,
            timeout: Any) -> dict:
    """One verdict: the TARGET with the PROGRAM, how many of its RUNS failed, how the first failure ended and what it
    wrote to stderr (one line, ' / ' between its lines), and what the last good run printed (one line)."""
    return dict(target, program=program["name"], argv=program["argv"], expect=program["expect"], runs=int(runs),
                failures=failures, outcome=outcome(first_rc, timeout),
                stderr=" / ".join(first_stderr.strip().splitlines()), output=" ".join(output.splitlines()).strip())


def _tail(text: str, count: int) -> str:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return "\n".join(lines[-count:])


def run_program(target: dict, program: dict, repeat: int, timeout: int, chroot: str, run: Runner) -> dict:
    """Run PROGRAM in TARGET's root filesystem REPEAT times (chroot ROOTFS ARGV, at most TIMEOUT seconds each)."""
    argv = [chroot, target["rootfs"], *program["argv"]]
    failures, first_rc, first_stderr, output = 0, 0, "", ""
    for command in itertools.repeat(argv, repeat):
        result = run(command, timeout)
        if result.rc == 0:
            output = result.stdout
            continue
        failures += 1
        if first_rc == 0:
            first_rc, first_stderr = result.rc, _tail(result.stderr, STDERR_LINES)
    return verdict(target, program, repeat, failures, first_rc, first_stderr, output, timeout)


def run_timed(argv: list, timeout: int) -> RunResult:
    """Run ARGV in a session of its own, its output captured; past TIMEOUT seconds the whole session is killed, as
    timeout(1) kills the process group it made, so nothing the program started keeps the pipes open."""
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
            rc = process.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            rc = TIMED_OUT
    return RunResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def check_expectations(programs: list) -> None:
    """Refuse a program whose expect is no regular expression before anything runs."""
    for program in programs:
        try:
            re.compile(program["expect"])
        except re.error as exc:
            raise CanaryError(f"The QEMU canary program {program['name']}'s expect {program['expect']!r} is not a"
                              f" regular expression: {exc}") from None


def passes(result: dict, max_crash_percent: int) -> bool:
    """The role's assertion: at most MAX_CRASH_PERCENT of the runs failed, and the output matches expect unless every
    run failed (then there is no output to judge, and only the crash share decides)."""
    return (result["failures"] * 100 <= result["runs"] * max_crash_percent
            and (result["failures"] == result["runs"] or re.search(result["expect"], result["output"]) is not None))


def _first_failure(result: dict) -> str:
    return f"the first {result['outcome']}" + (f": \"{result['stderr']}\"" if result["stderr"] else "")


def failure_message(result: dict, suite: str) -> str:
    """The role's message for a QEMU that failed the canary (kept word for word: users search for it)."""
    if result["failures"]:
        what = f", {_first_failure(result)}"
    else:
        what = f"; it printed \"{result['output']}\", expected /{result['expect']}/"
    return (f"QEMU canary failed for {result['platform']}: {result['interpreter']} (QEMU {result['qemu_version']},"
            f" flags {result['flags']}) could not run {suite}'s {result['arch']} {result['program']} (chroot"
            f" {result['rootfs']} {' '.join(result['argv'])}): {result['failures']} of {result['runs']} runs failed"
            f"{what}. The static probes only prove the handler exists; this QEMU fails in real programs, so image"
            " builds will fail too, typically in apt-get install when the libc-bin trigger runs ldconfig. Install"
            " another QEMU (qemu_backports: true, or pin qemu_package_version) and re-run: the canary runs again when"
            " the QEMU package or a handler changes (qemu_verify: always forces it). Should the canary's own files be"
            f" damaged, delete {result['dir']} and it is rebuilt.")


def tolerance_warning(result: dict, suite: str, max_crash_percent: int) -> str:
    """The role's warning for crashes within the tolerated share (Ansible puts "[WARNING]: " in front)."""
    return (f"QEMU canary for {result['platform']}: {result['interpreter']} (QEMU {result['qemu_version']}) failed"
            f" {result['failures']} of {result['runs']} runs of {suite}'s {result['arch']} {result['program']},"
            f" {_first_failure(result)}. Builds that run it (apt-get install in images of that age) will fail now and"
            f" then the same way. Tolerated up to qemu_canary_max_crash_percent ({max_crash_percent} %); set it to 0 to"
            " refuse this QEMU.")
