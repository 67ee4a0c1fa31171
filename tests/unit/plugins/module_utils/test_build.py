from __future__ import annotations

import json

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import mask
from ansible_collections.multiarch.buildhost.plugins.module_utils._build import (
    build_command,
    build_secret_values,
    default_log_file,
    cached_steps,
    digest_from,
    failure_summary,
    parse_metadata,
    secret_values,
    registry_server_error,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import describe_index

# From a real failed build on the lab (buildx 0.13.1, --progress plain), shortened.
FAILED_LOG = """#14 [base 2/2] RUN ["/bin/busybox", "--install", "-s", "/bin"]
#14 0.394 exec /bin/busybox: exec format error
#14 ERROR: process "/bin/busybox --install -s /bin" did not complete successfully: exit code: 1
------
 > [base 2/2] RUN ["/bin/busybox", "--install", "-s", "/bin"]:
0.394 exec /bin/busybox: exec format error
------
ERROR: failed to solve: process "/bin/busybox --install -s /bin" did not complete successfully: exit code: 1
"""


def params(**overrides):
    base = dict(path="/srv/app", tags=["r/app:1"], platforms=["linux/amd64", "linux/arm64"], push=True)
    base.update(overrides)
    return base


def test_command_has_platforms_tags_cache_and_push_in_order():
    command = build_command(params(cache_from=["type=registry,ref=r/app:cache"], cache_to=["type=registry,ref=r/app:cache,mode=max"],
                                   build_args={"V": "1"}, labels={"org.opencontainers.image.source": "x"}, target="final",
                                   builder="multiarch", provenance=False), "/tmp/meta.json")
    argv = command.argv
    assert argv[:6] == ["buildx", "build", "--progress", "plain", "--metadata-file", "/tmp/meta.json"]
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert argv[argv.index("--builder") + 1] == "multiarch"
    assert argv[argv.index("--cache-from") + 1] == "type=registry,ref=r/app:cache"
    assert argv[argv.index("--cache-to") + 1] == "type=registry,ref=r/app:cache,mode=max"
    assert "--provenance=false" in argv and "--push" in argv
    assert argv[-1] == "/srv/app"


def test_inline_cache_is_the_build_arg_alone():
    argv = build_command(params(inline_cache=True, cache_from=["r/app:1"]), "/m").argv
    assert "BUILDKIT_INLINE_CACHE=1" in argv
    assert "--cache-to" not in argv  # a second inline export is refused by BuildKit ("duplicate cache exports")


def test_secret_values_travel_in_the_environment_only():
    command = build_command(params(secrets=[{"id": "npmrc", "value": "tok-123"}, {"id": "key", "src": "/etc/key"}]), "/m")
    assert "tok-123" not in " ".join(command.argv) and "tok-123" not in command.shown()
    assert "id=npmrc,env=MBH_BUILD_SECRET_0" in command.argv
    assert "id=key,src=/etc/key" in command.argv
    assert command.env == {"MBH_BUILD_SECRET_0": "tok-123"}


def test_secret_values_are_redacted_from_logs():
    assert mask("echo tok-123 > x", secret_values([{"id": "a", "value": "tok-123"}, {"id": "b", "src": "/k"}])) == "echo ******** > x"


def test_a_relative_dockerfile_is_found_in_the_build_context():
    assert "/srv/app/Dockerfile.cross" in build_command(params(path="/srv/app", dockerfile="Dockerfile.cross"), "/m").argv
    assert "/etc/Dockerfile" in build_command(params(path="/srv/app", dockerfile="/etc/Dockerfile"), "/m").argv


def test_the_default_log_file_is_known_before_the_build_and_named_after_the_tag():
    assert default_log_file(params(path="/srv/app", tags=["localhost:5000/team/app:1.2"])) == \
        "/var/log/multiarch-buildhost/localhost_5000_team_app_1.2.log"
    assert default_log_file(params(path="/srv/app/", tags=[])) == "/var/log/multiarch-buildhost/app.log"


def test_metadata_gives_the_digest():
    metadata = parse_metadata(json.dumps({"containerimage.digest": "sha256:abc", "image.name": "r/app:1"}))
    assert digest_from(metadata) == "sha256:abc"
    assert parse_metadata("") == {}


def test_failure_summary_names_the_step_and_the_error():
    summary = failure_summary(FAILED_LOG)
    assert 'failing step: [base 2/2] RUN ["/bin/busybox", "--install", "-s", "/bin"]' in summary
    assert "error: failed to solve" in summary
    assert "exec format error" in summary


def test_cached_steps_are_counted():
    assert cached_steps("#5 CACHED\n#6 [2/3] RUN x\n#6 CACHED\n#7 DONE 0.1s\n") == 2


def test_index_platforms_leave_attestations_out():
    raw = json.dumps({
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"digest": "sha256:a", "mediaType": "m", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "mediaType": "m", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:c", "mediaType": "m", "platform": {"os": "unknown", "architecture": "unknown"}},
        ],
    })
    described = describe_index(raw)
    assert described["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert len(described["manifests"]) == 3
    assert described["digest"].startswith("sha256:")


# Seen in the lab: the in-host registry answered the manifest HEAD of an idempotent re-push with a 500.
REGISTRY_500 = ("#21 ERROR: unexpected status from HEAD request to http://localhost:5000/v2/demo/app/manifests/latest: "
                "500 Internal Server Error\n")


def test_a_registry_server_error_is_recognised_and_other_failures_are_not():
    assert registry_server_error(REGISTRY_500)
    assert registry_server_error("failed commit on ref: unexpected HTTP status: 503 Service Unavailable\n")
    assert not registry_server_error(REGISTRY_500.replace("500 Internal Server Error", "401 Unauthorized"))
    assert not registry_server_error("ERROR: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3\n")
    assert not registry_server_error("#5 ERROR: failed to compute cache key: \"/app.sh\" not found: 500 files\n")


def test_build_arg_values_travel_in_the_environment_not_on_argv():
    command = build_command({"path": "/ctx", "build_args": {"NPM_TOKEN": "npm-tok-123", "VERSION": "1.2"}}, "/m.json")
    assert "npm-tok-123" not in " ".join(command.argv) and "1.2" not in command.argv
    assert command.argv[command.argv.index("NPM_TOKEN") - 1] == "--build-arg"
    assert command.env == {"NPM_TOKEN": "npm-tok-123", "VERSION": "1.2"}
    assert "npm-tok-123" not in command.shown()


def test_build_args_the_client_reads_itself_stay_on_argv_with_url_credentials_masked():
    command = build_command({"path": "/ctx", "build_args": {"PATH": "/x", "HTTPS_PROXY": "http://u:pr0xy@p.lan:3128",
                                                            "bad-name": "v"}}, "/m.json")
    assert command.env == {}
    assert "PATH=/x" in command.argv and "bad-name=v" in command.argv
    assert "pr0xy" not in command.shown() and "p.lan:3128" in command.shown()


def test_cache_credentials_move_into_the_variables_buildx_reads():
    params = {"path": "/ctx",
              "cache_from": ["type=s3,region=eu-west-1,bucket=b,access_key_id=AKIAX,secret_access_key=s3-secret/+k"],
              "cache_to": ["type=s3,region=eu-west-1,bucket=b,access_key_id=AKIAX,secret_access_key=s3-secret/+k,mode=max",
                           "type=gha,token=gha-token-1,url=http://cache.lan/"]}
    command = build_command(params, "/m.json")
    shown = command.shown()
    for secret in ("AKIAX", "s3-secret/+k", "gha-token-1"):
        assert secret not in shown and secret not in " ".join(command.argv)
    assert command.env == {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "s3-secret/+k",
                           "ACTIONS_RUNTIME_TOKEN": "gha-token-1"}
    assert "type=s3,region=eu-west-1,bucket=b,mode=max" in command.argv
    assert "type=gha,url=http://cache.lan/" in command.argv
    assert build_secret_values(params) >= {"AKIAX", "s3-secret/+k", "gha-token-1"}


def test_two_cache_entries_with_different_credentials_are_refused_by_name():
    params = {"path": "/ctx", "cache_from": ["type=s3,secret_access_key=one"], "cache_to": ["type=s3,secret_access_key=two"]}
    with pytest.raises(BuildhostError, match="cache_to: two type=s3 cache entries carry different secret_access_key"):
        build_command(params, "/m.json")


def test_secret_named_build_args_are_masked_and_plain_ones_are_not():
    values = build_secret_values({"build_args": {"API_TOKEN": "tok-4567", "VERSION": "1.2", "PASSWORD": "abc"},
                                  "secrets": [{"id": "a", "value": "sec-1"}]})
    assert values == {"tok-4567", "sec-1"}
