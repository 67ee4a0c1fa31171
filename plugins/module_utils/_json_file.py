# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge settings into a JSON-object file (daemon.json, config.json): parse, merge, render, diff.

Both Docker config modules use this one helper, so both files get the same guarantees:
a malformed file is refused without being touched, and keys nobody asked about survive.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._atomic_file import FileState

REDACTED = "********"
# Docker's own files are a few KiB; anything this large is not a config file someone meant to merge into.
MAX_CONFIG_BYTES = 1024 * 1024


class JsonFileError(Exception):
    """The file exists but cannot be used as a JSON object; the message names the file."""


def parse_json_object(path: str, content: bytes) -> dict[str, Any]:
    """Parse CONTENT (the bytes of PATH) as a JSON object, with an error that says what is wrong."""
    if content.startswith(b"\xef\xbb\xbf"):
        # dockerd and the docker CLI both refuse a byte-order mark, so accepting it here would hide the fault.
        raise JsonFileError(f"{path} starts with a UTF-8 byte-order mark, which Docker cannot read; remove it")
    if len(content) > MAX_CONFIG_BYTES:
        raise JsonFileError(f"{path} is {len(content)} bytes, larger than the {MAX_CONFIG_BYTES} bytes a Docker config file can"
                            " reasonably be; check what it holds")
    if not content.strip():
        # dockerd refuses an empty daemon.json at start-up, so merging into one would hide a broken file.
        raise JsonFileError(f"{path} is empty; write {{}} into it or remove it")
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JsonFileError(f"{path} is not valid UTF-8 text: {exc}") from exc
    except ValueError as exc:
        raise JsonFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise JsonFileError(f"{path} must hold a JSON object at the top level, found {type(document).__name__}")
    return document


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return BASE with OVERLAY merged in: objects merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def remove_key_paths(document: dict[str, Any], key_paths: list[str]) -> dict[str, Any]:
    """Return DOCUMENT without the dotted KEY_PATHS (``features.buildkit``); absent paths are ignored."""
    result = copy.deepcopy(document)
    for key_path in key_paths:
        parts = key_path.split(".")
        parent = result
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(parts[-1], None)
    return result


def render(document: dict[str, Any]) -> str:
    """Docker's own files are indented JSON; key order is kept so diffs stay small."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class JsonUpdate:
    """What merging would do to one file; nothing is written by computing it."""

    path: str
    before: FileState
    before_doc: dict[str, Any]
    after_doc: dict[str, Any]
    after_text: str

    @property
    def changed(self) -> bool:
        # Documents are compared, not text, so a file that only differs in formatting is left alone.
        return not self.before.exists or self.before_doc != self.after_doc


def plan_update(path: str, before: FileState, overlay: dict[str, Any], remove_keys: list[str]) -> JsonUpdate:
    before_doc = parse_json_object(path, before.content) if before.exists else {}
    after_doc = deep_merge(remove_key_paths(before_doc, remove_keys), overlay)
    return JsonUpdate(path, before, before_doc, after_doc, render(after_doc))


def redact(document: Any, secret_keys: frozenset[str]) -> Any:
    """Copy DOCUMENT with the values of SECRET_KEYS (at any depth) replaced by a fixed marker."""
    if isinstance(document, dict):
        return {k: (REDACTED if k.lower() in secret_keys else redact(v, secret_keys)) for k, v in document.items()}
    if isinstance(document, list):
        return [redact(item, secret_keys) for item in document]
    return document


def secret_values(document: Any, secret_keys: frozenset[str]) -> set[str]:
    """Every string value stored under SECRET_KEYS, so AnsibleModule can mask it anywhere in its output."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key.lower() in secret_keys and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= secret_values(value, secret_keys)
    elif isinstance(document, list):
        for item in document:
            found |= secret_values(item, secret_keys)
    return found
