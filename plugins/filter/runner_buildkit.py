# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a remote_buildkit runner gives its jobs: the trust domain's daemon and client certificate
(docs: gitlab_runner_buildkit_entries.yml)."""
from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.buildkit_daemon import DOMAIN_NAME, buildkit_domains
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_build_mode import buildkit_volume


def _servername(host: str) -> str:
    """The name a single daemon's certificate is checked against: its host name. Several daemons (separated by
    spaces) have one each, which the job's script takes from each address."""
    if len(host.split()) != 1:
        return ""
    return urlsplit(host).hostname or ""


def _normal(path: str) -> str:
    """PATH without ., .., doubled or trailing slashes (normpath keeps a leading //, which names the same directory)."""
    return "/" + posixpath.normpath(str(path)).lstrip("/")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def gitlab_runner_buildkit_entries(runners: Any, domain: str, domains: Any, tls_dir: str, inventory_hostname: str,
                                   host: str = "", servername: str = "", client_dir: str = "",
                                   volumes: Any = None) -> dict:
    """RUNNERS (the remote_buildkit ones) -> name: {domain, host, servername, client_dir, volume}.

    Each runner's jobs build on its trust domain's daemon (an entry's buildkit_domain, else DOMAIN): by default the
    one the buildkit role runs on this host at the domain's port (DOMAINS, the host's buildkit_domains), with the
    domain's client certificate, which opens that daemon and no other. An entry's buildkit_host or HOST names other
    daemons of the same domain (the domain's daemons on other hosts); CLIENT_DIR, a certificate the buildkit role did
    not write. Any other of the role's certificates (under TLS_DIR: the host's own, another domain's) is refused, as a
    client directory or as a volume of the runner or of VOLUMES (every runner's): the host's own would give every job
    the host's own builds and the fleet's nodes, another domain's that domain's builds."""
    ports = {entry["name"]: entry["port"] for entry in buildkit_domains(domains, inventory_hostname, None)
             if entry["state"] == "present"} if domains else {}
    certificates_root = _normal(tls_dir)
    entries = {}
    for runner in runners or []:
        name = runner["name"]
        raised = sorted(key for key in ("privileged", "services_privileged")
                        if str((runner.get("docker") or {}).get(key, False)).lower() in ("true", "yes", "on", "1"))
        if raised:
            raise AnsibleFilterError(f"runner {name}: build_mode remote_buildkit runs jobs unprivileged, so"
                                     f" docker.{' and docker.'.join(raised)} cannot be true; use build_mode dind for a"
                                     " runner that needs them")
        runner_domain = runner.get("buildkit_domain") or domain
        if not isinstance(runner_domain, str) or not DOMAIN_NAME.match(runner_domain):
            # It becomes a directory that is mounted into jobs: nothing but a domain name.
            raise AnsibleFilterError(f"runner {name}: trust domain {runner_domain!r} must be 1 to 12 lower-case letters,"
                                     " digits and inner dashes")
        daemon = runner.get("buildkit_host") or host
        if not daemon:
            if runner_domain not in ports:
                raise AnsibleFilterError(
                    f"runner {name}: its trust domain {runner_domain!r} is not among this host's buildkit_domains"
                    f" ({', '.join(sorted(ports)) or 'none'}); add {{name: {runner_domain}, port: ...}} to buildkit_domains"
                    " for the buildkit role, or give the runner buildkit_host")
            daemon = f"tcp://{inventory_hostname}:{ports[runner_domain]}"
        certificates = client_dir or f"{tls_dir}/domains/{runner_domain}/client"
        own_domain_dir = _normal(f"{tls_dir}/domains/{runner_domain}/client")
        if _under(_normal(certificates), certificates_root) and _normal(certificates) != own_domain_dir:
            raise AnsibleFilterError(
                f"runner {name}: {certificates} is not trust domain {runner_domain}'s client certificate but another of"
                f" the buildkit role's ({tls_dir}): the host's own opens the host's daemon and the fleet's nodes, another"
                " domain's opens that domain's daemon, and every job would read and prune the builds there. Give the"
                " runner the domain (buildkit_domain) whose key it may hold")
        # Host directories only (source:/path[:mode]); a bare /path is an anonymous volume.
        own_volumes = list((runner.get("docker") or {}).get("volumes") or [])
        mounted = [volume for volume in own_volumes + list(volumes or [])
                   if ":" in str(volume) and _under(_normal(str(volume).split(":", 1)[0]), certificates_root)]
        if mounted:
            raise AnsibleFilterError(f"runner {name}: the volume(s) {', '.join(map(str, mounted))} would mount the buildkit"
                                     f" role's keys ({tls_dir}) into its jobs; the role mounts the domain's client"
                                     " certificate itself")
        entries[name] = {"domain": runner_domain, "host": daemon, "client_dir": certificates,
                         "servername": runner.get("buildkit_servername") or servername or _servername(daemon),
                         "volume": buildkit_volume(certificates)}
    return entries


def gitlab_runner_build_modes(names: Any, entries: dict, held: Any = None) -> dict:
    """NAMES (the runners to configure) -> name: {build_mode, buildkit} for gitlab_runner_config's runner_settings:
    remote_buildkit with where to build for the runners ENTRIES (gitlab_runner_buildkit_entries) has, dind for the
    others that config.toml HELD before this run (None: all), so that a runner switched back keeps nothing of
    remote_buildkit. A runner registered by this run has nothing of it to take back."""
    modes = {}
    for name in names or []:
        entry = (entries or {}).get(name)
        if entry is None and held is not None and name not in held:
            continue
        modes[name] = {"build_mode": "dind"} if entry is None else {
            "build_mode": "remote_buildkit",
            "buildkit": {"host": entry["host"], "servername": entry["servername"], "client_dir": entry["client_dir"]}}
    return modes


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gitlab_runner_buildkit_entries": gitlab_runner_buildkit_entries,
                "gitlab_runner_build_modes": gitlab_runner_build_modes}
