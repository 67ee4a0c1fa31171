# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""buildx builders: what buildx reports, what a user asked for, how they differ, and the commands to converge; and
the buildkitd.toml both render with tomlkit (a builder's, and a fleet node's own)."""
from __future__ import annotations

import base64
import ipaddress
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import load_json_object, same_json
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Plan
from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import PlatformError, format_platform, normalize_platform
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

# buildx's own rule for instance names.
BUILDER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# buildx's rule for node names (store.ValidateName, the same from 0.10 to 0.19). buildx lowercases the name it stores.
NODE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*$")
# buildx (0.13) adds this flag by itself to docker-container nodes; it is not drift.
IMPLIED_HOST_NETWORK_FLAG = "--allow-insecure-entitlement=network.host"
CONFIG_FILE_KEY = "buildkitd.toml"


class BuildxError(BuildhostError):
    pass


@dataclass
class Node:
    name: str = ""
    endpoint: str = ""
    driver_opts: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    platforms: list = field(default_factory=list)      # as configured (fixed with --platform)
    config: str | None = None                          # buildkitd.toml content, when one was given
    status: str | None = None
    reported_platforms: list = field(default_factory=list)  # what the running node can build

    def as_result(self) -> dict:
        return {"name": self.name, "endpoint": self.endpoint, "status": self.status,
                "platforms": self.reported_platforms or self.platforms, "driver_opts": self.driver_opts, "flags": self.flags}


@dataclass
class Builder:
    name: str
    driver: str
    nodes: list = field(default_factory=list)

    @property
    def platforms(self) -> list:
        seen = []
        for node in self.nodes:
            for platform in node.reported_platforms or node.platforms:
                if platform not in seen:
                    seen.append(platform)
        return seen

    def as_result(self) -> dict:
        return {"name": self.name, "driver": self.driver, "nodes": [n.as_result() for n in self.nodes], "platforms": self.platforms}


def validate_name(name: str) -> None:
    if not BUILDER_NAME.match(name):
        raise BuildxError(f"invalid builder name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit")


def _platforms(where: str, platforms: list) -> list[str]:
    """PLATFORMS as buildx stores them; one entry may hold several, comma-separated, as --platform takes them."""
    normalized: list[str] = []
    for entry in platforms or []:
        for spelling in entry.split(",") if isinstance(entry, str) else [entry]:
            try:
                platform = normalize_platform(spelling.strip() if isinstance(spelling, str) else spelling)
            except PlatformError as exc:
                raise BuildxError(f"{where}: {exc}") from None
            normalized.append(platform)  # duplicates too: buildx keeps them, and drift compares the lists
    return normalized


def check_nodes(params: dict) -> None:
    """Refuse node names and platforms that buildx would take but that leave a builder unable to build, or that it
    would quietly change (and so re-create the builder on every run); the message names the bad value."""
    first = f"{params['name']}0"
    seen = {first.lower(): first}
    _platforms("platforms", params.get("platforms") or [])
    for node in params.get("nodes") or []:
        name = node.get("name")
        if not isinstance(name, str) or not NODE_NAME.match(name):
            raise BuildxError(f"nodes: node name {name!r} is not one buildx accepts: a letter first, then letters,"
                              " digits, '_', '.' or '-'")
        # buildx stores names lowercased, and `create --node NAME --append` with a name it has updates that node
        # instead of appending one: the builder would have a node less than asked, and drift on every run.
        if name.lower() in seen:
            raise BuildxError(f"nodes: node name {name!r} is already used by node {seen[name.lower()]!r} (buildx ignores"
                              f" case; the first node is named {first!r})")
        seen[name.lower()] = name
        _platforms(f"nodes: node {name}: platforms", node.get("platforms") or [])


# ---- what buildx reports -------------------------------------------------------------------------------------

def parse_ls_json(text: str) -> dict:
    """``buildx ls --format json`` (buildx 0.13+): one JSON object per builder and line."""
    builders = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        raw = load_json_object(line, "docker buildx ls --format json")
        nodes = [Node(name=n.get("Name", ""), endpoint=n.get("Endpoint", ""), driver_opts=n.get("DriverOpts") or {},
                      flags=n.get("Flags") or [], status=n.get("Status"),
                      reported_platforms=[format_platform(p) for p in n.get("Platforms") or []])
                 for n in raw.get("Nodes") or []]
        builders[raw["Name"]] = Builder(raw["Name"], raw.get("Driver", ""), nodes)
    return builders


_INSPECT_KEY = re.compile(r"^([A-Za-z][A-Za-z ]*?):\s*(.*)$")


def parse_inspect_text(text: str) -> Builder:
    """``buildx inspect NAME`` text (buildx 0.10+), the fallback where ``ls --format json`` is missing."""
    builder = Builder("", "")
    node = None
    for line in text.splitlines():
        if line.startswith(" ") or not line.strip():
            continue  # label lines and blank separators
        match = _INSPECT_KEY.match(line)
        if not match:
            continue
        key, value = match.group(1), match.group(2).strip()
        if node is None and key == "Name" and not builder.name:
            builder.name = value
        elif node is None and key == "Driver":
            builder.driver = value
        elif key == "Name":
            node = Node(name=value)
            builder.nodes.append(node)
        elif node is not None and key == "Endpoint":
            node.endpoint = value
        elif node is not None and key == "Status":
            node.status = value
        elif node is not None and key == "Driver Options":
            node.driver_opts = {k: v.strip('"') for k, v in (item.split("=", 1) for item in shlex.split(value.replace('"', "'")))}
        elif node is not None and key in ("Flags", "BuildKit daemon flags", "Buildkit daemon flags"):
            node.flags = value.split()
        elif node is not None and key == "Platforms":
            node.reported_platforms = [p.strip().rstrip("*") for p in value.split(",") if p.strip()]
    return builder


def parse_instance_file(text: str) -> Builder:
    """buildx's stored definition ($DOCKER_CONFIG/buildx/instances/NAME): what the builder was created with."""
    raw = load_json_object(text, "buildx's instance file")
    nodes = []
    for n in raw.get("Nodes") or []:
        files = n.get("Files") or {}
        config = base64.b64decode(files[CONFIG_FILE_KEY]).decode("utf-8") if CONFIG_FILE_KEY in files else None
        nodes.append(Node(name=n.get("Name", ""), endpoint=n.get("Endpoint", ""), driver_opts=n.get("DriverOpts") or {},
                          flags=n.get("Flags") or [], platforms=[format_platform(p) for p in n.get("Platforms") or []],
                          config=config))
    return Builder(raw.get("Name", ""), raw.get("Driver", ""), nodes)


