"""Planning config.toml over a runner's whole life: per-runner settings, removal by name, a reset token."""
from __future__ import annotations

import os
import tomllib
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import (
    RunnerConfigError,
    check_docker_settings,
    check_runner_settings,
    parse,
    plan_runner_update,
    summarize,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "gitlab-runner")
OLD_TOKEN = "glrt-t1_SECRETdockerRunnerToken"
NEW_TOKEN = "glrt-t1_ROTATEDdockerRunnerToken"
ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


def fixture(name: str = "several-runners.toml") -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


def plan(content: bytes, **settings):
    return plan_runner_update("/etc/gitlab-runner/config.toml", FileState(exists=True, content=content, mode=0o600),
                              settings)


def runners(content: bytes) -> dict:
    return {r["name"]: r for r in tomllib.loads(content.decode()).get("runners", [])}


# ---------------------------------------------------------------- per-runner settings


def test_limit_request_concurrency_and_network_mtu_go_to_the_named_runner_only():
    result = plan(fixture(), runner_settings={"multiarch-docker": {"limit": 4, "request_concurrency": 2,
                                                                   "docker": {"network_mtu": 1360}}})
    after = runners(result.content)
    assert after["multiarch-docker"]["limit"] == 4 and after["multiarch-docker"]["request_concurrency"] == 2
    assert after["multiarch-docker"]["docker"]["network_mtu"] == 1360
    assert "limit" not in after["docker-without-table"] and "docker" not in after["docker-without-table"]
    assert "limit" not in after["multiarch-docker"]["docker"], "a runner key must not land in [runners.docker]"
    assert result.details.changed_runners == ["multiarch-docker"]


def test_per_runner_settings_twice_change_nothing_and_duplicate_nothing():
    wanted = {"runner_settings": {"multiarch-docker": {"limit": 4, "request_concurrency": 2, "docker": {"network_mtu": 1360}},
                                  "shell-runner": {"limit": 1}},
              "privileged": True, "volumes": ["/certs/client"]}
    once = plan(fixture(), **wanted)
    twice = plan(once.content, **wanted)
    assert once.changed and not twice.changed and twice.content == once.content
    assert twice.details.changed_runners == []
    text = once.content.decode()
    assert text.count("limit = ") == 2 and text.count("network_mtu") == 1 and text.count("request_concurrency") == 1


def test_environment_entries_are_merged_by_name_and_settle():
    first = plan(fixture(), runner_settings={"multiarch-docker": {"environment": ["BUILDKIT_HOST=tcp://old:1234", "KEEP=1"]}})
    wanted = {"runner_settings": {"multiarch-docker": {"environment": ["BUILDKIT_HOST=tcp://b-01:1234", "NEW=x=y"]}}}
    merged = plan(first.content, **wanted)
    again = plan(merged.content, **wanted)
    assert runners(merged.content)["multiarch-docker"]["environment"] == [
        "FF_NETWORK_PER_BUILD=true", "BUILDKIT_HOST=tcp://b-01:1234", "KEEP=1", "NEW=x=y"]  # the fixture's own first
    assert merged.changed and not again.changed and again.content == merged.content
    assert "environment" not in runners(merged.content)["shell-runner"]


REMOTE = {"environment": ["BUILDKIT_HOST=tcp://b-01:1234", "BUILDKIT_TLS_DIR=/buildkit/client"],
          "docker": {"privileged": False, "volumes": ["/etc/mbh/client:/buildkit/client:ro"]}}
BACK_TO_DIND = {"absent_environment": ["BUILDKIT_HOST", "BUILDKIT_TLS_DIR", "BUILDKIT_SERVERNAME"],
                "absent_volumes": ["/buildkit/client"], "docker": {"privileged": True}}


def test_a_runner_switched_back_loses_every_entry_of_the_names_and_every_mount_at_the_path_and_settles():
    remote = plan(fixture(), volumes=["/certs/client"], runner_settings={"multiarch-docker": REMOTE})
    # Whatever values they were written with (another daemon, another client directory, an anonymous volume).
    earlier = remote.content.replace(
        b'"BUILDKIT_TLS_DIR=/buildkit/client"', b'"BUILDKIT_TLS_DIR=/buildkit/client", "BUILDKIT_HOST=tcp://older:1"').replace(
        b'"/etc/mbh/client:/buildkit/client:ro"', b'"/etc/mbh/client:/buildkit/client:ro", "/buildkit/client", "/srv/old:/buildkit/client"')
    wanted = {"volumes": ["/certs/client"], "runner_settings": {"multiarch-docker": BACK_TO_DIND}}
    back = plan(earlier, **wanted)
    after = runners(back.content)["multiarch-docker"]
    assert after["environment"] == ["FF_NETWORK_PER_BUILD=true"]  # the fixture's own entry stays
    assert [v for v in after["docker"]["volumes"] if "/buildkit/client" in v] == []
    assert "/certs/client" in after["docker"]["volumes"] and after["docker"]["privileged"] is True
    assert back.details.changed_runners == ["multiarch-docker"]
    again = plan(back.content, **wanted)
    assert not again.changed and again.details.changed_runners == []


