# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BuildKit daemons one host runs: the host's own (the fleet's) and one per trust domain
(docs: buildkit_daemons.yml).

BuildKit authorizes nothing per client: whoever holds a certificate its CA signed may read every build's history, logs
and cache on that daemon, and prune it. So each trust domain (a group of CI runners) gets a daemon of its own, with its
own CA, state volume, port and build-step bridge, and a certificate of one domain opens no other domain's daemon.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.buildkit_address import tcp_port

# A domain's name goes into a container name, a directory, a certificate's CN and a bridge name (bk-NAME, at most 15
# characters as Linux has it).
DOMAIN_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$")
_DOMAIN_KEYS = {"name", "port", "bridge_subnet", "state"}
# BuildKit's own bridge (appdefaults: buildkit0, 10.10.0.0/16): the host's daemon keeps it, and so its network.
_DEFAULT_SUBNET = ipaddress.ip_network("10.10.0.0/16")


def _subnet(value: Any, where: str) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.ip_network(value, strict=True) if isinstance(value, str) else None
    except ValueError:
        subnet = None
    if not isinstance(subnet, ipaddress.IPv4Network) or not 8 <= subnet.prefixlen <= 28:
        raise AnsibleFilterError(f"{where}: bridge_subnet {value!r} is not an IPv4 network from /8 to /28, such as"
                                 " 10.11.0.0/16")
    return subnet


def default_subnet(name: str) -> ipaddress.IPv4Network:
    """A domain's bridge network unless it names one: 10.X.0.0/16 with X from 11 to 250, from the name alone, so that
    adding or removing another domain never moves it (two names may meet: the clash check then asks for one)."""
    return ipaddress.ip_network(f"10.{11 + int(hashlib.sha1(name.encode('utf-8')).hexdigest(), 16) % 240}.0.0/16")


def buildkit_domains(domains: Any, host: str = "this host", port: Any = 1234) -> list[dict]:
    """DOMAINS (buildkit_domains) checked and completed: [{name, port, bridge_name, bridge_subnet, state}], in order.

    A domain without bridge_subnet gets default_subnet(name). Names, ports and subnets must be unique, and
    no domain may take PORT, the host's own daemon's (None: not known here)."""
    if domains is None:
        return []
    if not isinstance(domains, list):
        raise AnsibleFilterError(f"{host}: buildkit_domains must be a list of {{name, port}}, not {domains!r}")
    result: list[dict] = []
    for position, entry in enumerate(domains):
        where = f"{host}: buildkit_domains[{position}]"
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{where} must be a dict such as {{name: ci, port: 1240}}, not {entry!r}")
        unknown = sorted(set(entry) - _DOMAIN_KEYS, key=str)
        if unknown:
            raise AnsibleFilterError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; a domain has"
                                     f" {', '.join(sorted(_DOMAIN_KEYS))}")
        name = entry.get("name")
        if not isinstance(name, str) or not DOMAIN_NAME.match(name):
            raise AnsibleFilterError(f"{where}: name {name!r} must be 1 to 12 lower-case letters, digits and inner"
                                     " dashes (it names a container, a directory, a certificate and a bridge)")
        where = f"{host}: buildkit domain {name!r}"
        state = entry.get("state", "present")
        if state not in ("present", "absent"):
            raise AnsibleFilterError(f"{where}: state {state!r} must be present or absent")
        domain_port = tcp_port(entry.get("port"), f"{where}: port") if state == "present" or "port" in entry else None
        subnet = _subnet(entry["bridge_subnet"], where) if entry.get("bridge_subnet") is not None \
            else default_subnet(name)
        result.append({"name": name, "port": domain_port, "bridge_name": f"bk-{name}", "bridge_subnet": str(subnet),
                       "state": state})
    _refuse_clashes(result, host, None if port is None else tcp_port(port, f"{host}: buildkit_port"))
    return result


def _refuse_clashes(domains: list[dict], host: str, own_port: int | None) -> None:
    seen_names: set = set()
    seen_ports = {} if own_port is None else {own_port: "the host's own BuildKit (buildkit_port)"}
    seen_subnets = [(_DEFAULT_SUBNET, "the host's own BuildKit (buildkit0)")]
    for domain in domains:
        where = f"{host}: buildkit domain {domain['name']!r}"
        if domain["name"] in seen_names:
            raise AnsibleFilterError(f"{where} is listed twice")
        seen_names.add(domain["name"])
        if domain["state"] != "present":
            continue
        if domain["port"] in seen_ports:
            raise AnsibleFilterError(f"{where}: port {domain['port']} is taken by {seen_ports[domain['port']]}")
        seen_ports[domain["port"]] = f"domain {domain['name']!r}"
        subnet = ipaddress.ip_network(domain["bridge_subnet"])
        for other, owner in seen_subnets:
            if subnet.overlaps(other):
                raise AnsibleFilterError(f"{where}: bridge_subnet {subnet} overlaps {other} of {owner}; give it another"
                                         " bridge_subnet")
        seen_subnets.append((subnet, f"domain {domain['name']!r}"))


