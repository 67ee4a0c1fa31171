"""gitlab_runner_config against config.toml documents in the shapes GitLab documents."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tomllib

import pytest
from ansible.module_utils import basic

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "gitlab-runner")
TOKENS = ["glrt-t1_SECRETdockerRunnerToken", "glrt-t2_SECRETshellRunnerToken", "glrt-t3_SECRETbareRunnerToken",
          "AKIAEXAMPLE", "s3cr3tKEYexample"]
DIND = {"privileged": True, "allowed_privileged_services": ["docker:*-dind"], "allowed_privileged_images": ["docker:*-dind"],
        "concurrent": 4}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    shutil.copy(os.path.join(FIXTURES, "several-runners.toml"), path)
    os.chmod(path, 0o600)
    return path


def runners_by_name(path):
    return {r["name"]: r for r in tomllib.loads(path.read_text())["runners"]}


def test_docker_runners_get_privileged_dind_and_everything_else_survives(run_module, config):
    original = config.read_text()
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config)))
    assert result["changed"] is True
    assert sorted(result["changed_runners"]) == ["docker-without-table", "multiarch-docker"]
    text = config.read_text()
    runners = runners_by_name(config)
    docker = runners["multiarch-docker"]["docker"]
    assert docker["privileged"] is True
    assert docker["allowed_privileged_services"] == ["docker:*-dind"]
    assert docker["volumes"] == ["/cache", "/certs/client"]
    assert docker["shm_size"] == 0 and docker["image"] == "docker:27"
    assert runners["docker-without-table"]["docker"]["volumes"] == ["/certs/client"]
    assert "docker" not in runners["shell-runner"]
    assert runners["multiarch-docker"]["cache"]["s3"]["SecretKey"] == "s3cr3tKEYexample"
    assert runners["multiarch-docker"]["feature_flags"] == {"FF_USE_FASTZIP": True}
    assert "# Managed by hand on build-01 -- keep this comment" in text and "# the cache volume must stay" in text
    assert tomllib.loads(text)["concurrent"] == 4
    assert text.index('name = "multiarch-docker"') < text.index('name = "shell-runner"') < text.index('name = "docker-without-table"')
    assert len(original.splitlines()) < len(text.splitlines())


def test_repeated_runs_change_nothing_and_duplicate_nothing(run_module, config):
    run_module("gitlab_runner_config", dict(DIND, path=str(config)))
    once = config.read_text()
    for _attempt in range(3):
        assert run_module("gitlab_runner_config", dict(DIND, path=str(config)))["changed"] is False
    assert config.read_text() == once
    assert once.count("[runners.docker]") == 2 and once.count("privileged = true") == 2


def test_tokens_never_reach_the_result_or_the_diff(run_module, config):
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config)), diff=True)
    dumped = json.dumps(result)
    for secret in TOKENS:
        assert secret not in dumped
    assert 'token = "********"' in result["diff"]["after"]


@pytest.mark.parametrize("controller", [{}, {"_ansible_no_log": False}], ids=["direct", "controller"])
def test_job_variables_never_reach_the_hosts_journal(run_module, config, monkeypatch, controller):
    # AnsibleModule's constructor logs its invocation to the host's journal through log(), recorded here; the
    # controller sends _ansible_no_log=false with every task that does not set no_log.
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    shared, own = "mbh-journal-docker-secret", "mbh-journal-runner-secret"
    result = run_module("gitlab_runner_config", dict(
        DIND, **controller, path=str(config), docker={"environment": [f"API_TOKEN={shared}"]},
        runner_settings={"multiarch-docker": {"environment": [f"AWS_SECRET_ACCESS_KEY={own}"]}}))
    assert result["changed"] is True and not result.failed
    assert f"AWS_SECRET_ACCESS_KEY={own}" in runners_by_name(config)["multiarch-docker"]["environment"]
    assert shared not in repr(logged) and own not in repr(logged)


def test_check_mode_predicts_and_leaves_the_file(run_module, config):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config)), check_mode=True)
    assert result["changed"] is True and config.read_bytes() == before


def test_named_runners_only_and_mode_kept(run_module, config):
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config), runners=["multiarch-docker"]))
    assert result["changed_runners"] == ["multiarch-docker"]
    assert "docker" not in runners_by_name(config)["docker-without-table"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.write_text("[[runners]\nname = 1"), "is not valid TOML"),
        (lambda p: shutil.copy(os.path.join(FIXTURES, "duplicate-keys.toml"), p), "is not valid TOML"),
        (lambda p: p.unlink(), "does not exist"),
    ],
)
def test_bad_files_are_refused_and_untouched(run_module, config, setup, message):
    setup(config)
    before = config.read_bytes() if config.exists() else None
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config)))
    assert result.failed and str(config) in result["msg"] and message in result["msg"]
    assert (config.read_bytes() if config.exists() else None) == before


def test_an_unknown_runner_name_is_refused(run_module, config):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config), runners=["nope"]))
    assert result.failed and "no runner named nope" in result["msg"] and "multiarch-docker" in result["msg"]
    assert config.read_bytes() == before


@pytest.mark.parametrize(("own", "message"), [
    ({"absent_environment": ["BUILDKIT_HOST=tcp://x:1"]}, "absent_environment must be a list of variable names"),
    ({"absent_volumes": ["/etc/c:/buildkit/client:ro"]}, "absent_volumes must be a list of absolute paths"),
    ({"environment": ["BUILDKIT_HOST=tcp://x:1"], "absent_environment": ["BUILDKIT_HOST"]}, "both to have and not to have"),
])
def test_bad_absent_settings_are_refused_and_the_file_untouched(run_module, config, own, message):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config), runner_settings={"multiarch-docker": own}))
    assert result.failed and message in result["msg"] and "multiarch-docker" in result["msg"]
    assert config.read_bytes() == before


def test_the_reader_lists_runners_without_their_secrets(run_module, tmp_path):
    path = tmp_path / "config.toml"
    shutil.copy(os.path.join(FIXTURES, "several-runners.toml"), path)
    before = path.read_bytes()
    result = run_module("gitlab_runner_config_info", {"path": str(path)})
    assert result["exists"] is True and result["changed"] is False
    assert result["runner_names"] == ["multiarch-docker", "shell-runner", "docker-without-table"]
    assert [r["executor"] for r in result["runners"]] == ["docker", "shell", "docker"]
    assert "token" not in json.dumps(result["runners"]).lower()
    assert path.read_bytes() == before


def test_the_reader_reports_a_missing_file_and_fails_on_a_broken_one(run_module, tmp_path):
    missing = run_module("gitlab_runner_config_info", {"path": str(tmp_path / "absent.toml")})
    assert missing["exists"] is False and missing["runner_names"] == [] and not missing.failed
    broken = tmp_path / "config.toml"
    broken.write_text("[[runners]\nname = 'x'\n")
    result = run_module("gitlab_runner_config_info", {"path": str(broken)})
    assert result.failed and str(broken) in result["msg"] and "not valid TOML" in result["msg"]


# ---------------------------------------------------------------- a runner's whole life: settings, token reset, removal

NEW_TOKEN = "glrt-t1_ROTATEDdockerRunnerToken"


def test_a_reset_token_is_written_reported_and_never_shown(run_module, config):
    args = dict(DIND, path=str(config), runner_tokens={"multiarch-docker": NEW_TOKEN})
    result = run_module("gitlab_runner_config", args, diff=True)
    assert result["changed"] is True and result["token_updated_runners"] == ["multiarch-docker"]
    assert runners_by_name(config)["multiarch-docker"]["token"] == NEW_TOKEN
    dumped = json.dumps(result)
    for secret in [*TOKENS, NEW_TOKEN]:
        assert secret not in dumped, "the result, its diff and its invocation (what -vvv logs) must not hold a token"
    assert 'token = "******** (new token)"' in result["diff"]["after"]
    again = run_module("gitlab_runner_config", args, diff=True)
    assert again["changed"] is False and again["token_updated_runners"] == []
    assert NEW_TOKEN not in json.dumps(again)


def test_the_same_token_is_no_change_and_leaves_the_file_byte_for_byte(run_module, config):
    run_module("gitlab_runner_config", dict(DIND, path=str(config)))
    before = config.read_bytes()
    same = {"multiarch-docker": "glrt-t1_SECRETdockerRunnerToken"}
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config), runner_tokens=same))
    assert result["changed"] is False and config.read_bytes() == before


def test_a_token_reset_in_check_mode_is_predicted_and_not_written(run_module, config):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", {"path": str(config), "runner_tokens": {"multiarch-docker": NEW_TOKEN}},
                        check_mode=True, diff=True)
    assert result["changed"] is True and result["token_updated_runners"] == ["multiarch-docker"]
    assert config.read_bytes() == before and NEW_TOKEN not in json.dumps(result)


def test_absent_runners_are_removed_once_and_the_others_stay(run_module, config):
    args = {"path": str(config), "absent_runners": ["shell-runner", "never-registered"]}
    result = run_module("gitlab_runner_config", args, diff=True)
    assert result["changed"] is True and result["removed_runners"] == ["shell-runner"]
    assert result["runner_names"] == ["multiarch-docker", "docker-without-table"]
    assert list(runners_by_name(config)) == ["multiarch-docker", "docker-without-table"]
    assert "glrt-t2_SECRETshellRunnerToken" not in json.dumps(result)
    assert 'name = "shell-runner"' in result["diff"]["before"] and "shell-runner" not in result["diff"]["after"]
    again = run_module("gitlab_runner_config", args)
    assert again["changed"] is False and again["removed_runners"] == []


def test_without_absent_runners_no_runner_is_ever_removed(run_module, config):
    run_module("gitlab_runner_config", dict(DIND, path=str(config), runners=["multiarch-docker"],
                                            runner_settings={"multiarch-docker": {"limit": 2}}))
    assert list(runners_by_name(config)) == ["multiarch-docker", "shell-runner", "docker-without-table"]


def test_per_runner_limits_and_mtu_are_typed_and_settle(run_module, config):
    args = dict(DIND, path=str(config), runner_settings={
        "multiarch-docker": {"limit": 4, "request_concurrency": "2", "docker": {"network_mtu": 1360}},
        "docker-without-table": {"limit": 1}})
    result = run_module("gitlab_runner_config", args)
    assert result["changed"] is True
    assert sorted(result["changed_runners"]) == ["docker-without-table", "multiarch-docker"]
    runners = runners_by_name(config)
    assert (runners["multiarch-docker"]["limit"], runners["multiarch-docker"]["request_concurrency"]) == (4, 2)
    assert runners["multiarch-docker"]["docker"]["network_mtu"] == 1360 and runners["docker-without-table"]["limit"] == 1
    once = config.read_text()
    assert run_module("gitlab_runner_config", args)["changed"] is False and config.read_text() == once


@pytest.mark.parametrize(
    ("runner_settings", "message"),
    [
        ({"multiarch-docker": {"limit": True}}, "limit must be an integer, not bool True"),
        ({"multiarch-docker": {"docker": {"privileged": 1}}}, "privileged must be true or false, not int 1"),
        ({"nope": {"limit": 1}}, "has no runner named nope to configure"),
    ],
)
def test_bad_runner_settings_fail_naming_the_file_and_leave_it(run_module, config, runner_settings, message):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", {"path": str(config), "runner_settings": runner_settings})
    assert result.failed and message in result["msg"] and result["msg"].startswith("gitlab_runner_config: ")
    assert config.read_bytes() == before


def test_a_runner_to_remove_and_to_reset_is_refused_without_showing_the_token(run_module, config):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", {"path": str(config), "absent_runners": ["multiarch-docker"],
                                                 "runner_tokens": {"multiarch-docker": NEW_TOKEN}})
    assert result.failed and "cannot be both removed" in result["msg"] and config.read_bytes() == before
    assert NEW_TOKEN not in json.dumps(result)


def test_the_whole_life_in_one_run_with_a_backup(run_module, config):
    result = run_module("gitlab_runner_config", dict(
        DIND, path=str(config), backup=True, absent_runners=["shell-runner"],
        runner_tokens={"multiarch-docker": NEW_TOKEN},
        runner_settings={"multiarch-docker": {"limit": 4, "docker": {"network_mtu": 1360}}}))
    assert result["changed"] and result["removed_runners"] == ["shell-runner"]
    assert stat.S_IMODE(os.stat(result["backup_file"]).st_mode) == 0o600
    assert "glrt-t2_SECRETshellRunnerToken" in open(result["backup_file"]).read(), "the backup is the previous file"
    assert runners_by_name(config)["multiarch-docker"]["token"] == NEW_TOKEN


def test_a_null_docker_value_fails_clearly_instead_of_a_traceback(run_module, tmp_path):
    path = tmp_path / "config.toml"
    shutil.copy(os.path.join(FIXTURES, "several-runners.toml"), path)
    before = path.read_bytes()
    result = run_module("gitlab_runner_config", {"path": str(path), "docker": {"dns": None}})
    assert result.failed and "is null" in result["msg"] and path.read_bytes() == before


# Issue 28: dind_daemon_config, the daemon.json of the docker:dind services (the registry mirrors), through the module.
DIND_DAEMON_JSON = "/etc/multiarch-buildhost/dind-daemon.json"
DIND_DAEMON_MOUNT = f"{DIND_DAEMON_JSON}:/etc/docker/daemon.json:ro"
BUILDKIT_SETTINGS = {"build_mode": "remote_buildkit", "buildkit": {
    "host": "tcp://runner-01:1240", "servername": "runner-01", "client_dir": "/etc/multiarch-buildhost/buildkit/domains/ci/client"}}
MIXED_MODES = {"multiarch-docker": {"build_mode": "dind"}, "docker-without-table": BUILDKIT_SETTINGS}


def test_dind_daemon_config_reaches_the_dind_runner_only_and_settles(run_module, config):
    args = dict(DIND, path=str(config), dind_daemon_config=DIND_DAEMON_JSON, runner_settings=MIXED_MODES)
    result = run_module("gitlab_runner_config", args)
    assert result["changed"] is True and not result.failed
    runners = runners_by_name(config)
    assert runners["multiarch-docker"]["docker"]["volumes"] == ["/cache", "/certs/client", DIND_DAEMON_MOUNT]
    assert DIND_DAEMON_MOUNT not in runners["docker-without-table"]["docker"]["volumes"]
    assert not any("/etc/docker/daemon.json" in v for v in runners["docker-without-table"]["docker"]["volumes"])
    once = config.read_bytes()
    again = run_module("gitlab_runner_config", args)
    assert again["changed"] is False and again["changed_runners"] == [] and config.read_bytes() == once


def test_dind_daemon_config_in_check_mode_predicts_the_mount_and_its_removal_and_writes_nothing(run_module, config):
    args = dict(DIND, path=str(config), runner_settings=MIXED_MODES)
    before = config.read_bytes()
    predicted = run_module("gitlab_runner_config", dict(args, dind_daemon_config=DIND_DAEMON_JSON), check_mode=True, diff=True)
    assert predicted["changed"] is True and config.read_bytes() == before
    assert DIND_DAEMON_MOUNT in predicted["diff"]["after"] and DIND_DAEMON_MOUNT not in predicted["diff"]["before"]
    run_module("gitlab_runner_config", dict(args, dind_daemon_config=DIND_DAEMON_JSON))
    mounted = config.read_bytes()
    # Settled: check mode says so too.
    assert run_module("gitlab_runner_config", dict(args, dind_daemon_config=DIND_DAEMON_JSON), check_mode=True)["changed"] is False
    taken_back = run_module("gitlab_runner_config", dict(args, dind_daemon_config=""), check_mode=True, diff=True)
    assert taken_back["changed"] is True and taken_back["changed_runners"] == ["multiarch-docker"]
    assert DIND_DAEMON_MOUNT in taken_back["diff"]["before"] and DIND_DAEMON_MOUNT not in taken_back["diff"]["after"]
    assert config.read_bytes() == mounted


def test_no_mirrors_takes_the_mount_back_and_settles(run_module, config):
    args = dict(DIND, path=str(config), runner_settings=MIXED_MODES)
    run_module("gitlab_runner_config", dict(args, dind_daemon_config=DIND_DAEMON_JSON))
    result = run_module("gitlab_runner_config", dict(args, dind_daemon_config=""))
    assert result["changed"] is True and result["changed_runners"] == ["multiarch-docker"]
    assert runners_by_name(config)["multiarch-docker"]["docker"]["volumes"] == ["/cache", "/certs/client"]
    assert "/etc/docker/daemon.json" not in config.read_text()
    assert run_module("gitlab_runner_config", dict(args, dind_daemon_config=""))["changed"] is False


def test_a_dind_daemon_config_that_is_no_host_path_fails_and_leaves_the_file(run_module, config):
    before = config.read_bytes()
    result = run_module("gitlab_runner_config", dict(DIND, path=str(config), dind_daemon_config="/a:/etc/docker/daemon.json",
                                                     runner_settings=MIXED_MODES))
    assert result.failed and "dind_daemon_config must be an absolute path on the host" in result["msg"]
    assert config.read_bytes() == before
