"""Parsing real buildx output (recorded from buildx 0.13.1, and the older 0.10 text layout) and planning changes."""
from __future__ import annotations

import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import (
    BuildxError,
    create_commands,
    desired_builder,
    drift,
    parse_inspect_text,
    parse_instance_file,
    parse_ls_json,
    render_buildkitd_config,
    validate_name,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "buildx")


def fixture(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def params(**overrides):
    base = dict(name="multiarch", driver="docker-container", driver_opts={}, buildkitd_flags=None, buildkitd_config={},
                platforms=[], endpoint=None, nodes=[])
    base.update(overrides)
    return base


def test_ls_json_lists_builders_with_nodes_status_and_platforms():
    builders = parse_ls_json(fixture("ls-0.13.ndjson"))
    assert builders["default"].driver == "docker"
    assert "linux/arm64" in builders["default"].platforms
    rec = builders["rec"]
    assert rec.driver == "docker-container"
    assert rec.nodes[0].driver_opts == {"image": "moby/buildkit:v0.13.2"}
    assert rec.nodes[0].status == "inactive"
    assert rec.nodes[0].reported_platforms == ["linux/arm64"]


def test_inspect_text_of_buildx_013():
    builder = parse_inspect_text(fixture("inspect-0.13-docker-container.txt"))
    assert (builder.name, builder.driver) == ("rec", "docker-container")
    node = builder.nodes[0]
    assert node.driver_opts == {"image": "moby/buildkit:v0.13.2"}
    assert node.flags == ["--debug", "--allow-insecure-entitlement=network.host"]
    assert node.reported_platforms == ["linux/arm64"]


def test_inspect_text_of_the_docker_driver_skips_labels():
    builder = parse_inspect_text(fixture("inspect-0.13-docker.txt"))
    assert (builder.name, builder.driver, builder.nodes[0].status) == ("default", "docker", "running")
    assert "linux/riscv64" in builder.platforms


def test_inspect_text_of_the_older_layout_with_two_nodes():
    builder = parse_inspect_text(fixture("inspect-0.10-two-nodes.txt"))
    assert [n.name for n in builder.nodes] == ["elated_tesla0", "elated_tesla1"]
    assert builder.nodes[0].flags == ["--debug"]
    assert builder.nodes[1].endpoint == "ssh://ubuntu@1.2.3.4"
    assert builder.nodes[1].reported_platforms == ["linux/arm64", "linux/arm/v7", "linux/arm/v6"]


def test_instance_file_gives_configured_platforms_as_strings():
    builder = parse_instance_file(fixture("instance-0.13.json"))
    assert builder.nodes[0].platforms == ["linux/arm64"]
    assert builder.nodes[0].flags[0] == "--debug"


def test_a_matching_builder_has_no_drift_despite_the_flag_buildx_adds():
    current = parse_instance_file(fixture("instance-0.13.json"))
    want = desired_builder(params(name="rec", driver_opts={"image": "moby/buildkit:v0.13.2"}, buildkitd_flags="--debug",
                                  platforms=["linux/arm64"]))
    current.nodes[0].endpoint = "unix:///var/run/docker.sock"
    assert drift(current, want) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"driver_opts": {"image": "mirror/buildkit:1"}}, "driver_opts"),
        ({"buildkitd_flags": "--debug --oci-worker-gc=false"}, "buildkitd flags"),
        ({"platforms": ["linux/arm64", "linux/riscv64"]}, "platforms"),
        ({"buildkitd_config": {"registry": {"docker.io": {"mirrors": ["m.example"]}}}}, "buildkitd config differs"),
        ({"nodes": [{"name": "arm", "endpoint": "ssh://arm", "platforms": [], "driver_opts": {}}]}, "node(s)"),
        ({"driver": "remote", "endpoint": "tcp://bk:1234"}, "driver is docker-container"),
    ],
)
def test_each_kind_of_drift_is_named(change, reason):
    current = parse_instance_file(fixture("instance-0.13.json"))
    base = dict(name="rec", driver_opts={"image": "moby/buildkit:v0.13.2"}, buildkitd_flags="--debug", platforms=["linux/arm64"])
    base.update(change)
    reasons = drift(current, desired_builder(params(**base)))
    assert any(reason in r for r in reasons), reasons


def test_buildkitd_config_renders_quoted_registry_tables():
    text = render_buildkitd_config({"registry": {"localhost:5000": {"http": True, "insecure": True}, "docker.io": {"mirrors": ["m.example"]}}})
    assert '[registry."localhost:5000"]' in text and "http = true" in text
    assert 'mirrors = ["m.example"]' in text


def test_create_commands_put_options_and_endpoint_in_order():
    want = desired_builder(params(driver_opts={"image": "b:1", "network": "host"}, buildkitd_flags="--debug", platforms=["linux/arm64"],
                                  nodes=[{"name": "arm", "endpoint": "ssh://arm", "platforms": ["linux/arm64"], "driver_opts": {}}]))
    first, second = create_commands(want, "/cfg.toml", use=True, bootstrap=False)
    assert first == ["buildx", "create", "--name", "multiarch", "--node", "multiarch0", "--driver", "docker-container",
                     "--driver-opt", "image=b:1", "--driver-opt", "network=host", "--buildkitd-flags", "--debug",
                     "--buildkitd-config", "/cfg.toml", "--platform", "linux/arm64", "--use"]
    assert second[:9] == ["buildx", "create", "--name", "multiarch", "--node", "arm", "--driver", "docker-container", "--append"]
    assert second[-1] == "ssh://arm"


@pytest.mark.parametrize("name", ["bad/name", "-x", "a", "with space", ""])
def test_invalid_builder_names_are_refused(name):
    with pytest.raises(BuildxError):
        validate_name(name)
