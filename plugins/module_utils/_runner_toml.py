# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit GitLab Runner's config.toml as TOML (tomlkit keeps comments, order and unknown keys)."""
from __future__ import annotations

import re
from typing import Any

REDACTED = "********"
# Keys whose values are credentials: runner tokens and cache/object-store secrets.
SECRET_KEYS = frozenset({"token", "registration_token", "accesskey", "secretkey", "access_key", "secret_key",
                         "accountkey", "account_key", "credentials_file"})


class RunnerConfigError(Exception):
    pass


def _tomlkit():
    import tomlkit  # pylint: disable=import-outside-toplevel  # checked by the module with a clear message

    return tomlkit


def parse(path: str, text: str):
    """Parse config.toml; duplicate keys or tables are an error, as they are for GitLab Runner itself."""
    tomlkit = _tomlkit()
    try:
        return tomlkit.parse(text)
    except Exception as exc:  # tomlkit raises several ParseError subclasses and KeyAlreadyPresent
        raise RunnerConfigError(f"{path} is not valid TOML: {exc}") from exc


def runner_names(document) -> list:
    return [str(runner.get("name", "")) for runner in document.get("runners", [])]


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
    if key in table and table[key] == value:
        return False
    table[key] = value
    return True


def apply_settings(document, runners: list, settings: dict) -> list:
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
        if settings.get("volumes"):
            existing = list(docker.get("volumes", []))
            missing = [v for v in settings["volumes"] if v not in existing]
            if missing:
                volumes = docker.get("volumes")
                if volumes is None:
                    docker["volumes"] = missing
                else:
                    for volume in missing:
                        volumes.append(volume)
                touched = True
        for key, value in (settings.get("docker") or {}).items():
            touched |= _set(docker, key, value)
        if touched:
            changed.append(str(runner.get("name", "")))
    return changed


def render(document) -> str:
    return _tomlkit().dumps(document)


_SECRET_LINE = re.compile(r'^(\s*("?)([A-Za-z_]+)\2\s*=\s*)"[^"]*"', re.MULTILINE)


def redact_text(text: str) -> str:
    """Replace the values of credential keys in TOML text, for diffs and results."""
    return _SECRET_LINE.sub(lambda m: m.group(1) + f'"{REDACTED}"' if m.group(3).lower() in SECRET_KEYS else m.group(0), text)


def secret_values(document) -> set:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).lower() in SECRET_KEYS and isinstance(value, str) and value:
                    found.add(str(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document.unwrap() if hasattr(document, "unwrap") else document)
    return found
