# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON objects in memory (daemon.json, config.json, a tool's JSON output): parse strictly, merge, compare, render.

No file I/O here: the caller reads the bytes and writes the planned content (``_managed_file``). Both Docker config
modules plan through this one helper, so both files get the same guarantees: a document that Docker would read
differently from us is refused, keys nobody asked about survive, and values are compared as JSON types, because
dockerd refuses ``"experimental": 1`` where it wants ``true``.
"""
from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Plan
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

# Far deeper than any Docker file; deep enough documents make Python's recursive parser and merger overflow.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonMergeError(BuildhostError):
    """A document (file bytes, tool output) is not a usable JSON object, or settings cannot be written as JSON."""


def _no_duplicates(path: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                # Python would keep the last value and Go's decoder merges objects: either way data is lost.
                raise JsonMergeError(f"{path} holds the key {key!r} twice in one object; remove one of them")
            document[key] = value
        return document

    return hook


def _refuse_constant(path: str):
    def hook(name: str) -> Any:
        raise JsonMergeError(f"{path} holds {name}, which is not JSON (Docker cannot read it)")

    return hook


def _finite_float(path: str):
    def hook(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise JsonMergeError(f"{path} holds the number {text}, outside the range a JSON reader can represent")
        return value

    return hook


def check_writable(where: str, document: Any) -> None:
    """Refuse what cannot be written back as strict UTF-8 JSON, naming WHERE: too deep, lone surrogates, NaN."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonMergeError(f"{where} is nested more than {MAX_DEPTH} levels deep; no Docker setting is")
        if isinstance(node, dict):
            for key, value in node.items():
                check_writable_string(where, key)
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            check_writable_string(where, node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise JsonMergeError(f"{where} holds the number {node}, which JSON cannot represent")


def check_writable_string(where: str, text: str) -> None:
    found = _SURROGATE.search(text)
    if found:
        raise JsonMergeError(f"{where} holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}), which cannot be"
                             " written as UTF-8; fix that string")


def parse_json_object(path: str, content: bytes) -> dict[str, Any]:
    """Parse CONTENT (the bytes of PATH) as a JSON object, with an error that says what is wrong."""
    if content.startswith(b"\xef\xbb\xbf"):
        # dockerd and the docker CLI both refuse a byte-order mark, so accepting it here would hide the fault.
        raise JsonMergeError(f"{path} starts with a UTF-8 byte-order mark, which Docker cannot read; remove it")
    if not content.strip():
        # dockerd refuses an empty daemon.json at start-up, so merging into one would hide a broken file.
        raise JsonMergeError(f"{path} is empty; write {{}} into it or remove it")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonMergeError(f"{path} is not valid UTF-8 text: {exc}") from exc
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates(path), parse_constant=_refuse_constant(path),
                              parse_float=_finite_float(path))
    except RecursionError:
        raise JsonMergeError(f"{path} is nested more than {MAX_DEPTH} levels deep; no Docker setting is") from None
    except JsonMergeError:
        raise
    except ValueError as exc:
        raise JsonMergeError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise JsonMergeError(f"{path} must hold a JSON object at the top level, found {type(document).__name__}")
    check_writable(path, document)
    return document


def load_json_object(text: str, what: str) -> dict[str, Any]:
    """TEXT, which a tool printed, as a JSON object; WHAT names the tool's output in the error."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise JsonMergeError(f"{what} is not JSON ({exc}): {text[:200]!r}") from exc
    if not isinstance(document, dict):
        raise JsonMergeError(f"{what} is not a JSON object: {text[:200]!r}")
    return document


def same_json(a: Any, b: Any) -> bool:
    """Equality as JSON readers see it: True is not 1 and 1 is not 1.0, at any depth; object key order is ignored."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return bool(a == b)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return BASE with OVERLAY merged in: objects merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def split_key_path(key_path: str) -> list[str]:
    r"""``features.buildkit`` -> [features, buildkit]; a dot inside a key is written ``\.``."""
    parts, current, escaped = [], [], False
    for char in key_path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _find_key(mapping: dict[str, Any], parts: list[str]) -> tuple[str, list[str]] | None:
    """The key of MAPPING that PARTS starts with, and the parts left over.

    An unescaped dotted key still finds a key that holds dots (``auths.registry.example.com``), longest match
    first, since registry host names are the keys users most often need to remove.
    """
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in mapping:
            return candidate, parts[end:]
    return None


def remove_key_paths(document: dict[str, Any], key_paths: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Return DOCUMENT without KEY_PATHS, and the paths that were not found."""
    result = copy.deepcopy(document)
    missing = []
    for key_path in key_paths:
        parent: Any = result
        parts = split_key_path(key_path)
        while True:
            found = _find_key(parent, parts) if isinstance(parent, dict) else None
            if found is None:
                missing.append(key_path)
                break
            key, parts = found
            if not parts:
                del parent[key]
                break
            parent = parent[key]
    return result, missing


def render(document: dict[str, Any], newline: str = "\n") -> str:
    """Docker's own files are indented JSON; key order is kept so diffs stay small; CRLF files stay CRLF."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return text.replace("\n", newline) if newline != "\n" else text


@dataclass(frozen=True)
class JsonPlanDetails:
    document: dict[str, Any]  # the resulting document, secrets masked
    missing_keys: list[str]
    secrets: set[str]  # every secret value seen, before or after, for the module to mask anywhere in its output


def plan_json_update(path: str, before: FileState, overlay: dict[str, Any], remove_keys: list[str],
                     observe: Callable[[dict[str, Any]], None] | None = None) -> Plan[JsonPlanDetails]:
    """Merge OVERLAY into the file's document (after removing REMOVE_KEYS) and say whether anything changed.

    OBSERVE, when given, sees the merged document unmasked, from the same read: a question about its secrets
    (is this login stored?) is answered without reading the file again by name.
    """
    check_writable("the settings", overlay)
    before_doc = parse_json_object(path, before.content) if before.exists else {}
    pruned, missing = remove_key_paths(before_doc, remove_keys)
    after_doc = deep_merge(pruned, overlay)
    if observe is not None:
        observe(after_doc)
    newline = "\r\n" if b"\r\n" in before.content else "\n"
    shown_before, secrets_before = redact(before_doc)
    shown_after, secrets_after = redact(after_doc)
    return Plan(
        content=render(after_doc, newline).encode("utf-8"),
        changed=not before.exists or not same_json(before_doc, after_doc),
        shown_before=render(shown_before),
        shown_after=render(shown_after),
        details=JsonPlanDetails(shown_after, missing, secrets_before | secrets_after),
    )