def test_an_environment_that_held_only_removed_entries_goes_with_them():
    remote = plan(fixture(), runner_settings={"docker-without-table": {"environment": ["BUILDKIT_HOST=tcp://b-01:1234"]}})
    assert runners(remote.content)["docker-without-table"]["environment"] == ["BUILDKIT_HOST=tcp://b-01:1234"]
    back = plan(remote.content, runner_settings={"docker-without-table": {"absent_environment": ["BUILDKIT_HOST"]}})
    assert "environment" not in runners(back.content)["docker-without-table"]


def test_absent_entries_a_runner_never_had_change_nothing():
    result = plan(fixture(), runner_settings={"multiarch-docker": {"absent_environment": ["BUILDKIT_HOST"],
                                                                   "absent_volumes": ["/buildkit/client"]}})
    assert not result.changed and result.content == fixture() and result.details.changed_runners == []


def test_a_volume_the_shared_option_ensures_is_never_removed():
    wanted = {"volumes": ["/certs/client"], "runner_settings": {"multiarch-docker": {"absent_volumes": ["/certs/client"]}}}
    once = plan(fixture(), **wanted)
    assert "/certs/client" in runners(once.content)["multiarch-docker"]["docker"]["volumes"]
    again = plan(once.content, **wanted)
    assert again.changed is False and again.details.changed_runners == []


@pytest.mark.parametrize(("own", "message"), [
    ({"environment": ["A=1"], "absent_environment": ["A"]}, "both to have and not to have A"),
    ({"docker": {"volumes": ["/h:/v:ro"]}, "absent_volumes": ["/v"]}, "both to mount /h:/v:ro and to mount nothing there"),
    ({"absent_volumes": "/v"}, "absent_volumes must be a list of absolute paths"),
    ({"absent_volumes": ["/h:/v"]}, "absent_volumes must be a list of absolute paths"),
    ({"absent_environment": ["A=1"]}, "absent_environment must be a list of variable names"),
])
def test_contradictory_or_malformed_absent_entries_are_refused(own, message):
    with pytest.raises(RunnerConfigError, match=message):
        check_runner_settings({"r": own})


@pytest.mark.parametrize("environment", [["NOEQUALS"], ["1BAD=x"], "A=1", [3]])
def test_an_environment_that_is_not_name_value_strings_is_refused(environment):
    with pytest.raises(RunnerConfigError, match="NAME=value"):
        plan(fixture(), runner_settings={"multiarch-docker": {"environment": environment}})


def test_a_secret_in_a_malformed_environment_entry_is_never_shown():
    with pytest.raises(RunnerConfigError) as refused:
        plan(fixture(), runner_settings={"multiarch-docker": {"environment": ["TOKEN s3cr3t-value"]}})
    assert "s3cr3t-value" not in str(refused.value)


def test_new_keys_line_up_with_their_neighbours():
    text = plan(fixture(), runner_settings={"multiarch-docker": {"limit": 4, "docker": {"network_mtu": 1360}}}).content.decode()
    assert "\n  limit = 4\n" in text and "\n    network_mtu = 1360\n" in text


def test_a_runners_own_docker_keys_win_over_the_shared_ones():
    result = plan(fixture(), docker={"shm_size": 0, "tls_verify": False},
                  runner_settings={"docker-without-table": {"docker": {"shm_size": 268435456}}})
    after = runners(result.content)
    assert after["docker-without-table"]["docker"]["shm_size"] == 268435456
    assert after["multiarch-docker"]["docker"]["shm_size"] == 0
    assert plan(result.content, docker={"shm_size": 0, "tls_verify": False},
                runner_settings={"docker-without-table": {"docker": {"shm_size": 268435456}}}).changed is False


def test_a_volume_list_set_for_one_runner_still_gets_the_ensured_volumes_and_settles():
    wanted = {"volumes": ["/certs/client"], "runner_settings": {"multiarch-docker": {"docker": {"volumes": ["/cache", "/builds"]}}}}
    once = plan(fixture(), **wanted)
    assert runners(once.content)["multiarch-docker"]["docker"]["volumes"] == ["/cache", "/builds", "/certs/client"]
    assert plan(once.content, **wanted).changed is False


