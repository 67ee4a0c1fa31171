# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the inventory into a fleet builder's node list (docs: architecture_platform.yml, buildkit_fleet.yml)."""
from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.buildkit_address import buildkit_endpoint

# uname -m (Ansible's architecture fact) -> the platform Docker builds natively there.
_ARCHITECTURES = {
    "x86_64": "linux/amd64",
    "amd64": "linux/amd64",
    "aarch64": "linux/arm64",
    "arm64": "linux/arm64",
    "armv7l": "linux/arm/v7",
    "armv6l": "linux/arm/v6",
    "ppc64le": "linux/ppc64le",
    "s390x": "linux/s390x",
    "riscv64": "linux/riscv64",
    "i386": "linux/386",
    "i686": "linux/386",
}


def architecture_platform(architecture: str) -> str:
    try:
        return _ARCHITECTURES[architecture]
    except KeyError:
        raise AnsibleFilterError(f"no Docker platform is known for architecture {architecture!r}; set"
                                 " buildkit_native_platforms for this host") from None


def node_name(host: str) -> str:
    """A buildx node name for inventory host HOST: buildx takes letters, digits, '_', '.' and '-', a letter first."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
    return safe if safe[:1].isalpha() else "node-" + safe


def fleet_node(name: str, host_vars: Any, default_port: int) -> dict[str, Any] | None:
    """What a host offers the fleet: the ``buildkit_node`` fact its buildkit role set in this run, or else the same
    read from its inventory variables (a host that is down this run is still known, so it can be reported left out)."""
    fact = host_vars.get("buildkit_node")
    if fact:
        return dict(fact)
    if not host_vars.get("buildkit_serve"):
        return None
    natives = host_vars.get("buildkit_native_platforms")
    if natives is None:
        architecture = (host_vars.get("ansible_facts") or {}).get("architecture")
        natives = [architecture_platform(architecture)] if architecture else []
    address = host_vars.get("buildkit_address") or host_vars.get("ansible_host") or name
    return dict(name=name, serve=True, endpoint=buildkit_endpoint(address, host_vars.get("buildkit_port") or default_port, name),
                native_platforms=list(natives), unknown=natives == [] and host_vars.get("buildkit_native_platforms") is None)


def buildkit_fleet(hostvars: Any, hosts: list[str], me: str, platforms: list[str], default_port: int = 1234,
                   driver_opts: dict[str, str] | None = None) -> dict[str, Any]:
    """Assign each requested platform to the node that runs it natively, else to this host's own BuildKit.

    This host runs a platform itself when it is native here; otherwise the first other *serving* host of HOSTS (by
    name) that runs it natively gets it; otherwise this host builds it under QEMU. Returns ``local_platforms`` (this
    host's node) and ``remote`` (one entry per other node that got platforms, by name, so that the same inventory
    always yields the same builder), as buildx_builder's ``nodes``: DRIVER_OPTS with the host's name as ``servername``
    (its certificate names it), and the name made safe for buildx.
    """
    known = {}
    for name in hosts:
        node = fleet_node(name, hostvars[name], default_port)
        if node:
            known[name] = node
    mine = known.get(me) or fleet_node(me, dict(hostvars[me], buildkit_serve=True), default_port) or {}
    local: list[str] = []
    assigned: dict[str, list[str]] = {}
    for platform in platforms:
        if platform in (mine.get("native_platforms") or []):
            local.append(platform)
            continue
        natives = sorted(name for name, node in known.items()
                         if name != me and node.get("serve") and platform in (node.get("native_platforms") or []))
        if natives:
            assigned.setdefault(natives[0], []).append(platform)
        else:
            local.append(platform)
    # Serving hosts not in this run whose platforms nobody knows (no facts, no buildkit_native_platforms): said, not
    # silently dropped.
    unknown = sorted(name for name, node in known.items() if name != me and node.get("unknown"))
    remote = [dict(name=node_name(name), endpoint=known[name]["endpoint"], platforms=assigned[name],
                   driver_opts=dict(driver_opts or {}, servername=name)) for name in sorted(assigned)]
    return dict(local_platforms=local, remote=remote, unknown=unknown)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"architecture_platform": architecture_platform, "buildkit_fleet": buildkit_fleet}
