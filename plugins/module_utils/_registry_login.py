# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a user's config.json already holds a registry login, answered without the credentials leaving the module.

The build role asks this so that `docker login`, which it runs every time (a revoked password fails there, not at the
push), reports a change only when the login was not stored yet.
"""
from __future__ import annotations

import base64
import hmac
from typing import Any


def login_is_stored(document: dict[str, Any], registry: str, username: str, password: str) -> bool:
    """True when DOCUMENT stores USERNAME:PASSWORD for REGISTRY, or hands the registry's credentials to a store.

    A credential store (credsStore, or credHelpers for this registry) keeps them outside config.json, where they
    cannot be compared: counted as stored, so a login through a store reports no change.
    """
    if document.get("credsStore") or registry in (document.get("credHelpers") or {}):
        return True
    entry = (document.get("auths") or {}).get(registry)
    stored = entry.get("auth") if isinstance(entry, dict) else None
    if not isinstance(stored, str):
        return False
    wanted = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return hmac.compare_digest(stored.encode("utf-8"), wanted.encode("ascii"))