def _command(bind_address: str, port: int, build_network: str, platforms: list) -> list[str]:
    """buildkitd's arguments: the local socket, TCP with mutual TLS (the files run.yml mounts), the configuration, the
    build steps' network, and the platforms it offers (all it can run when none is named)."""
    command = ["--addr", "unix:///run/buildkit/buildkitd.sock", "--addr", f"tcp://{bind_address}:{port}",
               "--tlscacert", "/etc/buildkit/tls/ca.pem", "--tlscert", "/etc/buildkit/tls/cert.pem",
               "--tlskey", "/etc/buildkit/tls/key.pem", "--config", "/etc/buildkit/buildkitd.toml",
               "--oci-worker-net", build_network]
    return command + (["--oci-worker-platform", platforms[0]] if platforms else [])


def buildkit_daemons(domains: Any, host: str, port: Any, container: str, tls_dir: str, ca_dir: str,
                     client_group: str, serve: bool = False, native_platforms: Any = None,
                     build_network: str = "bridge", own: bool = True) -> list[dict]:
    """Every daemon the role runs on HOST: its own first (when OWN: the host builds with the fleet or serves it), then
    one per present domain, each with the container, port, command, certificate directory, CA directory, client
    certificate's name and access, and bridge it uses."""
    own_port = tcp_port(port, f"{host}: buildkit_port")
    present = [domain for domain in buildkit_domains(domains, host, port) if domain["state"] == "present"]
    if present and build_network != "bridge":
        # In the host's network every domain's build steps would share it, and reach the host's loopback services.
        raise AnsibleFilterError(f"{host}: buildkit_build_network {build_network!r} would run every trust domain's build"
                                 " steps in the host's network; trust domains need bridge")
    # The host's own daemon listens on every address only when it serves the fleet, and offers its native platform.
    own_daemon = {"domain": "", "container": container, "port": own_port, "tls_dir": tls_dir, "ca_dir": ca_dir,
                  "command": _command("0.0.0.0" if serve else "127.0.0.1", own_port, build_network,
                                      list(native_platforms or [])),
                  "client_common_name": f"buildx@{host}", "client_group": client_group,
                  "client_dir_mode": "0750", "client_key_mode": "0640", "bridge_name": None, "bridge_subnet": None}
    daemons = [own_daemon] if own else []
    for domain in present:
        daemons.append({
            "domain": domain["name"], "container": f"{container}-{domain['name']}", "port": domain["port"],
            "tls_dir": f"{tls_dir}/domains/{domain['name']}", "ca_dir": f"{ca_dir}/domains/{domain['name']}",
            # Every address: the domain's jobs reach it from their containers, by the host's address. It offers every
            # platform the host runs, natively or under QEMU: a domain's jobs build all theirs on it.
            "command": _command("0.0.0.0", domain["port"], build_network, []),
            # The domain's client key opens its daemon only, and only root reads it: the runner's docker executor
            # mounts it into that domain's jobs, and no local user or other domain's job gets it.
            "client_common_name": f"{domain['name']}@{host}", "client_group": "root",
            "client_dir_mode": "0700", "client_key_mode": "0600",
            "bridge_name": domain["bridge_name"], "bridge_subnet": domain["bridge_subnet"],
        })
    return daemons


def buildkit_domain_names(domain_lists: Any) -> list[str]:
    """The names of the present trust domains over DOMAIN_LISTS (each play host's buildkit_domains), sorted, once
    each: the controller makes one CA per name, once per play. A name that is not a domain name fails here, before it
    becomes a directory on the controller."""
    names: set = set()
    for domains in domain_lists or []:
        for entry in domains or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not DOMAIN_NAME.match(name):
                raise AnsibleFilterError(f"buildkit_domains: name {name!r} must be 1 to 12 lower-case letters, digits"
                                         " and inner dashes")
            if entry.get("state", "present") == "present":
                names.add(name)
    return sorted(names)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"buildkit_domains": buildkit_domains, "buildkit_daemons": buildkit_daemons,
                "buildkit_domain_names": buildkit_domain_names}
