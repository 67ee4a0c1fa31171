"""A remote_buildkit runner's jobs get their trust domain's daemon and certificate, never the host's own (issue 26)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.runner_buildkit import (
    gitlab_runner_build_modes, gitlab_runner_buildkit_entries)

TLS = "/etc/multiarch-buildhost/buildkit"
DOMAINS = [{"name": "ci", "port": 1240}, {"name": "team-b", "port": 1241}, {"name": "old", "state": "absent"}]


def entries(runners, **kwargs):
    return gitlab_runner_buildkit_entries(runners, kwargs.pop("domain", "ci"), kwargs.pop("domains", DOMAINS), TLS,
                                          "runner-01", **kwargs)


def test_each_runner_gets_its_domains_daemon_on_this_host_and_its_certificate():
    got = entries([{"name": "a"}, {"name": "b", "buildkit_domain": "team-b"}])
    assert got["a"] == {"domain": "ci", "host": "tcp://runner-01:1240", "servername": "runner-01",
                        "client_dir": f"{TLS}/domains/ci/client", "volume": f"{TLS}/domains/ci/client:/buildkit/client:ro"}
    assert got["b"]["host"] == "tcp://runner-01:1241"
    assert got["b"]["volume"] == f"{TLS}/domains/team-b/client:/buildkit/client:ro"


def test_a_given_daemon_needs_no_local_domain_and_names_its_own_host():
    got = entries([{"name": "a", "buildkit_domain": "remote", "buildkit_host": "tcp://10.0.0.7:1240",
                    "buildkit_servername": "build-04"}, {"name": "b", "buildkit_host": "tcp://b1:1240 tcp://b2:1240"}],
                  domains=[])
    assert (got["a"]["host"], got["a"]["servername"]) == ("tcp://10.0.0.7:1240", "build-04")
    assert got["a"]["client_dir"] == f"{TLS}/domains/remote/client"
    # Several daemons: each one's certificate is checked against its own host name, by the job's script.
    assert got["b"]["servername"] == ""


def test_a_role_wide_daemon_and_client_directory_apply_to_every_runner():
    got = entries([{"name": "a"}], host="tcp://build-09:1240", client_dir="/srv/certs")
    assert got["a"]["host"] == "tcp://build-09:1240"
    assert got["a"]["volume"] == "/srv/certs:/buildkit/client:ro"


@pytest.mark.parametrize("client_dir", [f"{TLS}/client", f"{TLS}/client/", f"{TLS}/domains/../client", f"/{TLS}/client",
                                        f"{TLS}/domains/team-b/client", TLS])
def test_the_hosts_own_or_another_domains_certificate_is_refused_naming_the_runner(client_dir):
    with pytest.raises(AnsibleFilterError, match=r"runner a: .* is not trust domain ci's client certificate"):
        entries([{"name": "a"}], client_dir=client_dir)


@pytest.mark.parametrize(("own", "shared"), [
    ([f"{TLS}/client:/keys:ro"], []),
    (["/cache"], [f"//{TLS}:/everything:ro"]),
])
def test_a_volume_that_mounts_the_roles_keys_is_refused(own, shared):
    with pytest.raises(AnsibleFilterError, match=r"runner a: the volume\(s\) .* would mount the buildkit role's keys"):
        entries([{"name": "a", "docker": {"volumes": own}}], volumes=shared)


def test_the_domains_own_directory_given_by_hand_and_plain_volumes_are_fine():
    got = entries([{"name": "a", "docker": {"volumes": ["/cache", "/srv/data:/data"]}}], client_dir=f"{TLS}/domains/ci/client/",
                  volumes=["/certs/client"])
    assert got["a"]["client_dir"] == f"{TLS}/domains/ci/client/"


@pytest.mark.parametrize("domain", ["nowhere", "old"])
def test_a_domain_this_host_does_not_run_is_refused_naming_the_runner_and_the_domains(domain):
    with pytest.raises(AnsibleFilterError, match=rf"runner a: its trust domain '{domain}' is not among this host's"
                                                 r" buildkit_domains \(ci, team-b\)"):
        entries([{"name": "a", "buildkit_domain": domain}])


@pytest.mark.parametrize("domain", ["../../../root", "CI", "a/b"])
def test_a_domain_that_is_not_a_name_never_becomes_a_mounted_directory(domain):
    with pytest.raises(AnsibleFilterError, match=r"runner a: trust domain .* must be 1 to 12 lower-case letters"):
        entries([{"name": "a", "buildkit_domain": domain}], host="tcp://elsewhere:1240")


@pytest.mark.parametrize("docker", [{"privileged": True}, {"services_privileged": "true"}])
def test_a_runner_that_asks_for_privilege_is_refused_naming_it(docker):
    with pytest.raises(AnsibleFilterError, match=r"runner sneaky: build_mode remote_buildkit runs jobs unprivileged"):
        entries([{"name": "sneaky", "docker": docker}])


def test_each_runner_to_configure_gets_its_build_mode_and_a_dind_runner_gets_dind():
    got = entries([{"name": "a"}])
    assert gitlab_runner_build_modes(["a", "b"], got) == {
        "a": {"build_mode": "remote_buildkit",
              "buildkit": {"host": "tcp://runner-01:1240", "servername": "runner-01", "client_dir": f"{TLS}/domains/ci/client"}},
        "b": {"build_mode": "dind"}}


def test_dind_goes_only_to_runners_config_toml_held():
    assert gitlab_runner_build_modes(["old", "new"], {}, held=["old"]) == {"old": {"build_mode": "dind"}}
