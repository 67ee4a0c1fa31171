"""When a BuildKit daemon is restarted after a renewal: only when a file it reads changed, only once no build runs."""
from __future__ import annotations

import json

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildkit_restart import (
    BuildkitRestartError,
    DaemonContainer,
    newer_than,
    parse_started_at,
    restart_when_idle,
    running_builds,
)

STARTED = "2026-12-07T01:30:00.123456789Z"
T0 = parse_started_at(STARTED)


def test_docker_start_times_with_nanoseconds_and_offsets_are_read():
    assert T0 == pytest.approx(1796607000.123456789, abs=1e-6)
    assert parse_started_at("2026-12-07T02:30:00+01:00") == pytest.approx(1796607000.0)
    with pytest.raises(BuildkitRestartError, match="start time"):
        parse_started_at("0001-01-01 nonsense")


def test_only_files_changed_after_the_start_make_a_restart_due():
    mtimes = {"/a": T0 - 10, "/b": T0 + 5}

    def mtime(path):
        if path not in mtimes:
            raise FileNotFoundError(path)
        return mtimes[path]

    assert newer_than(["/a", "/b", "/missing"], T0, mtime) == ["/b"]


def test_records_without_a_completion_time_are_running_builds():
    # As buildctl 0.13 prints them: one event a line, the record inside.
    lines = [json.dumps({"type": 1, "record": {"Ref": "a", "CompletedAt": "2026-12-07T01:31:00Z"}}),
             json.dumps({"record": {"Ref": "b", "CreatedAt": "2026-12-07T01:31:00Z"}}),
             json.dumps({"type": 2, "record": {"Ref": "c"}}), ""]
    assert running_builds("\n".join(lines)) == 1
    assert running_builds("") == 0
    with pytest.raises(BuildkitRestartError, match="build history"):
        running_builds("not json")


class FakeDocker:
    """The docker CLI of a daemon whose builds finish after BUSY_LOOKS looks."""

    def __init__(self, busy_looks: int, started: str = STARTED):
        self.busy_looks, self.started, self.calls = busy_looks, started, []

    def run(self, argv):
        self.calls.append(argv[0])
        if argv[0] == "inspect":
            return 0, self.started + "\n", ""
        if argv[0] == "exec":
            busy = self.calls.count("exec") <= self.busy_looks
            record = {"Ref": "x"} if busy else {"Ref": "x", "CompletedAt": "2026-12-07T02:00:00Z"}
            return 0, json.dumps({"type": 0 if busy else 1, "record": record}) + "\n", ""
        if argv[0] == "restart":
            return 0, "", ""
        return 1, "", "unexpected"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(docker, files_newer=True, wait=60, check_mode=False):
    clock = Clock()
    renewed = T0 + (60 if files_newer else -60)
    return restart_when_idle(DaemonContainer("bk", docker.run), ["/etc/buildkit/cert.pem"], wait, 2, check_mode,
                             clock=clock, sleep=clock.sleep, mtime=lambda path: renewed)


def test_nothing_changed_means_no_look_at_the_builds_and_no_restart():
    docker = FakeDocker(busy_looks=0)
    outcome = run(docker, files_newer=False)
    assert not outcome.due and not outcome.restarted and docker.calls == ["inspect"]


def test_a_renewal_waits_for_the_running_build_then_restarts():
    docker = FakeDocker(busy_looks=3)
    outcome = run(docker)
    assert outcome.restarted and outcome.result()["changed"] and not outcome.result()["restart_pending"]
    assert docker.calls[-1] == "restart" and docker.calls.count("exec") == 4
    assert outcome.waited_seconds == 6


def test_a_build_longer_than_the_wait_leaves_the_restart_for_the_next_run():
    docker = FakeDocker(busy_looks=1000)
    outcome = run(docker, wait=10)
    assert outcome.due and not outcome.restarted and "restart" not in docker.calls
    assert outcome.result()["restart_pending"] and outcome.running_builds == 1
    assert outcome.waited_seconds <= 10


def test_check_mode_predicts_the_restart_and_neither_waits_nor_restarts():
    docker = FakeDocker(busy_looks=1000)
    outcome = run(docker, check_mode=True)
    assert outcome.restarted and "restart" not in docker.calls and outcome.waited_seconds == 0


def test_a_failing_docker_names_the_container():
    daemon = DaemonContainer("bk", lambda argv: (1, "", "No such container: bk"))
    with pytest.raises(BuildkitRestartError, match="docker inspect --format bk: No such container"):
        restart_when_idle(daemon, ["/x"], 1, 1, False)
