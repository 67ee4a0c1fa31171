"""A runner's build_mode as config.toml settings (gitlab_runner_config's runner_settings), moved from the role's Jinja
into Python (issue 30): remote_buildkit gives the jobs the daemon and the certificate, and nothing privileged; dind
takes all of that back, whatever values it was written with."""
from __future__ import annotations

import os
import re
import tomllib

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_build_mode import (
    BuildModeError, expand_build_mode)
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import RunnerConfigError, plan_runner_update
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "gitlab-runner", "several-runners.toml")
BUILDKIT = {"host": "tcp://runner-01:1240", "servername": "runner-01",
            "client_dir": "/etc/multiarch-buildhost/buildkit/domains/ci/client"}


def plan(content: bytes, settings: dict):
    return plan_runner_update("/etc/gitlab-runner/config.toml", FileState(exists=True, content=content, mode=0o600),
                              {"volumes": ["/certs/client"], "privileged": True, "runner_settings": settings})


def runner(content: bytes, name: str = "multiarch-docker") -> dict:
    return next(r for r in tomllib.loads(content.decode())["runners"] if r["name"] == name)


def fixture() -> bytes:
    with open(FIXTURE, "rb") as handle:
        return handle.read()


def test_remote_buildkit_gives_the_jobs_the_daemon_and_the_certificate_and_no_privilege():
    done = plan(fixture(), {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT,
                                                 "environment": ["X=1", "BUILDKIT_HOST=tcp://stale:1"],
                                                 "docker": {"volumes": ["/cache"]}}})
    after = runner(done.content)
    assert after["docker"]["privileged"] is False and after["docker"]["services_privileged"] is False
    assert after["docker"]["volumes"] == ["/cache", f"{BUILDKIT['client_dir']}:/buildkit/client:ro", "/certs/client"]
    # The mode's variables come last: they win over the runner's own of the same name.
    assert after["environment"][-3:] == ["BUILDKIT_HOST=tcp://runner-01:1240", "BUILDKIT_TLS_DIR=/buildkit/client",
                                         "BUILDKIT_SERVERNAME=runner-01"]
    assert "BUILDKIT_HOST=tcp://stale:1" not in after["environment"] and "X=1" in after["environment"]
    again = plan(done.content, {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT,
                                                     "environment": ["X=1", "BUILDKIT_HOST=tcp://stale:1"],
                                                     "docker": {"volumes": ["/cache"]}}})
    assert not again.changed


def test_a_changed_client_directory_replaces_the_mount_instead_of_adding_a_second():
    first = plan(fixture(), {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}})
    moved = dict(BUILDKIT, client_dir="/etc/multiarch-buildhost/buildkit/domains/team-b/client")
    second = plan(first.content, {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": moved}})
    mounts = [v for v in runner(second.content)["docker"]["volumes"] if "/buildkit/client" in v]
    assert mounts == [f"{moved['client_dir']}:/buildkit/client:ro"]


def test_switched_back_to_dind_the_runner_keeps_nothing_of_remote_buildkit_and_settles():
    remote = plan(fixture(), {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}})
    back = plan(remote.content, {"multiarch-docker": {"build_mode": "dind"}})
    after = runner(back.content)
    assert [e for e in after.get("environment", []) if e.startswith("BUILDKIT_")] == []
    assert [v for v in after["docker"]["volumes"] if "/buildkit/client" in v] == []
    assert after["docker"]["privileged"] is True
    assert not plan(back.content, {"multiarch-docker": {"build_mode": "dind"}}).changed


def test_a_dind_runner_keeps_what_its_own_settings_give():
    remote = plan(fixture(), {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}})
    own = {"build_mode": "dind", "environment": ["BUILDKIT_HOST=tcp://mine:1"],
           "docker": {"volumes": ["/srv/mine:/buildkit/client:ro"]}}
    after = runner(plan(remote.content, {"multiarch-docker": own}).content)
    assert [e for e in after["environment"] if e.startswith("BUILDKIT_")] == ["BUILDKIT_HOST=tcp://mine:1"]
    assert [v for v in after["docker"]["volumes"] if "/buildkit/client" in v] == ["/srv/mine:/buildkit/client:ro"]


@pytest.mark.parametrize(("own", "message"), [
    ({"build_mode": "remote_buildkit", "buildkit": BUILDKIT, "docker": {"privileged": True}},
     "build_mode remote_buildkit runs jobs unprivileged, so docker.privileged cannot be true"),
    ({"build_mode": "remote_buildkit", "buildkit": BUILDKIT, "docker": {"services_privileged": True}},
     "docker.services_privileged cannot be true"),
    ({"build_mode": "remote_buildkit"}, "buildkit must be a dictionary"),
    ({"build_mode": "remote_buildkit", "buildkit": dict(BUILDKIT, client_dir="relative")}, "client_dir must be an absolute"),
    ({"build_mode": "remote_buildkit", "buildkit": dict(BUILDKIT, client_dir="/a:/b")}, "client_dir must be an absolute"),
    ({"build_mode": "remote_buildkit", "buildkit": dict(BUILDKIT, host="")}, "buildkit.host must name the daemon"),
    ({"build_mode": "dind", "buildkit": BUILDKIT}, "buildkit is for build_mode remote_buildkit only"),
    ({"buildkit": BUILDKIT}, "buildkit is for build_mode remote_buildkit only"),
    ({"build_mode": "kaniko"}, "build_mode must be dind or remote_buildkit"),
])
def test_a_bad_build_mode_is_refused_naming_the_runner_before_anything_changes(own, message):
    with pytest.raises(BuildModeError, match=message):
        expand_build_mode("runner_settings['r']", own)
    with pytest.raises(BuildModeError, match=r"runner_settings\['multiarch-docker'\]"):
        plan(fixture(), {"multiarch-docker": own})


