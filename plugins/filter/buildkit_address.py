# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a fleet node's address into its endpoint and certificate names
(docs: buildkit_endpoint.yml, buildkit_server_names.yml)."""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

# A DNS label, with '_' as many internal names have it (the certificate and the client accept it).
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# The names the host's own builder and tools reach the daemon by, whatever the address.
_LOCAL_NAMES = ("DNS:localhost", "IP:127.0.0.1")


def _refuse(host: str, address: Any, why: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{host}: buildkit_address {address!r} {why}; give the host name or IP address other hosts"
                              " reach this one at, such as build-01.example.com, 10.0.0.5 or fd00::5")


def _parse(address: Any, host: str) -> tuple[str, str]:
    """('IP', normalised address) or ('DNS', name) for ADDRESS, or an error naming HOST and the variable."""
    if not isinstance(address, str) or not address:
        raise _refuse(host, address, "is empty" if address in ("", None) else "is not a string")
    if any(char.isspace() for char in address):
        raise _refuse(host, address, "holds whitespace")
    if "/" in address or "@" in address:
        raise _refuse(host, address, "is a URL or a path, not an address (the role adds tcp:// and buildkit_port)")
    bare = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        ip = None
    if ip is not None:
        if getattr(ip, "scope_id", None):
            # A zone (fe80::1%eth0) means something on this host only, and no certificate can name it.
            raise _refuse(host, address, "has a zone, which only this host understands")
        return "IP", str(ip)
    if ":" in address or bare != address:
        raise _refuse(host, address, "is not an IP address; a host:port goes in buildkit_address and buildkit_port apart")
    labels = address.split(".")
    if len(address) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse(host, address, "is neither an IP address nor a host name")
    if all(label.isdigit() for label in labels):
        raise _refuse(host, address, "looks like an IPv4 address but is not one")
    return "DNS", address


def tcp_port(port: Any, what: str) -> int:
    """PORT as a number, or an error naming WHAT ("build-01: buildkit_port") and the value."""
    if isinstance(port, bool) or not isinstance(port, (int, str)) or not re.match(r"^[0-9]{1,5}$", str(port)) \
            or not 0 < int(port) < 65536:
        raise AnsibleFilterError(f"{what} {port!r} is not a TCP port (1 to 65535)")
    return int(port)


def buildkit_endpoint(address: Any, port: Any, host: str = "this host") -> str:
    """``tcp://HOST:PORT`` that other hosts' builders reach ADDRESS at; an IPv6 address in brackets."""
    kind, value = _parse(address, host)
    if kind == "IP" and ":" in value:
        value = f"[{value}]"
    return f"tcp://{value}:{tcp_port(port, host + ': buildkit_port')}"


def buildkit_server_names(address: Any, host: str) -> list[str]:
    """The server certificate's names: the inventory name (the fleet's builders expect it as servername), localhost
    and 127.0.0.1 (the host's own builder), and ADDRESS as an IP or DNS name."""
    kind, value = _parse(address, host)
    names = []
    for name in (f"DNS:{host}",) + _LOCAL_NAMES + (f"{kind}:{value}",):
        if name not in names:
            names.append(name)
    return names


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"buildkit_endpoint": buildkit_endpoint, "buildkit_server_names": buildkit_server_names}
