from __future__ import annotations

import json
import os
import stat

import pytest


@pytest.fixture
def daemon_json(tmp_path):
    return str(tmp_path / "daemon.json")


def test_experimental_is_a_json_boolean_and_other_keys_survive(run_module, daemon_json):
    with open(daemon_json, "w") as handle:
        json.dump({"registry-mirrors": ["https://mirror.example"], "log-driver": "journald"}, handle)
    os.chmod(daemon_json, 0o640)
    result = run_module("docker_daemon_config", {"path": daemon_json, "settings": {"features": {"containerd-snapshotter": True}}})
    written = json.load(open(daemon_json))
    assert written == {
        "registry-mirrors": ["https://mirror.example"],
        "log-driver": "journald",
        "features": {"containerd-snapshotter": True},
        "experimental": True,
    }
    assert result["changed"] is True and result["restart_required"] is True
    assert stat.S_IMODE(os.stat(daemon_json).st_mode) == 0o640, "the admin's mode is kept"


def test_second_run_needs_no_restart(run_module, daemon_json):
    run_module("docker_daemon_config", {"path": daemon_json})
    again = run_module("docker_daemon_config", {"path": daemon_json})
    assert again["changed"] is False and again["restart_required"] is False


def test_new_file_is_root_owned_and_world_readable(run_module, daemon_json):
    run_module("docker_daemon_config", {"path": daemon_json})
    st = os.stat(daemon_json)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o644, 0)


def test_check_mode_with_diff_shows_the_change_and_writes_nothing(run_module, daemon_json):
    with open(daemon_json, "w") as handle:
        handle.write('{"debug": true}')
    result = run_module("docker_daemon_config", {"path": daemon_json}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert '"experimental": true' in result["diff"]["after"]
    assert open(daemon_json).read() == '{"debug": true}'


@pytest.mark.parametrize("content", [b'{"experimental": true,,}', b"true", b"\xef\xbb\xbf{}"])
def test_malformed_daemon_json_is_left_untouched(run_module, daemon_json, content):
    with open(daemon_json, "wb") as handle:
        handle.write(content)
    result = run_module("docker_daemon_config", {"path": daemon_json})
    assert result.failed and daemon_json in result["msg"]
    assert open(daemon_json, "rb").read() == content


def test_directory_in_place_of_the_file_is_refused(run_module, tmp_path):
    result = run_module("docker_daemon_config", {"path": str(tmp_path)})
    assert result.failed and "is a directory" in result["msg"]


# The two tests below need the lab's dockerd (26.x, which has --validate): `make lab` provides it.
def test_setting_dockerd_rejects_fails_and_leaves_the_file(run_module, daemon_json):
    original = b'{"debug": false}\n'
    with open(daemon_json, "wb") as handle:
        handle.write(original)
    result = run_module("docker_daemon_config", {"path": daemon_json, "settings": {"log-level": "shouting"}})
    assert result.failed
    assert "dockerd rejects the new" in result["msg"] and "shouting" in result["msg"]
    assert open(daemon_json, "rb").read() == original


def test_valid_candidate_reports_it_was_validated(run_module, daemon_json):
    result = run_module("docker_daemon_config", {"path": daemon_json})
    assert result["validated"] is True, result["validation"]


def test_validation_skipped_when_dockerd_is_missing_says_so(run_module, daemon_json, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *args, **kwargs: None)
    result = run_module("docker_daemon_config", {"path": daemon_json})
    assert result["validated"] is False
    assert "dockerd is not installed" in result["validation"]
