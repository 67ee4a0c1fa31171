# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which values are secrets, and how they are masked: one rule for config.json, config.toml and build commands.

Masking works on parsed documents, never on text, so the form a secret is written in (a multi-line TOML string, an
escape, a dotted key) cannot hide it.
"""
from __future__ import annotations

from typing import Any

REDACTED = "********"

# A key is secret when its name, lower-cased without '_' and '-', is one of these or contains one of the markers:
# config.json's auths.<registry>.auth, runner tokens, and every object-store credential GitLab Runner knows
# (S3 AccessKey/SecretKey/SessionToken, GCS PrivateKey, Azure AccountKey, ...).
SECRET_KEYS = frozenset({"auth"})
SECRET_MARKERS = ("token", "secret", "password", "passwd", "privatekey", "accountkey", "accesskey", "credential")


def is_secret_key(key: Any) -> bool:
    name = str(key).lower().replace("_", "").replace("-", "")
    return name in SECRET_KEYS or any(marker in name for marker in SECRET_MARKERS)


def redact(document: Any, extra_keys: frozenset[str] = frozenset()) -> tuple[Any, set[str]]:
    """A copy of DOCUMENT with every secret string replaced by REDACTED, and the set of secrets found.

    EXTRA_KEYS adds exact key names (lower case) to the rule.
    """
    found: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            copied = {}
            for key, value in node.items():
                if isinstance(value, str) and value and (is_secret_key(key) or str(key).lower() in extra_keys):
                    found.add(value)
                    copied[key] = REDACTED
                else:
                    copied[key] = walk(value)
            return copied
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(document), found


def mask(text: str, secrets: set[str]) -> str:
    """TEXT with each of SECRETS replaced, longest first so a secret inside another is not left half-shown."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
