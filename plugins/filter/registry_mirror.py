# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One registry-mirror setting (multiarch_registry_mirrors), in the words of each daemon that pulls: dockerd's
daemon.json and BuildKit's buildkitd.toml (docs: registry_mirror_daemon_settings.yml,
registry_mirror_buildkitd_settings.yml)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

# The registry the mirrors stand in for: Docker Hub, whose anonymous pull limits are what a mirror is for.
HUB = "docker.io"


def _mirrors(mirrors: Any) -> list[tuple[str, str, str]]:
    """(url as dockerd takes it, host[:port] as BuildKit takes it, scheme) for each mirror, or an error naming it."""
    if mirrors in (None, ""):
        return []
    if not isinstance(mirrors, list):
        raise AnsibleFilterError(f"multiarch_registry_mirrors is a list of URLs, not {mirrors!r}")
    parsed = []
    for mirror in mirrors:
        if not isinstance(mirror, str):
            raise AnsibleFilterError(f"multiarch_registry_mirrors: {mirror!r} is not a URL")
        url = urlsplit(mirror)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise AnsibleFilterError(f"multiarch_registry_mirrors: {mirror!r} is not an http:// or https:// URL of a"
                                     " registry, such as https://mirror.example.com or http://10.0.0.5:5000")
        if url.username is not None or url.password is not None:
            # A password in a URL ends up in daemon.json, buildkitd.toml and every log that shows them.
            raise AnsibleFilterError("multiarch_registry_mirrors: a mirror URL holds credentials; give the URL without"
                                     " them and log in to the mirror instead (docker login, or the mirror's own access"
                                     " rules)")
        if url.path not in ("", "/") or url.query or url.fragment:
            raise AnsibleFilterError(f"multiarch_registry_mirrors: {mirror!r} has a path; dockerd and BuildKit take a"
                                     " mirror as a registry's root, scheme, host and port only")
        try:
            port = url.port
        except ValueError:
            raise AnsibleFilterError(f"multiarch_registry_mirrors: {mirror!r} has a port outside 1 to 65535") from None
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        netloc = f"{host}:{port}" if port else host
        parsed.append((f"{url.scheme}://{netloc}", netloc, url.scheme))
    return parsed


def registry_mirror_daemon_settings(mirrors: Any) -> dict[str, Any]:
    """daemon.json's registry-mirrors for MIRRORS ({} without any); dockerd tries them in order before Docker Hub."""
    urls = [url for url, _netloc, _scheme in _mirrors(mirrors)]
    return {"registry-mirrors": urls} if urls else {}


def registry_mirror_buildkitd_settings(mirrors: Any) -> dict[str, Any]:
    """buildkitd.toml's registry tables for MIRRORS ({} without any): [registry."docker.io"] mirrors, and http = true
    for each plain-HTTP mirror, which BuildKit would otherwise reach over TLS."""
    parsed = _mirrors(mirrors)
    if not parsed:
        return {}
    registries: dict[str, Any] = {HUB: {"mirrors": [netloc for _url, netloc, _scheme in parsed]}}
    for _url, netloc, scheme in parsed:
        if scheme == "http":
            registries[netloc] = {"http": True}
    return {"registry": registries}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"registry_mirror_daemon_settings": registry_mirror_daemon_settings,
                "registry_mirror_buildkitd_settings": registry_mirror_buildkitd_settings}
