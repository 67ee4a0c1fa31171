"""cache_per_platform's planning: per-platform cache refs, each platform's build command and the index that joins them."""
from __future__ import annotations

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import build_command
from ansible_collections.multiarch.buildhost.plugins.module_utils._build_run import run_build
from ansible_collections.multiarch.buildhost.plugins.module_utils._build_split import (
    check_cache_per_platform,
    create_index_command,
    image_repository,
    platform_build_command,
    platform_cache_entry,
    platform_params,
    platform_ref,
    platform_suffix,
    splits,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

CACHE_TO = "type=registry,ref=registry.example:5000/team/app:buildcache,mode=max"


def params(**overrides):
    base = dict(path="/srv/app", tags=["registry.example:5000/team/app:1.2", "registry.example:5000/team/app:latest"],
                platforms=["linux/amd64", "linux/arm64"], push=True, builder="nodes", cache_per_platform=True,
                cache_from=["type=registry,ref=registry.example:5000/team/app:buildcache"], cache_to=[CACHE_TO])
    base.update(overrides)
    return base


def values(argv, flag):
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_the_platform_becomes_a_tag_suffix():
    assert platform_suffix("linux/arm64") == "linux-arm64"
    assert platform_suffix("linux/arm/v7") == "linux-arm-v7"


def test_the_platform_is_appended_to_the_cache_refs_tag():
    assert platform_ref("host/cache:buildcache", "linux/arm64") == "host/cache:buildcache-linux-arm64"
    assert platform_ref("registry.example:5000/team/app:bc", "linux/arm/v7") == "registry.example:5000/team/app:bc-linux-arm-v7"


def test_a_cache_ref_without_a_tag_is_latest_even_behind_a_registry_port():
    assert platform_ref("host/cache", "linux/amd64") == "host/cache:latest-linux-amd64"
    assert platform_ref("registry.example:5000/cache", "linux/amd64") == "registry.example:5000/cache:latest-linux-amd64"


def test_a_cache_ref_pinned_by_digest_or_too_long_is_refused():
    with pytest.raises(BuildhostError, match="pinned by digest"):
        platform_ref("host/cache@sha256:" + "a" * 64, "linux/amd64")
    with pytest.raises(BuildhostError, match="not a valid tag"):
        platform_ref("host/cache:" + "t" * 120, "linux/amd64")


def test_only_registry_cache_entries_get_a_per_platform_ref():
    assert platform_cache_entry(CACHE_TO, "linux/arm64") == \
        "type=registry,ref=registry.example:5000/team/app:buildcache-linux-arm64,mode=max"
    assert platform_cache_entry("mode=max,ref=host/c:x,type=registry", "linux/amd64") == "mode=max,ref=host/c:x-linux-amd64,type=registry"
    for kept in ("registry.example/team/app:1.2", "type=inline", "type=local,dest=/var/cache/app",
                 "type=registry,mode=max"):
        assert platform_cache_entry(kept, "linux/arm64") == kept


def test_a_quoted_cache_field_survives_the_rewrite():
    entry = 'type=registry,ref=host/c:x,"oci-mediatypes=true,image-manifest=true"'
    assert platform_cache_entry(entry, "linux/amd64") == 'type=registry,ref=host/c:x-linux-amd64,"oci-mediatypes=true,image-manifest=true"'


def test_platform_params_name_one_platform_and_its_refs_only():
    one = platform_params(params(), "linux/arm64")
    assert one["platforms"] == ["linux/arm64"]
    assert one["cache_from"] == ["type=registry,ref=registry.example:5000/team/app:buildcache-linux-arm64"]
    assert one["cache_to"] == ["type=registry,ref=registry.example:5000/team/app:buildcache-linux-arm64,mode=max"]
    assert params()["cache_to"] == [CACHE_TO]  # the caller's params are left alone


def test_each_platforms_build_pushes_by_digest_to_the_first_tags_repository():
    argv = platform_build_command(params(inline_cache=True), "linux/arm64", "/tmp/m.json").argv
    assert values(argv, "--platform") == ["linux/arm64"]
    assert values(argv, "--output") == ["type=image,name=registry.example:5000/team/app,push-by-digest=true,"
                                        "name-canonical=true,push=true"]
    assert "--tag" not in argv and "--push" not in argv  # the tags are set once, on the joined index
    assert values(argv, "--cache-to") == ["type=registry,ref=registry.example:5000/team/app:buildcache-linux-arm64,mode=max"]
    assert values(argv, "--metadata-file") == ["/tmp/m.json"] and values(argv, "--builder") == ["nodes"]
    assert "BUILDKIT_INLINE_CACHE=1" in argv
    assert argv[-1] == "/srv/app"


def test_the_index_gets_every_tag_and_every_platforms_digest_in_platform_order():
    argv = create_index_command(params(), {"linux/arm64": "sha256:b", "linux/amd64": "sha256:a"})
    assert argv[:3] == ["buildx", "imagetools", "create"]
    assert values(argv, "--builder") == ["nodes"]
    assert values(argv, "--tag") == ["registry.example:5000/team/app:1.2", "registry.example:5000/team/app:latest"]
    assert argv[-2:] == ["registry.example:5000/team/app@sha256:a", "registry.example:5000/team/app@sha256:b"]


def test_an_image_repository_drops_tag_and_digest_but_keeps_the_registry_port():
    assert image_repository("registry.example:5000/team/app:1.2") == "registry.example:5000/team/app"
    assert image_repository("registry.example:5000/team/app") == "registry.example:5000/team/app"
    assert image_repository("team/app:1@sha256:abc") == "team/app"


def test_only_a_pushed_build_of_several_platforms_is_split():
    assert splits(params())
    assert not splits(params(cache_per_platform=False))
    assert not splits(params(platforms=["linux/arm64"]))


def test_cache_per_platform_needs_the_platforms_and_a_push():
    with pytest.raises(BuildhostError, match="needs the platforms"):
        check_cache_per_platform(params(platforms=[]))
    with pytest.raises(BuildhostError, match="needs push: true"):
        check_cache_per_platform(params(push=False))
    check_cache_per_platform(params(push=False, platforms=["linux/arm64"]))
    check_cache_per_platform(params(cache_per_platform=False, push=False, platforms=[]))


def test_the_output_exporter_comes_before_the_context():
    argv = build_command(params(), "/m", output="type=oci,dest=/x.tar").argv
    assert argv[-3:] == ["--output", "type=oci,dest=/x.tar", "/srv/app"]


def test_check_mode_shows_each_platforms_build_and_the_index(tmp_path):
    result = run_build(None, None, params(path=str(tmp_path), log_file=str(tmp_path / "b.log")), check_mode=True)
    lines = result["command"].splitlines()
    assert result["changed"] is True and len(lines) == 3
    assert "--platform linux/amd64 " in lines[0] and ":buildcache-linux-amd64" in lines[0]
    assert "--platform linux/arm64 " in lines[1] and ":buildcache-linux-arm64" in lines[1]
    assert lines[2].startswith("docker buildx imagetools create --builder nodes --tag registry.example:5000/team/app:1.2")
    assert "registry.example:5000/team/app@<linux/arm64 digest>" in lines[2]
    assert not (tmp_path / "b.log").exists()


def test_one_platform_is_one_build_with_that_platforms_cache_refs(tmp_path):
    result = run_build(None, None, params(path=str(tmp_path), platforms=["linux/arm64"]), check_mode=True)
    assert "\n" not in result["command"] and "imagetools" not in result["command"]
    assert "--tag registry.example:5000/team/app:1.2" in result["command"] and "--push" in result["command"]
    assert "ref=registry.example:5000/team/app:buildcache-linux-arm64" in result["command"]
