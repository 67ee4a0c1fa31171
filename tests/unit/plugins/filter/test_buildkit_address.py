"""A fleet node's endpoint and certificate names from buildkit_address: IPv6 in brackets, bad addresses named."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.buildkit_address import buildkit_endpoint, buildkit_server_names


@pytest.mark.parametrize(("address", "endpoint"), [
    ("fd00::1", "tcp://[fd00::1]:1234"),
    ("FD00:0:0::1", "tcp://[fd00::1]:1234"),
    ("[fd00::1]", "tcp://[fd00::1]:1234"),
    ("10.0.0.5", "tcp://10.0.0.5:1234"),
    ("build-01.example.com", "tcp://build-01.example.com:1234"),
    ("build_01", "tcp://build_01:1234"),
])
def test_the_endpoint_brackets_an_ipv6_address_only(address, endpoint):
    assert buildkit_endpoint(address, 1234, "build-01") == endpoint


def test_the_port_may_come_as_text_from_the_inventory():
    assert buildkit_endpoint("10.0.0.5", "2345", "build-01") == "tcp://10.0.0.5:2345"


@pytest.mark.parametrize(("address", "last"), [
    ("fd00::1", "IP:fd00::1"),
    ("10.0.0.5", "IP:10.0.0.5"),
    ("arm-01.lan", "DNS:arm-01.lan"),
])
def test_the_certificate_names_the_address_as_an_ip_or_a_dns_name(address, last):
    assert buildkit_server_names(address, "build-01") == ["DNS:build-01", "DNS:localhost", "IP:127.0.0.1", last]


@pytest.mark.parametrize("address", ["build-01", "127.0.0.1", "localhost"])
def test_each_name_is_in_the_certificate_once(address):
    assert buildkit_server_names(address, "build-01") == ["DNS:build-01", "DNS:localhost", "IP:127.0.0.1"]


@pytest.mark.parametrize("address", [
    "", None, "build 01", " build-01", "build-01:1234", "10.0.0.5:1234", "tcp://build-01:1234", "http://build-01",
    "build-01/24", "root@build-01", "[build-01]", "fe80::1%eth0", "10.0.0", "999.1.1.1", "-build", "build..lan",
    "build-01.", 1234,
])
def test_a_bad_address_fails_naming_the_host_and_the_variable(address):
    for call in (lambda: buildkit_endpoint(address, 1234, "build-01"), lambda: buildkit_server_names(address, "build-01")):
        with pytest.raises(AnsibleFilterError, match=r"^build-01: buildkit_address "):
            call()


@pytest.mark.parametrize("port", [0, 65536, "12a", "", None, True, "١٢٣٤"])
def test_a_bad_port_fails_naming_the_host_and_the_variable(port):
    with pytest.raises(AnsibleFilterError, match=r"^build-01: buildkit_port "):
        buildkit_endpoint("10.0.0.5", port, "build-01")