@pytest.mark.parametrize(
    ("given", "written"),
    [(1360, 1360), ("1360", 1360)],
    ids=["an integer", "an integral string, as -e gives it"],
)
def test_network_mtu_is_written_as_a_toml_integer(given, written):
    after = runners(plan(fixture(), runner_settings={"multiarch-docker": {"docker": {"network_mtu": given}}}).content)
    value = after["multiarch-docker"]["docker"]["network_mtu"]
    assert value == written and isinstance(value, int) and not isinstance(value, bool)


def test_a_network_mtu_written_as_a_string_is_corrected():
    content = fixture().replace(b"    shm_size = 0\n", b'    shm_size = 0\n    network_mtu = "1360"\n')
    result = plan(content, runner_settings={"multiarch-docker": {"docker": {"network_mtu": 1360}}})
    assert result.changed and runners(result.content)["multiarch-docker"]["docker"]["network_mtu"] == 1360


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"limit": True}, "runner_settings['multiarch-docker'].limit must be an integer, not bool True"),
        ({"limit": -1}, "limit must be at least 0"),
        ({"limit": "four"}, "limit must be an integer, not the string 'four'"),
        ({"request_concurrency": 0}, "request_concurrency must be at least 1"),
        ({"docker": {"network_mtu": True}}, "docker.network_mtu must be an integer, not bool True"),
        ({"docker": {"network_mtu": 1360.5}}, "network_mtu must be an integer"),
        ({"docker": {"privileged": 1}}, "docker.privileged must be true or false, not int 1"),
        ({"docker": {"tls_verify": "yes"}}, "tls_verify must be true or false"),
        ({"docker": "network_mtu=1360"}, "must be a dictionary of [runners.docker] keys"),
        ({"docker": {"volumes": "/cache"}}, "volumes must be a list of strings"),
        ({"network_mtu": 1360}, "has network_mtu, which this option does not set"),
    ],
)
def test_values_of_the_wrong_type_are_refused_before_anything_changes(settings, message):
    with pytest.raises(RunnerConfigError) as failure:
        plan(fixture(), runner_settings={"multiarch-docker": settings})
    assert message in str(failure.value)
    assert isinstance(failure.value, BuildhostError)


def test_boolean_keys_take_true_and_false_as_toml_spells_them():
    assert check_docker_settings("docker", {"privileged": "true", "tls_verify": "False", "image": "docker:27"}) == {
        "privileged": True, "tls_verify": False, "image": "docker:27"}


def test_one_is_not_true_even_in_the_shared_docker_option():
    with pytest.raises(RunnerConfigError, match="docker.privileged must be true or false, not int 1"):
        plan(fixture(), docker={"privileged": 1})


def test_check_runner_settings_leaves_out_what_is_not_given():
    assert check_runner_settings({"a": {"limit": "2", "docker": {}}, "b": {}}) == {"a": {"limit": 2}, "b": {}}


def test_settings_for_a_runner_the_file_does_not_hold_are_refused():
    with pytest.raises(RunnerConfigError) as failure:
        plan(fixture(), runner_settings={"build-02": {"limit": 1}})
    assert "/etc/gitlab-runner/config.toml has no runner named build-02" in str(failure.value)
    assert "multiarch-docker" in str(failure.value)


# ---------------------------------------------------------------- removal by name


def test_absent_runners_are_removed_and_every_other_runner_and_comment_stays():
    result = plan(fixture(), absent_runners=["shell-runner"])
    assert list(runners(result.content)) == ["multiarch-docker", "docker-without-table"]
    assert result.details.removed_runners == ["shell-runner"]
    text = result.content.decode()
    assert "# Managed by hand on build-01 -- keep this comment" in text and "# the cache volume must stay" in text
    assert runners(result.content)["multiarch-docker"]["cache"]["s3"]["BucketName"] == "runner-cache"


def test_removing_a_runner_that_is_not_there_changes_nothing():
    result = plan(fixture(), absent_runners=["long-gone"])
    assert result.changed is False and result.details.removed_runners == []


def test_runners_that_are_not_named_are_never_removed():
    result = plan(fixture(), absent_runners=["multiarch"], privileged=True)  # a prefix of a name is not the name
    assert list(runners(result.content)) == ["multiarch-docker", "shell-runner", "docker-without-table"]


