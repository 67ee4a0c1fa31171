from __future__ import annotations

import json
import os
import pwd
import stat

import pytest

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def config_path(tmp_path):
    return str(tmp_path / "home" / ".docker" / "config.json")


def test_creates_private_file_and_directory_for_the_owner(run_module, config_path):
    result = run_module("docker_cli_config", {"owner": "nobody", "path": config_path})
    assert result["changed"] is True
    assert json.load(open(config_path)) == {"experimental": "enabled"}
    file_stat, dir_stat = os.stat(config_path), os.stat(os.path.dirname(config_path))
    assert stat.S_IMODE(file_stat.st_mode) == 0o600
    assert stat.S_IMODE(dir_stat.st_mode) == 0o700
    assert (file_stat.st_uid, dir_stat.st_uid) == (NOBODY.pw_uid, NOBODY.pw_uid)


def test_second_run_changes_nothing(run_module, config_path):
    run_module("docker_cli_config", {"owner": "nobody", "path": config_path})
    again = run_module("docker_cli_config", {"owner": "nobody", "path": config_path})
    assert again["changed"] is False


def test_experimental_is_the_string_enabled_or_disabled(run_module, config_path):
    run_module("docker_cli_config", {"path": config_path, "experimental": False})
    assert json.load(open(config_path))["experimental"] == "disabled"


def test_other_keys_and_credentials_survive_but_are_never_shown(run_module, config_path):
    os.makedirs(os.path.dirname(config_path))
    original = {"auths": {"registry.example": {"auth": "dXNlcjpzM2NyM3Q="}}, "credsStore": "pass", "proxies": {"default": {"httpProxy": "http://p:3128"}}}
    with open(config_path, "w") as handle:
        json.dump(original, handle)
    result = run_module("docker_cli_config", {"path": config_path, "settings": {"proxies": {"default": {"noProxy": "localhost"}}}}, diff=True)
    written = json.load(open(config_path))
    assert written["auths"] == original["auths"]
    assert written["credsStore"] == "pass"
    assert written["proxies"]["default"] == {"httpProxy": "http://p:3128", "noProxy": "localhost"}
    assert "dXNlcjpzM2NyM3Q=" not in json.dumps(result)
    assert result["config"]["auths"]["registry.example"]["auth"] == "********"
    assert "experimental" in result["diff"]["after"]


def test_credentials_passed_as_settings_are_masked_in_the_result(run_module, config_path):
    secret = "bXk6cGFzc3dvcmQ="
    result = run_module("docker_cli_config", {"path": config_path, "settings": {"auths": {"r": {"auth": secret}}}})
    assert secret not in json.dumps(result)
    assert json.load(open(config_path))["auths"]["r"]["auth"] == secret


def test_check_mode_predicts_and_writes_nothing(run_module, config_path):
    result = run_module("docker_cli_config", {"path": config_path}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert not os.path.exists(os.path.dirname(config_path))
    assert '"experimental": "enabled"' in result["diff"]["after"]


def test_an_open_mode_is_narrowed_to_the_owner(run_module, config_path):
    os.makedirs(os.path.dirname(config_path))
    with open(config_path, "w") as handle:
        handle.write('{"experimental": "enabled"}')
    os.chmod(config_path, 0o644)
    result = run_module("docker_cli_config", {"path": config_path, "owner": "root"})
    assert result["changed"] is True
    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o600


def test_backup_keeps_the_previous_file(run_module, config_path):
    os.makedirs(os.path.dirname(config_path))
    with open(config_path, "w") as handle:
        handle.write('{"credsStore": "pass"}')
    result = run_module("docker_cli_config", {"path": config_path, "backup": True})
    assert open(result["backup_file"]).read() == '{"credsStore": "pass"}'


def test_remove_keys_drops_only_what_was_named(run_module, config_path):
    os.makedirs(os.path.dirname(config_path))
    with open(config_path, "w") as handle:
        handle.write('{"credsStore": "pass", "plugins": {"a": {"x": 1}, "b": 2}}')
    run_module("docker_cli_config", {"path": config_path, "remove_keys": ["credsStore", "plugins.a"]})
    assert json.load(open(config_path)) == {"plugins": {"b": 2}, "experimental": "enabled"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"auths": {', "is not valid JSON"),
        (b"[]", "must hold a JSON object"),
        (b'\xef\xbb\xbf{"a": 1}', "byte-order mark"),
    ],
)
def test_malformed_config_json_is_left_untouched(run_module, config_path, content, message):
    os.makedirs(os.path.dirname(config_path))
    with open(config_path, "wb") as handle:
        handle.write(content)
    result = run_module("docker_cli_config", {"path": config_path})
    assert result.failed
    assert config_path in result["msg"] and message in result["msg"]
    assert open(config_path, "rb").read() == content


def test_unknown_owner_is_refused_by_name(run_module, config_path):
    result = run_module("docker_cli_config", {"path": config_path, "owner": "no-such-user-here"})
    assert result.failed
    assert "no-such-user-here" in result["msg"]


def test_symlinked_config_is_refused(run_module, tmp_path):
    real = tmp_path / "real.json"
    real.write_text('{"a": 1}')
    link = tmp_path / "config.json"
    link.symlink_to(real)
    result = run_module("docker_cli_config", {"path": str(link)})
    assert result.failed and "symbolic link" in result["msg"]
    assert os.path.islink(link) and real.read_text() == '{"a": 1}'
