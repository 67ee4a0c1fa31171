"""The buildkit role's endpoint and certificate names, rendered by Ansible's own templating from roles/buildkit/vars
and tasks/run.yml with the collection's filters (issue 26: an IPv6 buildkit_address gave tcp://fd00::1:1234, and a
host:port was taken as an IP address)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).parents[3]
ROLE = REPO / "roles" / "buildkit"
VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
SERVER_NAMES = VARS["buildkit_server_names"]
DAEMONS = VARS["buildkit_daemons"]
RUN = yaml.safe_load((ROLE / "tasks" / "run.yml").read_text())
DAEMON = yaml.safe_load((ROLE / "tasks" / "daemon.yml").read_text())
NODE_TASK = next(task for task in RUN if task["name"].startswith("Describe this host as a fleet node"))
ENDPOINT = NODE_TASK["ansible.builtin.set_fact"]["buildkit_node"]["endpoint"]

# In one child process: the collection loader is process-wide state that the other unit tests do not expect, and
# starting Ansible once for every case is what takes the time.
RENDER = """
import json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
results = []
for expression, variables in json.loads(sys.stdin.read()):
    try:
        results.append({"value": Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))})
    except Exception as exc:
        results.append({"error": str(exc)})
print(json.dumps(results))
"""
BAD_ADDRESSES = ["build-01:1234", "tcp://build-01:1234", "build 01"]
CASES = [(DAEMONS, "10.0.0.5", 1234), (ENDPOINT, "fd00::1", 1234), (SERVER_NAMES, "fd00::1", 1234), (ENDPOINT, "10.0.0.5", 2345),
         (SERVER_NAMES, "arm-01.lan", 1234)] + [(e, a, 1234) for e in (ENDPOINT, SERVER_NAMES) for a in BAD_ADDRESSES]


@pytest.fixture(scope="module")
def rendered() -> dict:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    names = ("buildkit_build_network", "buildkit_container_name", "buildkit_tls_dir", "buildkit_client_group")
    role = {key: defaults[key] for key in names}
    role.update(buildkit_serve=True, buildkit_own_daemon=True, buildkit_native_platforms=["linux/amd64"], buildkit_ca_dir="/ca",
                buildkit_domains=[{"name": "ci", "port": 1240}])
    jobs = [[expression, dict(role, buildkit_address=address, buildkit_port=port, inventory_hostname="build-01")]
            for expression, address, port in CASES]
    done = subprocess.run([sys.executable, "-c", RENDER, str(REPO / ".collection")], input=json.dumps(jobs),
                          capture_output=True, text=True, check=True, cwd=REPO)
    return dict(zip(CASES, json.loads(done.stdout)))


def test_an_ipv6_node_is_published_in_brackets_and_certified_as_an_ip(rendered):
    assert rendered[ENDPOINT, "fd00::1", 1234] == {"value": "tcp://[fd00::1]:1234"}
    assert rendered[SERVER_NAMES, "fd00::1", 1234] == {"value": ["DNS:build-01", "DNS:localhost", "IP:127.0.0.1", "IP:fd00::1"]}


def test_an_ipv4_or_dns_node_is_published_as_before(rendered):
    assert rendered[ENDPOINT, "10.0.0.5", 2345] == {"value": "tcp://10.0.0.5:2345"}
    assert rendered[SERVER_NAMES, "arm-01.lan", 1234]["value"][-1] == "DNS:arm-01.lan"


@pytest.mark.parametrize("address", BAD_ADDRESSES)
@pytest.mark.parametrize("expression", [ENDPOINT, SERVER_NAMES], ids=["endpoint", "server_names"])
def test_a_bad_address_fails_naming_the_host_and_the_variable(rendered, expression, address):
    assert f"build-01: buildkit_address {address!r}" in rendered[expression, address, 1234]["error"]


def test_the_file_the_configuration_task_writes_is_one_the_restart_watches():
    # A new buildkitd.toml restarts the daemon because buildkit_restart finds it newer than the daemon's start.
    task = next(task for task in DAEMON if task["name"].startswith("Write BuildKit's configuration"))
    restart = next(task for task in DAEMON if "multiarch.buildhost.buildkit_restart" in task)
    # The shared mirrors go under the role's own registry settings, which win.
    registries = " ".join(task["multiarch.buildhost.buildkitd_config"]["registries"].split())
    assert "registry_mirror_buildkitd_settings" in registries and registries.endswith("| combine(buildkit_registries, recursive=true) }}")
    assert task["multiarch.buildhost.buildkitd_config"]["path"] in restart["multiarch.buildhost.buildkit_restart"]["files"]


def test_build_steps_get_a_network_namespace_of_their_own_by_default(rendered):
    # Issue 26: with the host's network a RUN step of any client held CAP_NET_RAW there and reached loopback services.
    own, domain = rendered[DAEMONS, "10.0.0.5", 1234]["value"]
    for command in (own["command"], domain["command"]):
        assert command[command.index("--oci-worker-net") + 1] == "bridge"
    assert "tcp://0.0.0.0:1234" in own["command"] and "tcp://0.0.0.0:1240" in domain["command"]


def test_each_domain_daemon_has_its_own_ca_bridge_container_and_state(rendered):
    own, domain = rendered[DAEMONS, "10.0.0.5", 1234]["value"]
    assert (own["ca_dir"], domain["ca_dir"]) == ("/ca", "/ca/domains/ci")
    assert domain["container"] == "multiarch-buildkitd-ci" and domain["bridge_name"] == "bk-ci"
    container = next(task for task in DAEMON if task["name"].startswith("Run BuildKit"))["community.docker.docker_container"]
    # The state volume and the mounted certificates follow the daemon: no two daemons share either.
    assert container["volumes"][0].startswith("{{ buildkit_daemon.container }}-state:")
    assert container["volumes"][1].startswith("{{ buildkit_daemon.tls_dir }}/server:")
    certificates = [task for task in DAEMON if task["name"].startswith("Issue the")]
    assert {task["vars"]["buildkit_cert_ca_dir"] for task in certificates} == {"{{ buildkit_daemon.ca_dir }}"}


def test_the_fleets_daemons_get_the_shared_mirror_under_their_own_registry_settings():
    # Issue 28: multiarch_registry_mirrors reaches the fleet's buildkitd.toml; buildkit_registries wins where both speak.
    task = next(task for task in DAEMON if task["name"].startswith("Write BuildKit's configuration"))
    expression = task["multiarch.buildhost.buildkitd_config"]["registries"]
    mirrors = ["http://10.0.0.9:5000"]
    jobs = [[expression, {"multiarch_registry_mirrors": [], "buildkit_registries": {}}],
            [expression, {"multiarch_registry_mirrors": mirrors, "buildkit_registries": {}}],
            [expression, {"multiarch_registry_mirrors": mirrors,
                          "buildkit_registries": {"docker.io": {"mirrors": ["own.lan"]}, "own.lan": {"ca": ["/ca.pem"]}}}]]
    done = subprocess.run([sys.executable, "-c", RENDER, str(REPO / ".collection")], input=json.dumps(jobs),
                          capture_output=True, text=True, check=True, cwd=REPO)
    none, shared, own = json.loads(done.stdout)
    assert none == {"value": {}}
    assert shared == {"value": {"docker.io": {"mirrors": ["10.0.0.9:5000"]}, "10.0.0.9:5000": {"http": True}}}
    assert own == {"value": {"docker.io": {"mirrors": ["own.lan"]}, "10.0.0.9:5000": {"http": True},
                             "own.lan": {"ca": ["/ca.pem"]}}}