def test_without_a_build_mode_nothing_of_either_mode_is_added():
    assert expand_build_mode("w", {"limit": 2}) == {"limit": 2}


# Issue 28: the registry mirrors reach the docker:dind services through a daemon.json on the host, which each dind
# runner mounts read-only where the service's dockerd reads it (GitLab's documented way).
DAEMON_JSON = "/etc/multiarch-buildhost/dind-daemon.json"
DIND_MOUNT = f"{DAEMON_JSON}:/etc/docker/daemon.json:ro"


def plan_dind(content: bytes, settings: dict, daemon_config, volumes=("/certs/client",)):
    return plan_runner_update("/etc/gitlab-runner/config.toml", FileState(exists=True, content=content, mode=0o600),
                              {"volumes": list(volumes), "privileged": True, "runner_settings": settings,
                               "dind_daemon_config": daemon_config})


def daemon_mounts(content: bytes, name: str = "multiarch-docker") -> list[str]:
    return [v for v in runner(content, name).get("docker", {}).get("volumes", []) if v.split(":")[1:2] == ["/etc/docker/daemon.json"]]


def test_a_dind_runner_mounts_the_dind_daemon_json_read_only_and_settles():
    done = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    assert done.changed and "multiarch-docker" in done.details.changed_runners
    # Appended after what the runner mounts already: the cache volume and the shared /certs/client stay.
    assert runner(done.content)["docker"]["volumes"] == ["/cache", "/certs/client", DIND_MOUNT]
    again = plan_dind(done.content, {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    assert not again.changed and again.content == done.content


def test_a_remote_buildkit_runner_never_mounts_it_and_loses_it_when_switched_from_dind():
    remote = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}}, DAEMON_JSON)
    assert daemon_mounts(remote.content) == []
    dind = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    switched = plan_dind(dind.content, {"multiarch-docker": {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}},
                         DAEMON_JSON)
    assert daemon_mounts(switched.content) == []
    assert expand_build_mode("w", {"build_mode": "remote_buildkit", "buildkit": BUILDKIT}, DAEMON_JSON).get("mounts") is None


def test_without_mirrors_the_mount_is_taken_back_whatever_file_it_mounted_and_settles():
    dind = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    by_hand = dind.content.replace(DIND_MOUNT.encode(), b"/srv/old-daemon.json:/etc/docker/daemon.json")
    for content in (dind.content, by_hand):
        back = plan_dind(content, {"multiarch-docker": {"build_mode": "dind"}}, "")
        assert back.changed and daemon_mounts(back.content) == []
        assert runner(back.content)["docker"]["volumes"] == ["/cache", "/certs/client"]
        assert not plan_dind(back.content, {"multiarch-docker": {"build_mode": "dind"}}, "").changed


def test_a_moved_file_replaces_the_mount_instead_of_adding_a_second():
    dind = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    moved = plan_dind(dind.content, {"multiarch-docker": {"build_mode": "dind"}}, "/srv/dind.json")
    assert daemon_mounts(moved.content) == ["/srv/dind.json:/etc/docker/daemon.json:ro"]


def test_unset_or_without_a_build_mode_the_mount_is_left_alone():
    dind = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON)
    # Unset: the module's callers before this option keep what they had.
    assert not plan_dind(dind.content, {"multiarch-docker": {"build_mode": "dind"}}, None).changed
    # No build_mode: a runner the role does not list is nobody's to change.
    for settings in ({"multiarch-docker": {"limit": 0}}, {}):
        assert daemon_mounts(plan_dind(dind.content, settings, "").content) == [DIND_MOUNT]
    added = plan_dind(fixture(), {}, DAEMON_JSON)
    assert daemon_mounts(added.content) == [] and daemon_mounts(added.content, "docker-without-table") == []


def test_a_dind_runner_keeps_its_own_mount_at_that_path():
    own = {"build_mode": "dind", "docker": {"volumes": ["/cache", "/srv/mine.json:/etc/docker/daemon.json:ro"]}}
    for daemon_config in (DAEMON_JSON, ""):
        done = plan_dind(fixture(), {"multiarch-docker": own}, daemon_config)
        assert daemon_mounts(done.content) == ["/srv/mine.json:/etc/docker/daemon.json:ro"]


@pytest.mark.parametrize("daemon_config", ["relative/daemon.json", "/a:/b", "/with space.json", "/x\n.json"])
def test_a_daemon_json_that_is_no_host_path_is_refused_before_anything_changes(daemon_config):
    with pytest.raises(BuildModeError, match="dind_daemon_config must be an absolute path on the host"):
        plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, daemon_config)


def test_a_shared_volume_at_the_same_path_is_refused_naming_both():
    message = f"/srv/x.json:/etc/docker/daemon.json, where the runner's build mode mounts {DIND_MOUNT}"
    with pytest.raises(RunnerConfigError, match=re.escape(message)):
        plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON,
                  volumes=["/certs/client", "/srv/x.json:/etc/docker/daemon.json"])
    # The same volume, given both ways, is one mount.
    same = plan_dind(fixture(), {"multiarch-docker": {"build_mode": "dind"}}, DAEMON_JSON, volumes=["/certs/client", DIND_MOUNT])
    assert daemon_mounts(same.content) == [DIND_MOUNT]
