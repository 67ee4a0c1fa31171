"""gitlab_runner_config against config.toml documents in the shapes GitLab documents."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tomllib

import pytest

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
