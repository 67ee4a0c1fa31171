# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restart docker.service and wait for dockerd to answer; when it does not, put the previous daemon.json back and
start dockerd again, so that the host is never left without a running Docker."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import read_file, write_file

SERVICE = "docker.service"
# The engine this host's systemd runs, whatever docker context or DOCKER_HOST root's CLI would pick.
SOCKET = "unix:///var/run/docker.sock"
# A backup is a daemon.json: far smaller than this.
MAX_BACKUP_BYTES = 1024 * 1024
# dockerd's own fatal lines: its last words say what was wrong with the file (systemd's "Failed to start" does not).
FATAL = re.compile(r"(?i)unable to configure|failed to start daemon|level=(fatal|error)")

# run(argv) -> (rc, stdout, stderr), as AnsibleModule.run_command gives it.
Runner = Callable[[list], tuple]


class DockerdDidNotComeBack(BuildhostError):
    """dockerd did not answer after the restart; the message says whether the previous daemon.json was restored."""


@dataclass(frozen=True)
class Rollback:
    """The daemon.json this play changed, and the copy of what it held before (None: it did not exist before)."""
    path: str
    backup_file: Optional[str]


@dataclass
class RestartOutcome:
    restarted: bool
    waited_seconds: float = 0.0
    msg: str = ""
    journal: list = field(default_factory=list)


def last_words(journal: str) -> str:
    """The line of dockerd's journal that says why it stopped: the last fatal one, else the last of the three last."""
    lines = [line for line in journal.splitlines() if line.strip()]
    fatal = [line for line in lines if FATAL.search(line)]
    return (fatal or lines[-3:] or ["(nothing)"])[-1]


def restore(rollback: Rollback) -> None:
    """Put the previous daemon.json back, or remove the file when there was none before. Through _safe_file: a backup
    that is a link, or in a directory another user controls, is refused, and the write is atomic and synced, with the
    backup's owner and mode."""
    if rollback.backup_file is None:
        if os.path.lexists(rollback.path):
            os.unlink(rollback.path)
        return
    backup = read_file(rollback.backup_file, MAX_BACKUP_BYTES)
    if not backup.exists:
        raise FileNotFoundError(f"the backup {rollback.backup_file} is gone")
    write_file(rollback.path, backup.content, backup.mode, backup.uid, backup.gid)


class Dockerd:
    """docker.service through systemctl, and dockerd's answer through the docker CLI."""

    def __init__(self, run: Runner, docker: str, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.run, self.docker, self.clock, self.sleep = run, docker, clock, sleep

    def active(self) -> bool:
        return self.run(["systemctl", "is-active", "--quiet", SERVICE])[0] == 0

    def restart(self) -> bool:
        # docker.service allows 3 starts a minute: a package install and a deliberate restart must not hit that limit.
        self.run(["systemctl", "reset-failed", SERVICE])
        return self.run(["systemctl", "restart", SERVICE])[0] == 0

    def answers_within(self, timeout: float, poll: float) -> tuple[bool, float]:
        start = self.clock()
        while True:
            if self.run([self.docker, "--host", SOCKET, "version", "--format", "{{.Server.Version}}"])[0] == 0:
                return True, self.clock() - start
            if self.clock() - start >= timeout:
                return False, self.clock() - start
            self.sleep(poll)

    def journal(self) -> str:
        return self.run(["journalctl", f"_SYSTEMD_UNIT={SERVICE}", "--lines", "40", "--no-pager", "--output", "cat"])[1]


def restart_dockerd(dockerd: Dockerd, rollback: Optional[Rollback], timeout: float, poll: float = 2.0,
                    check_mode: bool = False) -> RestartOutcome:
    """Restart dockerd when it runs (a host without an engine, or with it stopped on purpose, has nothing to restart),
    then wait TIMEOUT seconds for it to answer. When it does not: the journal's last words, ROLLBACK applied, a second
    start, and DockerdDidNotComeBack with both."""
    if not dockerd.active():
        return RestartOutcome(False, msg="dockerd does not run here: nothing to restart")
    if check_mode:
        return RestartOutcome(True, msg="dockerd would be restarted")
    started = dockerd.restart()
    answered, waited = dockerd.answers_within(timeout, poll) if started else (False, 0.0)
    if answered:
        return RestartOutcome(True, waited, f"dockerd restarted and answered after {waited:.1f} s")
    words = last_words(dockerd.journal())
    restore_error = None
    if rollback is not None:
        try:
            restore(rollback)
        except (OSError, BuildhostError) as exc:  # dockerd is started again all the same
            restore_error = exc
    dockerd.restart()
    back, _waited = dockerd.answers_within(timeout, poll)
    if restore_error is not None:
        state = "it answers after a second start" if back else "it does not answer after a second start either"
        raise DockerdDidNotComeBack(f"dockerd did not start with the new {rollback.path}, and restoring the previous"
                                    f" file failed ({restore_error}); {state}. The daemon said: {words}")
    if rollback is not None:
        what = (f"dockerd did not start with the new {rollback.path}, so the previous file was restored"
                if rollback.backup_file is not None else
                f"dockerd did not start with the new {rollback.path}, so the file, which did not exist before, was removed")
    else:
        what = "dockerd did not come back from its restart"
    state = "dockerd is running with it again" if rollback is not None and back else (
        "it is running again after a second start" if back else "it does not answer after a second start either")
    raise DockerdDidNotComeBack(f"{what}, and {state}. The daemon said: {words}")
