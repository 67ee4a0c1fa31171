# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qemu role's canary: which platforms it runs on and what each run's output means
(docs: qemu_canary_targets.yml, qemu_canary_verdicts.yml)."""
from __future__ import annotations

import hashlib
from typing import Any

from ansible.errors import AnsibleFilterError

# How a canary program died, in the words QEMU's own "uncaught target signal" message uses.
SIGNALS = {4: "illegal instruction", 6: "aborted", 7: "bus error", 9: "killed", 11: "segmentation fault"}
# timeout(1)'s exit status when the program had no answer in time.
TIMED_OUT = 124


def qemu_canary_targets(probes: dict, binfmt: dict, platforms: Any, canary_dir: str, suite: str, mirror: str,
                        marker: str) -> list[dict]:
    """The canary platforms this host emulates through the handlers the role registered (BINFMT, the binfmt module's
    result), each with its root filesystem and the stamp that says the canary passed with this interpreter, these
    flags and this QEMU version (package version included). A stamp that does not exist yet means something changed."""
    handlers = binfmt.get("handlers") or {}
    requested = binfmt.get("requested_handlers") or []
    versions = binfmt.get("qemu_versions") or {}
    targets = []
    for name, row in probes.items():
        handler = handlers.get(name) or {}
        if row["platform"] not in (platforms or []) or name not in requested or not handler.get("enabled"):
            continue
        version = versions.get(name) or "not installed yet"
        directory = f"{canary_dir}/{suite}-{row['debian_arch']}"
        key = "|".join([str(handler["interpreter"]), str(handler["flags"]), str(version), suite, mirror])
        targets.append({
            "platform": row["platform"], "handler": name, "arch": row["debian_arch"], "dir": directory,
            "rootfs": f"{directory}/rootfs", "marker": f"{directory}/{marker}", "interpreter": handler["interpreter"],
            "flags": handler["flags"], "qemu_version": version,
            "stamp": f"{directory}/passed-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}.json",
        })
    return targets


def _outcome(rc: int, timeout: Any) -> str:
    """How a run ended: rc as the shell reports it (128 + signal, or -signal from Python), 124 for timeout(1)."""
    if rc == TIMED_OUT:
        return f"had no answer within {timeout} s"
    signal = -rc if rc < 0 else (rc - 128 if rc > 128 else 0)
    if signal:
        return f"was killed by signal {signal} ({SIGNALS.get(signal, 'see signal(7)')})"
    return f"exited {rc}"


def qemu_canary_verdicts(results: Any, repeat: Any, timeout: Any) -> list[dict]:
    """One verdict per canary run (RESULTS, the looped shell task's results, each item a [target, program] pair): the
    target, the program, how many of its REPEAT runs failed, how the first failure ended and what it printed. The
    task prints "failures first_rc", then the program's output; stderr holds the first failure's last lines."""
    verdicts = []
    for run in results or []:
        lines = run.get("stdout_lines") or []
        if not lines:
            continue
        try:
            failures, rc = (int(word) for word in lines[0].split())
        except ValueError:
            raise AnsibleFilterError(f"the canary's first line must be 'failures first_rc', not {lines[0]!r}") from None
        target, program = run["item"]
        verdicts.append(dict(target, program=program["name"], argv=program["argv"], expect=program["expect"],
                             runs=int(repeat), failures=failures, outcome=_outcome(rc, timeout),
                             stderr=" / ".join((run.get("stderr") or "").strip().splitlines()),
                             output=" ".join(lines[1:]).strip()))
    return verdicts


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"qemu_canary_targets": qemu_canary_targets, "qemu_canary_verdicts": qemu_canary_verdicts}
