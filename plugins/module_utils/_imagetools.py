# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a pushed image index back from its registry (docker buildx imagetools inspect --raw)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli

ATTESTATION_PLATFORM = "unknown/unknown"
_NOT_FOUND_MARKERS = ("not found", "manifest unknown", "name unknown", "no such manifest")


class ImageNotFound(Exception):
    pass


def platform_string(platform: dict) -> str:
    parts = [platform.get("os", ""), platform.get("architecture", "")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def describe_index(raw: str) -> dict:
    """Digest, media type, manifests and platforms of the raw manifest (an index or a single image)."""
    document = json.loads(raw)
    digest = "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
    manifests = []
    for entry in document.get("manifests") or []:
        platform = platform_string(entry.get("platform") or {})
        manifests.append({"platform": platform, "digest": entry.get("digest"), "media_type": entry.get("mediaType")})
    platforms = [m["platform"] for m in manifests if m["platform"] != ATTESTATION_PLATFORM]
    return {"exists": True, "digest": digest, "media_type": document.get("mediaType"), "manifests": manifests, "platforms": platforms}


def inspect_image(cli: DockerCli, name: str) -> dict:
    rc, out, err = cli.run(["buildx", "imagetools", "inspect", "--raw", name])
    if rc != 0:
        message = (err or out).strip()
        if any(marker in message.lower() for marker in _NOT_FOUND_MARKERS):
            raise ImageNotFound(message)
        raise RuntimeError(f"docker buildx imagetools inspect {name} failed: {message}")
    # --raw prints the exact bytes the registry served (plus a newline), so hashing them gives the digest.
    return describe_index(out[:-1] if out.endswith("\n") else out)


def missing_image() -> dict[str, Any]:
    return {"exists": False, "digest": None, "media_type": None, "manifests": [], "platforms": []}
