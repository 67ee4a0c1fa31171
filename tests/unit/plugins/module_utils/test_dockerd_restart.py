# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dockerd restart's decisions, against a scripted systemctl and docker CLI (the real restart, rollback and
journal are proven by Molecule's docker and default scenarios)."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._dockerd_restart import (
    Dockerd, DockerdDidNotComeBack, Rollback, last_words, restart_dockerd)

JOURNAL = "\n".join([
    'time="2026-12-07T13:00:00Z" level=info msg="Starting up"',
    "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are specified"
    " both as a flag and in the configuration file: hosts",
    "",
])


class FakeHost:
    """systemctl and docker as scripted: ACTIVE, whether each start answers (ANSWERS, one per start), the journal."""

    def __init__(self, active=True, answers=(True,), journal=JOURNAL):
        self.is_active, self.answers, self.journal_text = active, list(answers), journal
        self.calls, self.up = [], False
        self.now = 0.0

    def run(self, argv):
        self.calls.append(argv)
        if argv[:2] == ["systemctl", "is-active"]:
            return (0 if self.is_active else 3), "", ""
        if argv[:2] == ["systemctl", "restart"]:
            self.up = self.answers.pop(0)
            return (0 if self.up else 1), "", ""
        if argv[:2] == ["systemctl", "reset-failed"]:
            return 0, "", ""
        if argv[0] == "journalctl":
            return 0, self.journal_text, ""
        if argv[:3] == ["docker", "--host", "unix:///var/run/docker.sock"] and argv[3] == "version":
            return (0, "26.1.5\n", "") if self.up else (1, "", "Cannot connect to the Docker daemon")
        raise AssertionError(f"unexpected command {argv}")

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def dockerd(self):
        return Dockerd(self.run, "docker", clock=self.clock, sleep=self.sleep)

    def restarts(self):
        return [call for call in self.calls if call[:2] == ["systemctl", "restart"]]


def test_restarts_once_and_reports_the_wait():
    host = FakeHost()
    outcome = restart_dockerd(host.dockerd(), None, timeout=10)
    assert outcome.restarted and len(host.restarts()) == 1
    # The start-rate limit is cleared before the restart, never after it.
    assert host.calls.index(["systemctl", "reset-failed", "docker.service"]) < host.calls.index(host.restarts()[0])


def test_nothing_to_restart_where_dockerd_does_not_run():
    host = FakeHost(active=False)
    outcome = restart_dockerd(host.dockerd(), None, timeout=10)
    assert not outcome.restarted and host.restarts() == []


def test_check_mode_predicts_and_restarts_nothing():
    host = FakeHost()
    outcome = restart_dockerd(host.dockerd(), None, timeout=10, check_mode=True)
    assert outcome.restarted and host.restarts() == []


def test_a_file_dockerd_cannot_start_with_is_restored_byte_for_byte_with_owner_and_mode(tmp_path):
    path, backup = tmp_path / "daemon.json", tmp_path / "daemon.json.1.bak"
    backup.write_bytes(b'{"experimental": true}\n')
    os.chmod(backup, 0o640)
    path.write_bytes(b'{"experimental": true, "hosts": ["unix:///run/x.sock"]}\n')
    host = FakeHost(answers=(False, True))
    with pytest.raises(DockerdDidNotComeBack) as failure:
        restart_dockerd(host.dockerd(), Rollback(str(path), str(backup)), timeout=4, poll=2)
    assert path.read_bytes() == b'{"experimental": true}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert (path.stat().st_uid, path.stat().st_gid) == (backup.stat().st_uid, backup.stat().st_gid)
    assert len(host.restarts()) == 2
    message = str(failure.value)
    assert "previous file was restored" in message and "dockerd is running with it again" in message
    assert message.endswith("specified both as a flag and in the configuration file: hosts")
    # No temporary copy is left beside the file.
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["daemon.json", "daemon.json.1.bak"]


def test_a_file_that_did_not_exist_before_is_removed(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"hosts": []}\n')
    host = FakeHost(answers=(False, True))
    with pytest.raises(DockerdDidNotComeBack, match="did not exist before, was removed"):
        restart_dockerd(host.dockerd(), Rollback(str(path), None), timeout=2, poll=1)
    assert not path.exists()


def test_without_a_rollback_the_failure_says_dockerd_is_back_or_not():
    host = FakeHost(answers=(False, False))
    with pytest.raises(DockerdDidNotComeBack, match="did not come back from its restart, and it does not answer"):
        restart_dockerd(host.dockerd(), None, timeout=2, poll=1)
    # A start systemd reports failed is not waited for; the second start is, the whole timeout.
    assert host.now == 2 and len(host.restarts()) == 2


@pytest.mark.parametrize("plant", ["missing", "link"])
def test_a_backup_that_cannot_be_restored_still_gets_dockerd_started_again(tmp_path, plant):
    path, backup = tmp_path / "daemon.json", tmp_path / "daemon.json.1.bak"
    path.write_bytes(b'{"hosts": []}\n')
    if plant == "link":  # a backup that is a link is never followed: its target's bytes must not become daemon.json
        (tmp_path / "elsewhere").write_bytes(b"not a daemon.json")
        backup.symlink_to(tmp_path / "elsewhere")
    host = FakeHost(answers=(False, True))
    with pytest.raises(DockerdDidNotComeBack) as failure:
        restart_dockerd(host.dockerd(), Rollback(str(path), str(backup)), timeout=2, poll=1)
    assert len(host.restarts()) == 2
    assert "restoring the previous file failed" in str(failure.value) and "it answers after a second start" in str(failure.value)
    assert path.read_bytes() == b'{"hosts": []}\n'


@pytest.mark.parametrize("journal, words", [
    (JOURNAL, "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are"
              " specified both as a flag and in the configuration file: hosts"),
    ("one\ntwo\nthree\nfour\n", "four"),
    ("", "(nothing)"),
    ('level=error msg="first"\nplain\nlevel=fatal msg="last"\ntrailing\n', 'level=fatal msg="last"'),
])
def test_last_words_prefer_dockerds_own_fatal_lines(journal, words):
    assert last_words(journal) == words
