# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restarting a BuildKit daemon in its container without killing the builds it runs.

The daemon reads its certificates and buildkitd.toml only when it starts, so a renewed certificate needs a restart, and
a restart kills every build in flight. The restart is due whenever a file the daemon reads is newer than the daemon's
own start: that survives a run that had to leave it, so the next run finds it due again. It happens once the daemon
has no build running, within a bounded wait; past the wait it is left for the next run.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

# The daemon's own socket inside its container: reachable with no client certificate, by root on the host only.
BUILDKITD_SOCKET = "unix:///run/buildkit/buildkitd.sock"
_DELETED = 2  # BuildHistoryEventType
_STARTED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class BuildkitRestartError(BuildhostError):
    """The daemon's state cannot be read, or the restart failed."""


@dataclass
class RestartOutcome:
    due: bool
    restarted: bool = False
    running_builds: int = 0
    waited_seconds: float = 0.0
    newer_files: list = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        return dict(changed=self.restarted, restart_due=self.due, restarted=self.restarted,
                    restart_pending=self.due and not self.restarted, running_builds=self.running_builds,
                    waited_seconds=round(self.waited_seconds, 1), newer_files=self.newer_files)


def parse_started_at(text: str) -> float:
    """Docker's State.StartedAt (RFC 3339 with nanoseconds) as a POSIX timestamp."""
    match = _STARTED.match(text.strip())
    if not match:
        raise BuildkitRestartError(f"cannot read the container's start time {text.strip()!r}")
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return stamp.replace(tzinfo=stamp.tzinfo or timezone.utc).timestamp() + float("0." + (fraction or "0"))


def newer_than(paths: list[str], started: float, mtime: Callable[[str], float] = os.path.getmtime) -> list[str]:
    """The PATHS changed after the daemon started (a missing one is not: the daemon could not have read it either)."""
    newer = []
    for path in paths:
        try:
            if mtime(path) > started:
                newer.append(path)
        except FileNotFoundError:
            continue
    return newer


def running_builds(histories: str) -> int:
    """How many builds ``buildctl debug histories --format '{{json .}}'`` lists without a completion time yet."""
    count = 0
    for line in histories.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise BuildkitRestartError(f"cannot read BuildKit's build history: {line.strip()[:120]!r}") from None
        if not isinstance(record, dict):
            raise BuildkitRestartError(f"cannot read BuildKit's build history: {line.strip()[:120]!r}")
        # Each line is an event: {"type": 0 started / 1 complete / 2 deleted, "record": {..., "CompletedAt": ...}}.
        event = record.get("type", 0)
        if isinstance(record.get("record"), dict):
            record = record["record"]
        if event != _DELETED and not record.get("CompletedAt"):
            count += 1
    return count


@dataclass
class DaemonContainer:
    """The container a daemon runs in, through the docker CLI (RUN: argv -> (rc, stdout, stderr))."""

    name: str
    run: Callable[[list[str]], tuple[int, str, str]]

    def _docker(self, *args: str) -> str:
        rc, out, err = self.run(list(args))
        if rc != 0:
            raise BuildkitRestartError(f"docker {' '.join(args[:2])} {self.name}: {(err or out).strip()}")
        return out

    def started_at(self) -> float:
        return parse_started_at(self._docker("inspect", "--format", "{{.State.StartedAt}}", self.name))

    def running_builds(self) -> int:
        return running_builds(self._docker("exec", self.name, "buildctl", "--addr", BUILDKITD_SOCKET, "debug",
                                           "histories", "--format", "{{json .}}"))

    def restart(self) -> None:
        self._docker("restart", self.name)


def restart_when_idle(daemon: DaemonContainer, files: list[str], wait_seconds: float, poll_seconds: float,
                      check_mode: bool, clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep,
                      mtime: Callable[[str], float] = os.path.getmtime) -> RestartOutcome:
    """Restart DAEMON if one of FILES is newer than its start, once no build runs there, waiting WAIT_SECONDS at most."""
    newer = newer_than(files, daemon.started_at(), mtime)
    outcome = RestartOutcome(due=bool(newer), newer_files=newer)
    if not newer:
        return outcome
    start = clock()
    outcome.running_builds = daemon.running_builds()
    while outcome.running_builds and clock() - start + poll_seconds <= wait_seconds and not check_mode:
        sleep(poll_seconds)
        outcome.running_builds = daemon.running_builds()
    outcome.waited_seconds = clock() - start
    if check_mode:
        outcome.restarted = True  # predicted: the real run waits for the builds it finds then
        return outcome
    if outcome.running_builds == 0:
        daemon.restart()
        outcome.restarted = True
    return outcome
