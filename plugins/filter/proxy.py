# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One proxy setting (multiarch_proxy), in the words of each place that needs it: an environment file that systemd
and Docker both read, the Docker client's config.json, a docker-container builder's driver options and a GitLab
runner's job environment (docs: proxy_environment.yml and its siblings).

A proxy URL may hold a password. No message here repeats a URL, and the values go only where the caller keeps
them out of argv and logs: a 0600 file, config.json (0600), config.toml (0600)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

KEYS = ("http_proxy", "https_proxy", "no_proxy")
SCHEMES = ("http", "https", "socks5", "socks5h")
# Characters that systemd's EnvironmentFile= and Docker's --env-file read differently (quotes, escapes, $, spaces):
# refused, so that both read the same value. A URL percent-encodes them.
UNSAFE = re.compile(r"[\s\"'\\$`]")
# What a URL may hold besides: printable ASCII only (systemd drops, and logs whole, an assignment with a control
# character; Go's url.Parse refuses it and prints the URL, password included, in its error), and a % only as %XX.
URL_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!&()*+,;=]|%[0-9A-Fa-f]{2})*")
# A no_proxy entry: a host, a .domain (or *.domain), an address, an address range (10.0.0.0/8), a host:port, or * for everything.
NO_PROXY_ENTRY = re.compile(r"\*|\*?[A-Za-z0-9.\-_]+(:[0-9]+)?|[0-9.]+/[0-9]{1,2}|\[?[0-9A-Fa-f:]+\]?(/[0-9]{1,3})?")
# The client config's names for the three settings (Docker's "proxies" section).
CLI_NAMES = {"http_proxy": "httpProxy", "https_proxy": "httpsProxy", "no_proxy": "noProxy"}


def _no_proxy(value: Any) -> str:
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise AnsibleFilterError("multiarch_proxy.no_proxy is a list of hosts, domains and networks, or one"
                                 " comma-separated string")
    entries = [entry.strip() for entry in entries if entry.strip()]
    for entry in entries:
        if not NO_PROXY_ENTRY.fullmatch(entry):
            raise AnsibleFilterError(f"multiarch_proxy.no_proxy: {entry!r} is not a host, a .domain or an address"
                                     " range such as 10.0.0.0/8")
    return ",".join(entries)


def _url(name: str, value: Any) -> str:
    # The messages name the setting, never the value: it may hold the proxy's password.
    if not isinstance(value, str):
        raise AnsibleFilterError(f"multiarch_proxy.{name} is a URL such as http://proxy.example.com:3128")
    if UNSAFE.search(value):
        raise AnsibleFilterError(f"multiarch_proxy.{name} holds a space, a quote, a backslash, a $ or a backtick;"
                                 " percent-encode them (a password's $ is %24)")
    if not URL_CHARACTERS.fullmatch(value):
        raise AnsibleFilterError(f"multiarch_proxy.{name} holds a control character, a character outside ASCII, or a %"
                                 " that does not start a %XX escape; percent-encode them (a password's % is %25)")
    try:
        url = urlsplit(value)
        port = url.port
        hostname = url.hostname
    except ValueError:
        raise AnsibleFilterError(f"multiarch_proxy.{name} has a malformed host or a port outside 1 to 65535") from None
    if port == 0:
        raise AnsibleFilterError(f"multiarch_proxy.{name} has a port outside 1 to 65535")
    if url.scheme not in SCHEMES or not hostname:
        raise AnsibleFilterError(f"multiarch_proxy.{name} is not a proxy URL: it takes {', '.join(SCHEMES)}://host:port,"
                                 " with user:password@ before the host where the proxy needs them")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise AnsibleFilterError(f"multiarch_proxy.{name} has a path, a query or a fragment; a proxy URL is"
                                 " scheme://[user:password@]host[:port]")
    return value