# ---- what the user asked for ---------------------------------------------------------------------------------

def _tomlkit():
    """tomlkit, needed on the managed host only when a buildkitd config is given."""
    try:
        import tomlkit  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise BuildxError(missing_required_lib("tomlkit", reason="for buildkitd_config") + " (Debian: python3-tomlkit)") from None
    return tomlkit


def render_buildkitd_config(config: dict) -> str | None:
    """A dict in buildkitd.toml's shape (``registry: {docker.io: {mirrors: [...]}}``) rendered as TOML."""
    if not config:
        return None
    try:
        return _tomlkit().dumps(config)
    except (TypeError, ValueError) as exc:
        raise BuildxError(f"buildkitd_config cannot be written as TOML: {exc}") from exc


def _stringify(opts: dict) -> dict:
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (opts or {}).items()}


def desired_builder(params: dict) -> Builder:
    flags = shlex.split(params.get("buildkitd_flags") or "")
    config = render_buildkitd_config(params.get("buildkitd_config") or {})
    first = Node(name=f"{params['name']}0", endpoint=params.get("endpoint") or "", driver_opts=_stringify(params.get("driver_opts")),
                 flags=flags, platforms=_platforms("platforms", params.get("platforms") or []), config=config)
    nodes = [first]
    for extra in params.get("nodes") or []:
        nodes.append(Node(name=extra["name"], endpoint=extra["endpoint"], driver_opts=_stringify(extra.get("driver_opts")),
                          flags=flags, platforms=_platforms(f"nodes: node {extra['name']}: platforms", extra.get("platforms") or []),
                          config=config))
    return Builder(params["name"], params["driver"], nodes)


