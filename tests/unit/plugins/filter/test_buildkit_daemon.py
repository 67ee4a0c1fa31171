"""The daemons one host runs: its own and one per trust domain (issue 26), each apart from the others."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.buildkit_daemon import (
    buildkit_daemons, buildkit_domain_names, buildkit_domains)

TLS = "/etc/multiarch-buildhost/buildkit"
CA = "/home/ops/.local/share/multiarch-buildhost/buildkit-ca"


def daemons(domains, **kwargs):
    arguments = dict(host="build-01", port=1234, container="multiarch-buildkitd", tls_dir=TLS, ca_dir=CA,
                     client_group="docker")
    arguments.update(kwargs)
    return buildkit_daemons(domains, **arguments)


def test_without_domains_the_host_runs_its_own_daemon_as_before():
    (own,) = daemons([], serve=False, native_platforms=["linux/amd64"])
    assert own["container"] == "multiarch-buildkitd" and own["tls_dir"] == TLS and own["ca_dir"] == CA
    assert own["command"][:4] == ["--addr", "unix:///run/buildkit/buildkitd.sock", "--addr", "tcp://127.0.0.1:1234"]
    assert own["command"][-4:] == ["--oci-worker-net", "bridge", "--oci-worker-platform", "linux/amd64"]
    assert (own["client_group"], own["client_dir_mode"], own["client_key_mode"]) == ("docker", "0750", "0640")
    assert own["bridge_name"] is None and own["bridge_subnet"] is None


def test_a_serving_host_listens_on_every_address():
    assert "tcp://0.0.0.0:1234" in daemons(None, serve=True)[0]["command"]


def test_each_domain_has_its_own_ca_certificates_container_port_and_bridge():
    own, team_a, team_b = daemons([{"name": "team-a", "port": 1240}, {"name": "team-b", "port": "1241"}],
                                  native_platforms=["linux/amd64"])
    assert team_a["container"] == "multiarch-buildkitd-team-a"
    assert team_a["ca_dir"] == f"{CA}/domains/team-a" and team_a["tls_dir"] == f"{TLS}/domains/team-a"
    assert team_a["client_common_name"] == "team-a@build-01" and own["client_common_name"] == "buildx@build-01"
    # Only root reads a domain's client key: the runner mounts it into that domain's jobs, and no local user gets it.
    assert (team_a["client_group"], team_a["client_dir_mode"], team_a["client_key_mode"]) == ("root", "0700", "0600")
    assert "tcp://0.0.0.0:1240" in team_a["command"] and "tcp://0.0.0.0:1241" in team_b["command"]
    # Every platform the host runs, native or emulated: no --oci-worker-platform narrows a domain's daemon.
    assert "--oci-worker-platform" not in team_a["command"]
    assert (team_a["bridge_name"], team_a["bridge_subnet"]) == ("bk-team-a", "10.111.0.0/16")
    assert (team_b["bridge_name"], team_b["bridge_subnet"]) == ("bk-team-b", "10.96.0.0/16")
    assert len({d["ca_dir"] for d in (own, team_a, team_b)}) == 3
    assert len({d["container"] for d in (own, team_a, team_b)}) == 3


def test_an_absent_domain_runs_no_daemon_and_needs_no_port():
    domains = [{"name": "old", "state": "absent"}, {"name": "ci", "port": 1240}]
    assert [d["domain"] for d in daemons(domains)] == ["", "ci"]
    assert [d["state"] for d in buildkit_domains(domains, "build-01", 1234)] == ["absent", "present"]


def test_a_given_subnet_is_kept():
    assert buildkit_domains([{"name": "ci", "port": 1240, "bridge_subnet": "10.60.0.0/16"}])[0]["bridge_subnet"] == "10.60.0.0/16"


@pytest.mark.parametrize(("domains", "message"), [
    ("ci", "must be a list"),
    (["ci"], "must be a dict"),
    ([{"name": "Team_A", "port": 1240}], "name 'Team_A'"),
    ([{"name": "../../etc", "port": 1240}], "name '../../etc'"),
    ([{"name": "a-name-too-long", "port": 1240}], "name 'a-name-too-long'"),
    ([{"name": "ci"}], "port None is not a TCP port"),
    ([{"name": "ci", "port": 70000}], "port 70000"),
    ([{"name": "ci", "port": 1234}], "port 1234 is taken by the host's own BuildKit"),
    ([{"name": "ci", "port": 1240}, {"name": "cd", "port": 1240}], "port 1240 is taken by domain 'ci'"),
    ([{"name": "ci", "port": 1240}, {"name": "ci", "port": 1241}], "'ci' is listed twice"),
    ([{"name": "ci", "port": 1240, "bridge_subnet": "10.10.5.0/24"}], "overlaps 10.10.0.0/16"),
    ([{"name": "ci", "port": 1240, "bridge_subnet": "10.111.0.0/16"}, {"name": "team-a", "port": 1241}],
     "overlaps 10.111.0.0/16"),
    ([{"name": "ci", "port": 1240, "bridge_subnet": "10.60.0.1/16"}], "bridge_subnet '10.60.0.1/16'"),
    ([{"name": "ci", "port": 1240, "bridge_subnet": "fd00::/64"}], "bridge_subnet 'fd00::/64'"),
    ([{"name": "ci", "port": 1240, "state": "gone"}], "state 'gone'"),
    ([{"name": "ci", "port": 1240, "ports": 1}], "unknown key(s) ports"),
])
def test_a_bad_domain_fails_naming_the_host_and_what_is_wrong(domains, message):
    with pytest.raises(AnsibleFilterError) as error:
        daemons(domains)
    assert "build-01" in str(error.value) and message in str(error.value)


def test_the_controller_makes_one_ca_per_domain_over_every_host():
    per_host = [[{"name": "ci", "port": 1240}], [], None,
                [{"name": "ci", "port": 1250}, {"name": "team-b", "port": 1241}, {"name": "old", "state": "absent"}]]
    assert buildkit_domain_names(per_host) == ["ci", "team-b"]


def test_a_domain_name_that_would_be_a_path_never_reaches_the_controller():
    with pytest.raises(AnsibleFilterError, match="'../ca'"):
        buildkit_domain_names([[{"name": "../ca", "port": 1240}]])


def test_a_domains_subnet_comes_from_its_name_so_removing_another_never_moves_it():
    both = buildkit_domains([{"name": "team-a", "port": 1240}, {"name": "team-b", "port": 1241}])
    alone = buildkit_domains([{"name": "team-b", "port": 1241}])
    assert both[1]["bridge_subnet"] == alone[0]["bridge_subnet"] == "10.96.0.0/16"


def test_a_host_that_only_runs_domains_has_no_daemon_of_its_own_and_so_no_fleet_key():
    assert [d["domain"] for d in daemons([{"name": "ci", "port": 1240}], own=False)] == ["ci"]


def test_trust_domains_refuse_the_hosts_network_for_build_steps():
    with pytest.raises(AnsibleFilterError, match="build-01: buildkit_build_network 'host' would run every trust domain"):
        daemons([{"name": "ci", "port": 1240}], build_network="host")
    assert daemons([], build_network="host")[0]["command"][-2:] == ["--oci-worker-net", "host"]