def test_every_entry_of_a_duplicated_name_is_removed():
    content = fixture() + b'\n[[runners]]\n  name = "shell-runner"\n  token = "glrt-x"\n  executor = "shell"\n'
    result = plan(content, absent_runners=["shell-runner"])
    assert list(runners(result.content)) == ["multiarch-docker", "docker-without-table"]
    assert result.details.removed_runners == ["shell-runner"]


def test_removing_every_runner_leaves_a_valid_file_without_runners():
    result = plan(fixture(), absent_runners=["multiarch-docker", "shell-runner", "docker-without-table"])
    document = tomllib.loads(result.content.decode())
    assert "runners" not in document and document["concurrent"] == 2
    assert result.details.runner_names == []


def test_removed_runners_are_not_configured_afterwards():
    result = plan(fixture(), absent_runners=["docker-without-table"], privileged=True)
    assert result.details.changed_runners == ["multiarch-docker"]


@pytest.mark.parametrize("option", ["runners", "runner_settings", "runner_tokens"])
def test_a_runner_named_both_to_remove_and_to_configure_is_refused(option):
    value = {"runners": ["shell-runner"], "runner_settings": {"shell-runner": {"limit": 1}},
             "runner_tokens": {"shell-runner": NEW_TOKEN}}[option]
    with pytest.raises(RunnerConfigError, match="shell-runner cannot be both removed"):
        plan(fixture(), absent_runners=["shell-runner"], **{option: value})


# ---------------------------------------------------------------- a reset token


def test_a_new_token_is_written_with_its_times_unknown():
    result = plan(fixture(), runner_tokens={"multiarch-docker": NEW_TOKEN})
    runner = runners(result.content)["multiarch-docker"]
    assert result.changed and runner["token"] == NEW_TOKEN
    assert runner["token_obtained_at"] == ZERO_TIME and runner["token_expires_at"] == ZERO_TIME
    assert result.details.token_updated_runners == ["multiarch-docker"]
    assert result.details.changed_runners == ["multiarch-docker"]
    assert runners(result.content)["docker-without-table"]["token"] == "glrt-t3_SECRETbareRunnerToken"


def test_the_same_token_changes_nothing_not_even_its_times():
    result = plan(fixture(), runner_tokens={"multiarch-docker": OLD_TOKEN})
    assert result.changed is False and result.content == fixture()
    assert result.details.token_updated_runners == []


def test_a_written_token_settles():
    once = plan(fixture(), runner_tokens={"multiarch-docker": NEW_TOKEN})
    assert plan(once.content, runner_tokens={"multiarch-docker": NEW_TOKEN}).changed is False


def test_a_token_change_shows_in_the_diff_without_either_token():
    result = plan(fixture(), runner_tokens={"multiarch-docker": NEW_TOKEN})
    for shown in (result.shown_before, result.shown_after):
        assert OLD_TOKEN not in shown and NEW_TOKEN not in shown
    assert 'token = "******** (new token)"' in result.shown_after
    assert 'token = "********"' in result.shown_before
    assert {OLD_TOKEN, NEW_TOKEN} <= result.details.secrets


def test_the_given_token_is_a_secret_even_when_nothing_changes():
    assert OLD_TOKEN in plan(fixture(), runner_tokens={"multiarch-docker": OLD_TOKEN}).details.secrets


def test_a_token_for_a_duplicated_name_is_refused():
    content = fixture() + b'\n[[runners]]\n  name = "multiarch-docker"\n  token = "glrt-x"\n  executor = "docker"\n'
    with pytest.raises(RunnerConfigError, match="has 2 runners named multiarch-docker"):
        plan(content, runner_tokens={"multiarch-docker": NEW_TOKEN})


@pytest.mark.parametrize("token", ["", "   ", 42, None])
def test_an_empty_token_is_refused_without_showing_it(token):
    with pytest.raises(RunnerConfigError) as failure:
        plan(fixture(), runner_tokens={"multiarch-docker": token})
    assert "runner_tokens['multiarch-docker'] must be a runner authentication token" in str(failure.value)


def test_a_token_for_a_runner_the_file_does_not_hold_is_refused():
    with pytest.raises(RunnerConfigError, match="has no runner named build-02"):
        plan(fixture(), runner_tokens={"build-02": NEW_TOKEN})


# ---------------------------------------------------------------- all of it at once