# ---- how they differ -----------------------------------------------------------------------------------------

def _effective_flags(node: Node) -> list:
    return [f for f in node.flags if f != IMPLIED_HOST_NETWORK_FLAG]


def _same_config(have: str | None, want: str | None) -> bool:
    """buildx re-serialises the TOML it stores, so documents are compared, not text."""
    if not have or not want:
        return not have and not want
    tomlkit = _tomlkit()
    try:
        return tomlkit.parse(have).unwrap() == tomlkit.parse(want).unwrap()
    except Exception:  # tomlkit's ParseError family: a stored config we cannot read is drift, and is replaced
        return False


def drift(current: Builder, desired: Builder) -> list:
    """Reasons the existing builder does not match; empty when it does."""
    reasons = []
    if current.driver != desired.driver:
        reasons.append(f"driver is {current.driver}, want {desired.driver}")
    if len(current.nodes) != len(desired.nodes):
        reasons.append(f"has {len(current.nodes)} node(s), want {len(desired.nodes)}")
    for have, want in zip(current.nodes, desired.nodes):
        label = f"node {have.name}"
        if want.endpoint and have.endpoint != want.endpoint:
            reasons.append(f"{label}: endpoint is {have.endpoint}, want {want.endpoint}")
        if have.driver_opts != want.driver_opts:
            reasons.append(f"{label}: driver_opts are {have.driver_opts}, want {want.driver_opts}")
        if _effective_flags(have) != _effective_flags(want):
            reasons.append(f"{label}: buildkitd flags are {have.flags}, want {want.flags}")
        if sorted(have.platforms) != sorted(want.platforms):
            reasons.append(f"{label}: platforms are {have.platforms}, want {want.platforms}")
        if not _same_config(have.config, want.config):
            reasons.append(f"{label}: buildkitd config differs")
    return reasons


# ---- the commands to converge --------------------------------------------------------------------------------

def create_commands(desired: Builder, config_file: str | None, use: bool, bootstrap: bool) -> list:
    commands = []
    for index, node in enumerate(desired.nodes):
        # --driver on every node: buildx would otherwise take the appended node's driver from elsewhere.
        argv = ["buildx", "create", "--name", desired.name, "--node", node.name, "--driver", desired.driver]
        if index > 0:
            argv.append("--append")
        for key, value in node.driver_opts.items():
            argv += ["--driver-opt", f"{key}={value}"]
        if node.flags:
            argv += ["--buildkitd-flags", " ".join(node.flags)]
        if config_file:
            argv += ["--buildkitd-config", config_file]
        if node.platforms:
            argv += ["--platform", ",".join(node.platforms)]
        if index == 0 and use:
            argv.append("--use")
        if node.endpoint:
            argv.append(node.endpoint)
        commands.append(argv)
    if bootstrap:
        commands.append(["buildx", "inspect", "--bootstrap", desired.name])
    return commands


def instance_path(docker_config: str, name: str) -> str:
    return os.path.join(docker_config, "buildx", "instances", name)


# ---- a fleet node's own buildkitd.toml (the buildkitd_config module) -------------------------------------------