def _settings(proxy: Any) -> dict[str, str]:
    """The set values of PROXY, checked, by lower-case name; {} for no proxy."""
    if proxy in (None, "", {}):
        return {}
    if not isinstance(proxy, dict):
        raise AnsibleFilterError("multiarch_proxy is a dictionary with http_proxy, https_proxy and no_proxy")
    unknown = sorted(set(proxy) - set(KEYS))
    if unknown:
        raise AnsibleFilterError(f"multiarch_proxy: unknown keys {unknown}; it takes {', '.join(KEYS)}")
    settings = {}
    for name in ("http_proxy", "https_proxy"):
        if proxy.get(name) not in (None, ""):
            settings[name] = _url(name, proxy[name])
    if proxy.get("no_proxy") not in (None, "", []):
        settings["no_proxy"] = _no_proxy(proxy["no_proxy"])
    if settings and not set(settings) - {"no_proxy"}:
        raise AnsibleFilterError("multiarch_proxy: no_proxy without http_proxy or https_proxy says nothing")
    return settings


def proxy_environment(proxy: Any) -> dict[str, str]:
    """The environment variables for PROXY, each in both spellings (Go reads the upper case first, curl and apt
    the lower): {} for no proxy."""
    environment = {}
    for name, value in _settings(proxy).items():
        environment[name.upper()] = value
        environment[name] = value
    return environment


def proxy_environment_file(proxy: Any) -> str:
    """PROXY as a NAME=value file that systemd's EnvironmentFile= and Docker's --env-file read alike; '' for none."""
    return "".join(f"{name}={value}\n" for name, value in proxy_environment(proxy).items())


def proxy_cli_settings(proxy: Any) -> dict[str, Any]:
    """config.json's proxies section for PROXY ({} for none). The Docker CLI hands it to every container it runs,
    and buildx to every build's RUN steps, as HTTP_PROXY and the rest."""
    settings = _settings(proxy)
    if not settings:
        return {}
    return {"proxies": {"default": {CLI_NAMES[name]: value for name, value in settings.items()}}}


def proxy_has_credentials(proxy: Any) -> bool:
    """Whether a proxy URL of PROXY holds a user name or a password."""
    settings = _settings(proxy)
    return any(urlsplit(settings[name]).username is not None for name in ("http_proxy", "https_proxy") if name in settings)


def proxy_driver_opts(proxy: Any) -> dict[str, str]:
    """buildx create's driver options that give a docker-container builder's BuildKit the proxy ({} for none).
    Refused when a URL holds credentials: driver options reach buildx only on its command line, which every user
    of the host can read."""
    if proxy_has_credentials(proxy):
        raise AnsibleFilterError("multiarch_proxy: a docker-container builder takes its proxy on the command line of"
                                 " `docker buildx create`, which every user of the host can read, so a proxy URL with"
                                 " a password cannot reach it. Use a proxy that admits the build hosts by address, or"
                                 " the docker driver (dockerd reads the proxy from a 0600 file) or fleet mode")
    return {f"env.{name}": value for name, value in proxy_environment(proxy).items()}


def proxy_runner_environment(proxy: Any, allow_credentials: bool = False) -> list[str]:
    """A GitLab runner's job environment (config.toml's environment, NAME=value) for PROXY; [] for none.
    A proxy URL with a password is refused unless ALLOW_CREDENTIALS: every job gets the variables, so every author
    of a pipeline that runs there can print the password (or CI_DEBUG_TRACE does it for them)."""
    if proxy_has_credentials(proxy) and not allow_credentials:
        raise AnsibleFilterError("multiarch_proxy: a proxy URL with a password would reach every CI job on this runner,"
                                 " where any pipeline's author can print it. Use a proxy that admits the runner hosts by"
                                 " address, or set gitlab_runner_job_proxy_credentials: true to give them the password")
    return [f"{name}={value}" for name, value in proxy_environment(proxy).items()]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"proxy_environment": proxy_environment,
                "proxy_environment_file": proxy_environment_file,
                "proxy_cli_settings": proxy_cli_settings,
                "proxy_has_credentials": proxy_has_credentials,
                "proxy_driver_opts": proxy_driver_opts,
                "proxy_runner_environment": proxy_runner_environment}
