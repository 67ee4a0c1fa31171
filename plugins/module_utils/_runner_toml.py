# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and edit GitLab Runner's config.toml as TOML (tomlkit keeps comments, order and unknown keys)."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_file import same_json
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Plan
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import REDACTED, is_secret_key
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

# A real config.toml is a few KiB. tomlkit's parser slows down sharply on large strings (2 MB took 50 s), so anything
# beyond this is refused before it is parsed.
MAX_RUNNER_CONFIG_BYTES = 256 * 1024


class RunnerConfigError(BuildhostError):
    pass


def _tomlkit():
    import tomlkit  # pylint: disable=import-outside-toplevel  # the module checks it first, with missing_required_lib

    return tomlkit


def parse(path: str, content: bytes):
    """Parse config.toml; duplicate keys or tables are an error, as they are for GitLab Runner itself."""
    if content.startswith(b"\xef\xbb\xbf"):
        raise RunnerConfigError(f"{path} starts with a UTF-8 byte-order mark, which GitLab Runner cannot read; remove it")
    if len(content) > MAX_RUNNER_CONFIG_BYTES:
        raise RunnerConfigError(f"{path} is {len(content)} bytes, larger than the {MAX_RUNNER_CONFIG_BYTES} bytes a"
                                " config.toml can reasonably be; check what it holds")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunnerConfigError(f"{path} is not valid UTF-8 text: {exc}") from exc
    try:
        document = _tomlkit().parse(text)
    except Exception as exc:  # tomlkit raises several ParseError subclasses and KeyAlreadyPresent
        raise RunnerConfigError(f"{path} is not valid TOML: {exc}") from exc
    _check_shape(path, document)
    return document


def _check_shape(path: str, document) -> None:
    runners = document.get("runners")
    if runners is None:
        return
    if not isinstance(runners, list) or not all(isinstance(r, dict) for r in runners):
        raise RunnerConfigError(f"{path}: 'runners' must be an array of tables ([[runners]]), found {type(runners).__name__}")
    for runner in runners:
        docker = runner.get("docker")
        if docker is not None and not isinstance(docker, dict):
            raise RunnerConfigError(f"{path}: runner {str(runner.get('name', '?'))!r} has a 'docker' key that is not a"
                                    f" table ([runners.docker]), found {type(docker).__name__}")
        volumes = (docker or {}).get("volumes")
        if volumes is not None and not isinstance(volumes, list):
            raise RunnerConfigError(f"{path}: runner {str(runner.get('name', '?'))!r} has [runners.docker] volumes that"
                                    f" is not an array, found {type(volumes).__name__}")


@dataclass(frozen=True)
class RunnerSummary:
    name: str
    executor: str
    url: str
    privileged: bool | None


def summarize(document) -> list[RunnerSummary]:
    """What the registration and the fleet report need to know about each runner; no secrets."""
    summaries = []
    for runner in document.get("runners", []):
        docker = runner.get("docker") or {}
        privileged = docker.get("privileged")
        summaries.append(RunnerSummary(str(runner.get("name", "")), str(runner.get("executor", "")),
                                       str(runner.get("url", "")), None if privileged is None else bool(privileged)))
    return summaries


def runner_names(document) -> list[str]:
    return [runner.name for runner in summarize(document)]


def select_runners(path: str, document, names: list | None) -> list:
    runners = list(document.get("runners", []))
    if names:
        known = runner_names(document)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise RunnerConfigError(f"{path} has no runner named {', '.join(unknown)} (it has: {', '.join(known) or 'none'})")
        return [r for r in runners if str(r.get("name", "")) in names]
    return [r for r in runners if str(r.get("executor", "")) == "docker"]


def _set(table, key: str, value: Any) -> bool:
    """Set KEY only when it differs, so untouched values keep their formatting."""
    if key in table and same_json(_plain(table[key]), value):
        return False
    table[key] = value
    return True


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


def apply_settings(document, runners: list, settings: dict) -> list[str]:
    """Apply SETTINGS to RUNNERS (and the global concurrent); returns the names of runners that changed."""
    tomlkit = _tomlkit()
    changed = []
    if settings.get("concurrent") is not None:
        _set(document, "concurrent", settings["concurrent"])
    for runner in runners:
        if "docker" not in runner:
            runner["docker"] = tomlkit.table()
        docker = runner["docker"]
        touched = False
        for key in ("privileged", "services_privileged", "allowed_privileged_images", "allowed_privileged_services"):
            if settings.get(key) is not None:
                touched |= _set(docker, key, settings[key])
        wanted_volumes = _unique(settings.get("volumes") or [])
        if wanted_volumes:
            existing = [str(v) for v in docker.get("volumes", [])]
            missing = [v for v in wanted_volumes if v not in existing]
            if missing:
                if "volumes" not in docker:
                    docker["volumes"] = missing
                else:
                    for volume in missing:
                        docker["volumes"].append(volume)
                touched = True
        for key, value in (settings.get("docker") or {}).items():
            touched |= _set(docker, key, value)
        if touched:
            changed.append(str(runner.get("name", "")))
    return changed


def render(document, newline: str = "\n") -> str:
    text = _tomlkit().dumps(document)
    if newline == "\r\n":
        # tomlkit keeps the file's own line ends but writes "\n" after what it adds; a CRLF file stays CRLF.
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text


def redacted(document) -> tuple[Any, set[str]]:
    """A copy of DOCUMENT whose secret strings are masked, whatever TOML form they were written in, and the secrets."""
    shown = copy.deepcopy(document)
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in list(node.keys()):
                value = node[key]
                if isinstance(value, str) and value and is_secret_key(key):
                    found.add(str(value))
                    node[key] = REDACTED
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(shown)
    return shown, found


@dataclass(frozen=True)
class RunnerPlanDetails:
    changed_runners: list[str]
    runner_names: list[str]
    secrets: set[str]


def plan_runner_update(path: str, before: FileState, settings: dict) -> Plan[RunnerPlanDetails]:
    if not before.exists:
        raise RunnerConfigError(f"{path} does not exist; register a runner first (gitlab-runner register)")
    document = parse(path, before.content)
    shown_before, secrets = redacted(document)
    runners = select_runners(path, document, settings.get("runners"))
    changed_runners = apply_settings(document, runners, settings)
    newline = "\r\n" if b"\r\n" in before.content else "\n"
    content = render(document, newline).encode("utf-8")
    shown_after, secrets_after = redacted(document)
    return Plan(
        content=content,
        changed=content != before.content,
        shown_before=render(shown_before),
        shown_after=render(shown_after),
        details=RunnerPlanDetails(changed_runners, runner_names(document), secrets | secrets_after),
    )
