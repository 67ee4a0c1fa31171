"""buildkitd_config: a fleet node's buildkitd.toml written from data, escaped, checked against BuildKit 0.13, and
rewritten only when its settings change (the buildkit role restarts the daemon on a change)."""
from __future__ import annotations

import os
import re
import stat
import tomllib

import pytest
# The test stack pins tomlkit, which buildkitd_config renders with: missing, these tests fail rather than skip.
import tomlkit  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import BuildxError, buildkitd_document


KEEP = 10000000000
# What roles/buildkit/templates/buildkitd.toml.j2 wrote for {"localhost:5000": {"http": true}}, before this module.
TEMPLATE_OUTPUT = """# Ansible managed
# BuildKit of build-01, written by the multiarch.buildhost.buildkit role.
[worker.oci]
  gc = true
  gckeepstorage = 10000000000

[registry."localhost:5000"]
  http = true
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "buildkitd.toml"
    path.write_text(TEMPLATE_OUTPUT)
    os.chmod(path, 0o640)
    return path


def args(path, registries, **extra):
    return dict(dict(path=str(path), gc_keep_storage=KEEP, registries=registries), **extra)


def test_registry_names_and_table_values_are_escaped_and_read_back_as_given(run_module, config):
    # The template wrote the name between quotes as it stood and each value with to_json: a name holding '"' or '\'
    # broke the file (or added keys), and a list of tables was written as JSON objects, which TOML has not.
    registries = {
        'evil"] \\ [x': {"http": True},
        "secure.example.com": {"ca": ["/etc/buildkit/certs/ca.pem"], "mirrors": ["m.example.com/proxy"],
                               "keypair": [{"key": "/k.pem", "cert": "/c.pem"}]},
    }
    result = run_module("buildkitd_config", args(config, registries))
    assert result["changed"] is True and not result.failed
    document = tomllib.loads(config.read_text())
    assert document == {"worker": {"oci": {"gc": True, "gckeepstorage": KEEP}}, "registry": registries}
    assert result["config"] == document


def test_the_template_s_file_with_the_same_settings_is_left_alone(run_module, config):
    # No rewrite and no change: the role restarts BuildKit when this task changes, and the upgrade must not.
    result = run_module("buildkitd_config", args(config, {"localhost:5000": {"http": True}}))
    assert result["changed"] is False and result["restart_required"] is False
    assert config.read_text() == TEMPLATE_OUTPUT


def test_a_change_is_written_once_keeping_the_mode(run_module, config):
    wanted = args(config, {"localhost:5000": {"http": True}, "docker.io": {"mirrors": ["mirror.lan"]}})
    first = run_module("buildkitd_config", wanted)
    assert first["changed"] is True and first["restart_required"] is True
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o640
    written = config.read_text()
    assert '[registry."docker.io"]' in written and "[worker.oci]" in written
    assert run_module("buildkitd_config", wanted)["changed"] is False
    assert config.read_text() == written


def test_check_mode_predicts_and_diff_shows_both_files(run_module, config):
    result = run_module("buildkitd_config", args(config, {}, gc_keep_storage=5), check_mode=True, diff=True)
    assert result["changed"] is True
    assert config.read_text() == TEMPLATE_OUTPUT
    assert "localhost:5000" in result["diff"]["before"] and "gckeepstorage = 5" in result["diff"]["after"]


def test_a_missing_file_in_check_mode_is_a_change_and_nothing_is_made(run_module, tmp_path):
    path = tmp_path / "absent" / "buildkitd.toml"
    assert run_module("buildkitd_config", args(path, {}), check_mode=True)["changed"] is True
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(("registries", "message"), [
    ({"registry.lan": {"tlsconfig": {"ca": "/ca.pem"}}},
     r"registry 'registry.lan': unknown setting\(s\) 'tlsconfig'; BuildKit 0.13 knows mirrors, http, insecure, ca, keypair"),
    ({"registry.lan": "http"}, r"registry 'registry.lan': its settings must be a dict"),
    ({"registry.lan": {"http": "yes"}}, r"registry 'registry.lan': http must be true or false"),
    ({"registry.lan": {"mirrors": "mirror.lan"}}, r"registry 'registry.lan': mirrors must be a list of strings"),
    ({"registry.lan": {"ca": [1.5]}}, r"registry 'registry.lan': ca must be a list of strings"),
    ({"registry.lan": {"keypair": [{"key": "/k.pem"}]}}, r"registry 'registry.lan': keypair must be a list of \{key, cert\}"),
    ({"registry.lan": {"keypair": {"key": "/k.pem", "cert": "/c.pem"}}}, r"registry 'registry.lan': keypair must be"),
    ({"": {"http": True}}, r"registry name '' must be a non-empty string"),
])
def test_a_bad_registry_table_fails_naming_the_registry_and_writes_nothing(run_module, config, registries, message):
    result = run_module("buildkitd_config", args(config, registries))
    assert result.failed
    assert result["msg"].startswith("buildkitd_config: buildkit registry")
    assert re.search(message, result["msg"]), result["msg"]
    assert config.read_text() == TEMPLATE_OUTPUT


@pytest.mark.parametrize(("registries", "message"), [
    ({5000: {"http": True}}, r"registry name 5000 must be a non-empty string"),
    ({"registry.lan": {1: True}}, r"registry 'registry.lan': unknown setting\(s\) 1"),
    ({"registry.lan": {"mirrors": ["\ud800"]}}, r"registry 'registry.lan': mirrors must be a list of strings"),
])
def test_keys_and_strings_that_json_cannot_carry_are_refused_too(registries, message):
    # A module's arguments arrive as JSON, whose keys are strings; a direct caller of the planner has no such guard.
    with pytest.raises(BuildxError, match=message):
        buildkitd_document(registries, KEEP)


@pytest.mark.parametrize("keep", [-1, 2 ** 63, True])
def test_gc_keep_storage_must_be_a_byte_count_buildkit_can_read(keep):
    with pytest.raises(BuildxError, match="gc_keep_storage must be a number of bytes"):
        buildkitd_document({}, keep)


def test_a_missing_directory_is_named(run_module, tmp_path):
    path = tmp_path / "absent" / "buildkitd.toml"
    result = run_module("buildkitd_config", args(path, {}))
    assert result.failed and str(tmp_path / "absent") in result["msg"]


def test_the_build_history_is_bounded_when_asked():
    from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import render_buildkitd_config
    document = buildkitd_document({}, 1000, "24h", 20)
    assert document["history"] == {"maxAge": "24h", "maxEntries": 20}
    assert "[history]" in render_buildkitd_config(document)
    assert "history" not in buildkitd_document({}, 1000)


@pytest.mark.parametrize("age, entries, message", [
    ("1 day", None, "history_max_age must be a duration"), (86400, None, "history_max_age must be a duration"),
    (None, 0, "history_max_entries must be a whole number"), (None, True, "history_max_entries must be a whole number")])
def test_a_bad_history_bound_is_refused(age, entries, message):
    with pytest.raises(BuildxError, match=message):
        buildkitd_document({}, 1000, age, entries)


def test_the_bridge_network_goes_under_worker_oci(run_module, config):
    # Two daemons in the host's network namespace: each its own bridge and address pool, as BuildKit 0.13 reads them.
    from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import render_buildkitd_config
    document = buildkitd_document({}, KEEP, bridge_name="buildkit1", bridge_subnet="10.11.0.0/16")
    assert document["worker"]["oci"] == {"gc": True, "gckeepstorage": KEEP, "bridgeName": "buildkit1",
                                         "bridgeSubnet": "10.11.0.0/16"}
    assert tomllib.loads(render_buildkitd_config(document)) == document
    result = run_module("buildkitd_config", args(config, {}, bridge_name="buildkit1", bridge_subnet="10.11.0.0/16"))
    assert result["changed"] is True and result["restart_required"] is True
    assert tomllib.loads(config.read_text())["worker"]["oci"]["bridgeSubnet"] == "10.11.0.0/16"


def test_an_unset_bridge_leaves_the_keys_out_and_the_file_alone(run_module, config):
    assert buildkitd_document({}, KEEP)["worker"]["oci"] == {"gc": True, "gckeepstorage": KEEP}
    assert "bridgeName" not in buildkitd_document({}, KEEP, bridge_subnet="10.11.0.0/16")["worker"]["oci"]
    assert "bridgeSubnet" not in buildkitd_document({}, KEEP, bridge_name="buildkit1")["worker"]["oci"]
    # The file written before these options existed holds the same settings: no rewrite, so no restart.
    result = run_module("buildkitd_config", args(config, {"localhost:5000": {"http": True}}))
    assert result["changed"] is False and result["restart_required"] is False


@pytest.mark.parametrize("name", ["b" * 16, "a b", "", "..", ".", "bk/0", "bk:0", "buildkit1\n", 1])
def test_a_bad_bridge_name_is_refused_naming_the_option(name):
    with pytest.raises(BuildxError, match="bridge_name must be a network interface name") as raised:
        buildkitd_document({}, KEEP, bridge_name=name)
    assert repr(name) in str(raised.value)


@pytest.mark.parametrize("name", ["b" * 15, "b", "buildkit_1.a-b", "..."])
def test_a_good_bridge_name_is_kept(name):
    assert buildkitd_document({}, KEEP, bridge_name=name)["worker"]["oci"]["bridgeName"] == name


@pytest.mark.parametrize("subnet", ["10.11.0.1/16", "10.11.0.0/30", "10.0.0.0/7", "::1/64", "fd00::/64", "x", 10, "10.11.0.0",
                                    "10.11.0.0/255.255.0.0", "10.11.0.0/016", " 10.11.0.0/16", True])
def test_a_bad_bridge_subnet_is_refused_naming_the_option(subnet):
    with pytest.raises(BuildxError, match="bridge_subnet must be an IPv4 network in CIDR form") as raised:
        buildkitd_document({}, KEEP, bridge_subnet=subnet)
    assert repr(subnet) in str(raised.value)


@pytest.mark.parametrize("subnet", ["10.0.0.0/8", "172.30.0.0/16", "192.168.77.16/28"])
def test_a_good_bridge_subnet_is_kept(subnet):
    assert buildkitd_document({}, KEEP, bridge_subnet=subnet)["worker"]["oci"]["bridgeSubnet"] == subnet


def test_a_bad_bridge_setting_fails_the_task_and_writes_nothing(run_module, config):
    result = run_module("buildkitd_config", args(config, {}, bridge_subnet="10.11.0.1/16"))
    assert result.failed and result["msg"].startswith("buildkitd_config: bridge_subnet must be")
    assert config.read_text() == TEMPLATE_OUTPUT