# What BuildKit 0.13 reads from a [registry."NAME"] table (util/resolver/config.RegistryConfig), and the shape of each.
# BuildKit ignores any other key without a word, and a value of another shape stops the daemon from starting.
REGISTRY_KEYS = {
    "mirrors": "a list of strings",
    "http": "true or false",
    "insecure": "true or false",
    "ca": "a list of strings",
    "keypair": "a list of {key, cert} tables",
    "tlsconfigdir": "a list of strings",
}
KEYPAIR_KEYS = ("key", "cert")
# BuildKit reads gckeepstorage as a signed 64-bit number of bytes.
MAX_KEEP_STORAGE = 2 ** 63 - 1
BUILDKITD_HEADER = "# Written by multiarch.buildhost.buildkitd_config: edits here are replaced on its next run.\n"


def _is_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")  # a lone surrogate (from undecodable input) has no UTF-8, so no TOML either
    except UnicodeEncodeError:
        return False
    return True


def _registry_value(name: str, key: str, value: Any) -> Any:
    where = f"buildkit registry {name!r}: {key}"
    shape = REGISTRY_KEYS[key]
    if shape == "true or false":
        if not isinstance(value, bool):
            raise BuildxError(f"{where} must be {shape}, not {value!r}")
        return value
    if not isinstance(value, list):
        raise BuildxError(f"{where} must be {shape}, not {value!r}")
    if key != "keypair":
        if not all(_is_text(item) for item in value):
            raise BuildxError(f"{where} must be {shape}, not {value!r}")
        return list(value)
    pairs = []
    for pair in value:
        if not isinstance(pair, dict) or set(pair) != set(KEYPAIR_KEYS) or not all(_is_text(pair[k]) for k in KEYPAIR_KEYS):
            raise BuildxError(f"{where} must be {shape}: each entry has exactly a key and a cert path, not {pair!r}")
        pairs.append({"key": pair["key"], "cert": pair["cert"]})
    return pairs


# A Go duration as BuildKit's [history] maxAge reads it ("72h", "90m", "3600s").
_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$")


def _history_table(max_age: Any, max_entries: Any) -> dict:
    """[history]: how long and how many finished builds BuildKit keeps (their build args, logs and results, which every
    client of the daemon can read). Unset, BuildKit keeps 48 hours and 50 records."""
    table: dict = {}
    if max_age is not None:
        if not isinstance(max_age, str) or not _GO_DURATION.match(max_age):
            raise BuildxError(f"history_max_age must be a duration such as '24h' or '90m', not {max_age!r}")
        table["maxAge"] = max_age
    if max_entries is not None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise BuildxError(f"history_max_entries must be a whole number of 1 or more, not {max_entries!r}")
        table["maxEntries"] = max_entries
    return table


# A Linux network interface name (the kernel's dev_valid_name): at most IFNAMSIZ - 1 = 15 bytes, no '/', ':' or
# whitespace, not '.' or '..'; kept here to the characters ip(8) and BuildKit's bridge plugin take without quoting.
_INTERFACE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
# The prefixes a bridge subnet may have: /8 at the widest (BuildKit's default is a /16), /28 at the narrowest, which
# leaves 13 addresses for the gateway and the build containers.
BRIDGE_PREFIXES = (8, 28)


def _bridge_settings(bridge_name: Any, bridge_subnet: Any) -> dict:
    """[worker.oci] bridgeName and bridgeSubnet (BuildKit 0.13's NetworkConfig, read with --oci-worker-net bridge):
    two daemons on one host, both in its network namespace, must not share one bridge and its address allocation.
    Unset, BuildKit uses buildkit0 and 10.10.0.0/16."""
    settings: dict = {}
    if bridge_name is not None:
        if not _is_text(bridge_name) or not _INTERFACE_NAME.fullmatch(bridge_name) or bridge_name in (".", ".."):
            raise BuildxError(f"bridge_name must be a network interface name of 1 to 15 letters, digits, '_', '.' or '-'"
                              f" (not '.' or '..'), such as 'buildkit1', not {bridge_name!r}")
        settings["bridgeName"] = bridge_name
    if bridge_subnet is not None:
        low, high = BRIDGE_PREFIXES
        try:
            if not _is_text(bridge_subnet) or "/" not in bridge_subnet:
                raise ValueError("not a network in CIDR form")
            network = ipaddress.IPv4Network(bridge_subnet, strict=True)
            if str(network) != bridge_subnet:  # a netmask for a prefix, leading zeros: Go's net.ParseCIDR reads neither
                raise ValueError(f"which is {network} in CIDR form")
            if not low <= network.prefixlen <= high:
                raise ValueError(f"a /{network.prefixlen} network")
        except ValueError as exc:
            raise BuildxError(f"bridge_subnet must be an IPv4 network in CIDR form with a prefix from /{low} to /{high}"
                              f" and no host bits set, such as '10.11.0.0/16', not {bridge_subnet!r} ({exc})") from None
        settings["bridgeSubnet"] = str(network)
    return settings


