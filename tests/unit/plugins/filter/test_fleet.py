"""Which node builds which platform, from inventory variables and facts."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.fleet import architecture_platform, buildkit_fleet

HOSTS = ["build", "arm-1", "arm-2", "amd", "ppc-down"]


def hostvars(**overrides):
    base = {
        "build": {"ansible_facts": {"architecture": "x86_64"}, "buildkit_native_platforms": []},
        "arm-2": {"buildkit_node": {"name": "arm-2", "serve": True, "endpoint": "tcp://arm-2:1234", "native_platforms": ["linux/arm64"]}},
        "arm-1": {"buildkit_node": {"name": "arm-1", "serve": True, "endpoint": "tcp://arm-1:1234", "native_platforms": ["linux/arm64"]}},
        "amd": {"buildkit_node": {"name": "amd", "serve": True, "endpoint": "tcp://10.0.0.5:1234", "native_platforms": ["linux/amd64"]}},
        # Not in this run (down, or --limit): known from its inventory variables alone.
        "ppc-down": {"buildkit_serve": True, "buildkit_native_platforms": ["linux/ppc64le"], "ansible_host": "10.0.0.9",
                     "buildkit_port": 2345},
    }
    base.update(overrides)
    return base


def test_each_platform_goes_to_the_first_native_serving_node_by_name():
    fleet = buildkit_fleet(hostvars(), HOSTS, "build", ["linux/amd64", "linux/arm64", "linux/ppc64le", "linux/riscv64"])
    assert fleet["local_platforms"] == ["linux/riscv64"]
    assert [(n["name"], n["endpoint"], n["platforms"]) for n in fleet["remote"]] == [
        ("amd", "tcp://10.0.0.5:1234", ["linux/amd64"]),
        ("arm-1", "tcp://arm-1:1234", ["linux/arm64"]),
        ("ppc-down", "tcp://10.0.0.9:2345", ["linux/ppc64le"]),
    ]


def test_each_node_presents_the_client_certificate_and_expects_its_own_name():
    fleet = buildkit_fleet(hostvars(), HOSTS, "build", ["linux/arm64"], driver_opts={"cacert": "/ca.pem", "cert": "/c.pem"})
    assert fleet["remote"][0]["driver_opts"] == {"cacert": "/ca.pem", "cert": "/c.pem", "servername": "arm-1"}


def test_a_platform_native_here_is_built_here():
    vars_ = hostvars(build={"ansible_facts": {"architecture": "x86_64"}})
    fleet = buildkit_fleet(vars_, HOSTS, "build", ["linux/amd64", "linux/arm64"])
    assert fleet["local_platforms"] == ["linux/amd64"]
    assert [n["name"] for n in fleet["remote"]] == ["arm-1"]


def test_a_host_that_does_not_serve_is_never_a_node():
    vars_ = hostvars(amd={"buildkit_node": {"name": "amd", "serve": False, "endpoint": "tcp://127.0.0.1:1234",
                                            "native_platforms": ["linux/amd64"]}})
    fleet = buildkit_fleet(vars_, HOSTS, "build", ["linux/amd64"])
    assert fleet == {"local_platforms": ["linux/amd64"], "remote": [], "unknown": []}


def test_a_new_arm64_host_in_the_inventory_takes_arm64_over_emulation():
    alone = buildkit_fleet(hostvars(), ["build"], "build", ["linux/arm64"])
    grown = buildkit_fleet(hostvars(), ["build", "arm-2"], "build", ["linux/arm64"])
    assert alone == {"local_platforms": ["linux/arm64"], "remote": [], "unknown": []}
    assert [(n["name"], n["platforms"]) for n in grown["remote"]] == [("arm-2", ["linux/arm64"])]


@pytest.mark.parametrize("arch, platform", [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("armv7l", "linux/arm/v7"),
                                            ("riscv64", "linux/riscv64")])
def test_architecture_facts_map_to_docker_platforms(arch, platform):
    assert architecture_platform(arch) == platform


def test_an_unknown_architecture_names_the_override():
    with pytest.raises(AnsibleFilterError, match="buildkit_native_platforms"):
        architecture_platform("vax")


def test_a_serving_host_whose_platforms_nobody_knows_is_named_not_dropped_silently():
    vars_ = hostvars(**{"ppc-down": {"buildkit_serve": True, "ansible_host": "10.0.0.9"}})  # no facts, no override
    fleet = buildkit_fleet(vars_, HOSTS, "build", ["linux/ppc64le"])
    assert fleet["unknown"] == ["ppc-down"]
    assert fleet["local_platforms"] == ["linux/ppc64le"]
    assert buildkit_fleet(hostvars(), HOSTS, "build", ["linux/ppc64le"])["unknown"] == []


def test_a_host_known_from_the_inventory_alone_gets_a_bracketed_ipv6_endpoint_and_a_name_buildx_takes():
    vars_ = hostvars(**{"10.0.0.7": {"buildkit_serve": True, "buildkit_native_platforms": ["linux/arm64"],
                                     "buildkit_address": "fd00::7"}})
    layout = buildkit_fleet(vars_, ["build", "10.0.0.7"], "build", ["linux/arm64"], 1234)
    (node,) = layout["remote"]
    assert node["endpoint"] == "tcp://[fd00::7]:1234"
    assert node["name"] == "node-10.0.0.7"
    assert node["driver_opts"]["servername"] == "10.0.0.7"


def test_a_bad_inventory_address_fails_naming_the_host():
    vars_ = hostvars(**{"arm-x": {"buildkit_serve": True, "buildkit_native_platforms": ["linux/arm64"],
                                  "buildkit_address": "arm-x:1234"}})
    with pytest.raises(AnsibleFilterError, match="arm-x"):
        buildkit_fleet(vars_, ["build", "arm-x"], "build", ["linux/arm64"], 1234)
