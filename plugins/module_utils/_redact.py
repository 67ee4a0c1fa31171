# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which values are secrets, and how they are masked: one rule for config.json, config.toml and build commands.

Masking works on parsed documents, never on text, so the form a secret is written in (a multi-line TOML string, an
escape, a dotted key) cannot hide it.
"""
from __future__ import annotations

import copy
import re
from typing import Any

REDACTED = "********"

# A key is secret when its name, lower-cased without '_' and '-', is one of these or contains one of the markers:
# config.json's auths.<registry>.auth, runner tokens, and every object-store credential GitLab Runner knows
# (S3 AccessKey/SecretKey/SessionToken, GCS PrivateKey, Azure AccountKey, ...).
SECRET_KEYS = frozenset({"auth"})
SECRET_MARKERS = ("token", "secret", "password", "passwd", "privatekey", "accountkey", "accesskey", "credential",
                  "authorization", "authconfig")
# user:password in a URL (proxies, registry mirrors, runner URLs), and KEY=VALUE entries (config.toml's environment)
# whose KEY is a secret's name. A user name alone is not a secret, and every secret found is masked wherever the
# module prints, so short values are left alone.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s:]+:[^/@\s]+)@")
_ASSIGNMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.+)$", re.S)


def secret_parts(text: str) -> list[str]:
    """The secret parts of a string that is not under a secret key: URL userinfo, a secret KEY=VALUE's value."""
    parts = [m.group("userinfo") for m in _URL_USERINFO.finditer(text)]
    assignment = _ASSIGNMENT.match(text)
    if assignment and is_secret_key(assignment.group("key")) and len(assignment.group("value")) >= 4:
        parts.append(assignment.group("value"))
    return parts


def is_secret_key(key: Any) -> bool:
    name = str(key).lower().replace("_", "").replace("-", "")
    return name in SECRET_KEYS or any(marker in name for marker in SECRET_MARKERS)


def redact(document: Any) -> tuple[Any, set[str]]:
    """A copy of DOCUMENT with every secret masked, and the set of secrets found.

    Secrets are the strings under secret keys, and the secret parts of other strings (see secret_parts). The copy is
    masked in place, so a tomlkit document keeps its formatting and renders as the file would, secrets hidden.
    """
    shown = copy.deepcopy(document)
    found: set[str] = set()

    def hidden(text: str) -> str | None:
        """TEXT with its secret parts masked, or None when it holds none (so unchanged values keep their form)."""
        parts = secret_parts(text)
        found.update(parts)
        return mask(text, set(parts)) if parts else None

    def walk(node: Any) -> None:
        # Mappings by key, arrays by index: a string is masked where it stands, a value under a secret key whole.
        if isinstance(node, dict):
            entries = list(node.items())
        elif isinstance(node, list):
            entries = list(enumerate(node))
        else:
            return
        for key, value in entries:
            if isinstance(value, str) and value and isinstance(node, dict) and is_secret_key(key):
                found.add(str(value))
                node[key] = REDACTED
            elif isinstance(value, str):
                masked = hidden(str(value))
                if masked is not None:
                    node[key] = masked
            else:
                walk(value)

    if isinstance(shown, str):
        return hidden(shown) or shown, found
    walk(shown)
    return shown, found


def mask(text: str, secrets: set[str]) -> str:
    """TEXT with each of SECRETS replaced, longest first so a secret inside another is not left half-shown.

    A multi-line secret (a PEM key) is also masked line by line, since logs are written a line at a time.
    """
    pieces = set(secrets)
    for secret in secrets:
        if "\n" in secret:
            pieces.update(line for line in secret.splitlines() if len(line.strip()) >= 8)
    for secret in sorted(pieces, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