def buildkitd_document(registries: Any, gc_keep_storage: Any, history_max_age: Any = None,
                       history_max_entries: Any = None, bridge_name: Any = None, bridge_subnet: Any = None) -> dict:
    """A fleet node's buildkitd.toml as data: garbage collection on, keeping GC_KEEP_STORAGE bytes, the OCI worker's
    bridge network named BRIDGE_NAME on BRIDGE_SUBNET when given, the build history bounded when asked, and REGISTRIES
    (registry name -> settings) as [registry."NAME"] tables, each checked against what BuildKit 0.13 reads."""
    if isinstance(gc_keep_storage, bool) or not isinstance(gc_keep_storage, int) or not 0 <= gc_keep_storage <= MAX_KEEP_STORAGE:
        raise BuildxError(f"gc_keep_storage must be a number of bytes from 0 to {MAX_KEEP_STORAGE}, not {gc_keep_storage!r}")
    if not isinstance(registries, dict):
        raise BuildxError(f"registries must be a dict of registry name -> settings, not {registries!r}")
    tables = {}
    for name in sorted(registries, key=str):
        settings = registries[name]
        if not _is_text(name) or not name:
            raise BuildxError(f"buildkit registry name {name!r} must be a non-empty string, such as 'docker.io' or"
                              " 'registry.lan:5000'")
        if not isinstance(settings, dict):
            raise BuildxError(f"buildkit registry {name!r}: its settings must be a dict such as {{http: true}}, not {settings!r}")
        unknown = [key for key in settings if key not in REGISTRY_KEYS]
        if unknown:
            raise BuildxError(f"buildkit registry {name!r}: unknown setting(s) {', '.join(repr(k) for k in unknown)};"
                              f" BuildKit 0.13 knows {', '.join(REGISTRY_KEYS)}")
        tables[name] = {key: _registry_value(name, key, settings[key]) for key in sorted(settings)}
    worker = {"gc": True, "gckeepstorage": gc_keep_storage}
    worker.update(_bridge_settings(bridge_name, bridge_subnet))
    document: dict = {"worker": {"oci": worker}}
    history = _history_table(history_max_age, history_max_entries)
    if history:
        document["history"] = history
    if tables:
        document["registry"] = tables
    return document


def _same_document(content: bytes, document: dict) -> bool:
    """Whether CONTENT holds DOCUMENT, compared as data: a file that only differs in layout (the role's earlier
    template, comments) needs no rewrite, and BuildKit no restart."""
    try:
        return same_json(_tomlkit().parse(content.decode("utf-8")).unwrap(), document)
    except Exception:  # not UTF-8, or tomlkit's ParseError family: a file BuildKit cannot read is replaced
        return False


def plan_buildkitd_config(before: FileState, document: dict) -> Plan[dict]:
    """The buildkitd.toml that holds DOCUMENT (from buildkitd_document), written whole: the module owns the file."""
    content = (BUILDKITD_HEADER + (render_buildkitd_config(document) or "")).encode("utf-8")
    return Plan(
        content=content,
        changed=not (before.exists and _same_document(before.content, document)),
        shown_before=before.content.decode("utf-8", errors="replace"),
        shown_after=content.decode("utf-8"),
        details=document,
    )