def test_the_whole_life_in_one_plan_matches_the_expected_document():
    result = plan(fixture(), privileged=True, allowed_privileged_services=["docker:*-dind"], volumes=["/certs/client"],
                  concurrent=4, absent_runners=["shell-runner"], runner_tokens={"multiarch-docker": NEW_TOKEN},
                  runner_settings={"multiarch-docker": {"limit": 4, "request_concurrency": 2, "docker": {"network_mtu": 1360}},
                                   "docker-without-table": {"limit": 1}})
    expected = tomllib.loads(fixture().decode())
    kept = {r["name"]: r for r in expected["runners"]}
    docker_runner, bare = kept["multiarch-docker"], kept["docker-without-table"]
    docker_runner.update(token=NEW_TOKEN, token_obtained_at=ZERO_TIME, token_expires_at=ZERO_TIME, limit=4, request_concurrency=2)
    docker_runner["docker"].update(privileged=True, allowed_privileged_services=["docker:*-dind"],
                                   volumes=["/cache", "/certs/client"], network_mtu=1360)
    bare.update(limit=1, docker={"privileged": True, "allowed_privileged_services": ["docker:*-dind"], "volumes": ["/certs/client"]})
    expected.update(concurrent=4, runners=[docker_runner, bare])
    assert tomllib.loads(result.content.decode()) == expected


names = st.sampled_from(["multiarch-docker", "shell-runner", "docker-without-table"])


@settings(max_examples=60, deadline=None)
@given(absent=st.lists(names, max_size=3, unique=True),
       limits=st.dictionaries(names, st.integers(min_value=0, max_value=8), max_size=3),
       mtu=st.one_of(st.none(), st.integers(min_value=576, max_value=9000)),
       rotate=st.booleans())
def test_any_lifecycle_plan_twice_equals_once_and_removes_only_what_is_named(absent, limits, mtu, rotate):
    per_runner = {name: {"limit": limit} for name, limit in limits.items() if name not in absent}
    if mtu is not None and "multiarch-docker" not in absent:
        per_runner.setdefault("multiarch-docker", {})["docker"] = {"network_mtu": mtu}
    tokens = {"multiarch-docker": NEW_TOKEN} if rotate and "multiarch-docker" not in absent else {}
    wanted = {"absent_runners": absent, "runner_settings": per_runner, "runner_tokens": tokens, "privileged": True}
    once = plan(fixture(), **wanted)
    twice = plan(once.content, **wanted)
    assert twice.changed is False and twice.content == once.content
    assert list(runners(once.content)) == [n for n in ["multiarch-docker", "shell-runner", "docker-without-table"]
                                           if n not in absent]


# ---------------------------------------------------------------- what the reader returns


def test_a_token_or_password_in_a_runner_url_is_masked_in_the_summary():
    text = ('[[runners]]\n  name = "token-url"\n  url = "https://glpat-abcdef123456@gitlab.example.com/"\n  executor = "docker"\n'
            '[[runners]]\n  name = "password-url"\n  url = "https://ci:pa/ss@word@gitlab.example.com"\n  executor = "shell"\n'
            '[[runners]]\n  name = "plain-url"\n  url = "https://gitlab.example.com"\n  executor = "shell"\n')
    summaries = summarize(parse("config.toml", text.encode()))
    assert [s.url for s in summaries] == ["https://********@gitlab.example.com/", "https://********@gitlab.example.com",
                                          "https://gitlab.example.com"]
    assert [s.name for s in summaries] == ["token-url", "password-url", "plain-url"]


def test_shared_job_variables_reach_every_selected_runner_before_its_own_and_their_passwords_are_masked():
    proxy = ["HTTP_PROXY=http://ci:pr0xy-Pa55@10.0.0.9:3128", "NO_PROXY=localhost"]
    wanted = {"environment": proxy, "runner_settings": {"multiarch-docker": {"environment": ["NO_PROXY=localhost,b-01"]}}}
    once = plan(fixture(), **wanted)
    again = plan(once.content, **wanted)
    after = runners(once.content)
    selected = [name for name, runner in after.items() if "HTTP_PROXY=http://ci:pr0xy-Pa55@10.0.0.9:3128" in runner.get("environment", [])]
    assert "multiarch-docker" in selected and len(selected) >= 2, after
    # The runner's own entry of a name wins over the shared one.
    assert "NO_PROXY=localhost,b-01" in after["multiarch-docker"]["environment"]
    assert "NO_PROXY=localhost" not in after["multiarch-docker"]["environment"]
    assert once.changed and not again.changed and again.content == once.content
    # The password in the URL is one of the values every output of the module masks.
    assert any("pr0xy-Pa55" in secret for secret in once.details.secrets)
    with pytest.raises(RunnerConfigError, match="not NAME=value"):
        plan(fixture(), environment=["not a variable"])
