# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a pushed image index back from its registry (docker buildx imagetools inspect --raw)."""
from __future__ import annotations

import hashlib
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, DockerCliError
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import load_json_object
from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import ATTESTATION_PLATFORM, format_platform

_NOT_FOUND_MARKERS = ("not found", "manifest unknown", "name unknown", "no such manifest")


class ImageNotFound(BuildhostError):
    pass


def describe_index(raw: str) -> dict:
    """Digest, media type, manifests and platforms of the raw manifest (an index or a single image)."""
    document = load_json_object(raw, "the registry's manifest")
    digest = "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
    manifests = []
    entries = document.get("manifests") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("platform") or {}, dict) for e in entries):
        raise DockerCliError(f"the registry's index has manifests of an unexpected shape: {raw[:200]!r}")
    for entry in entries:
        platform = format_platform(entry.get("platform") or {})
        manifests.append({"platform": platform, "digest": entry.get("digest"), "media_type": entry.get("mediaType")})
    platforms = [m["platform"] for m in manifests if m["platform"] != ATTESTATION_PLATFORM]
    return {"exists": True, "digest": digest, "media_type": document.get("mediaType"), "manifests": manifests, "platforms": platforms}


def inspect_image(cli: DockerCli, name: str) -> dict:
    return describe_index(inspect_raw(cli, name))


def inspect_raw(cli: DockerCli, name: str) -> str:
    """The exact manifest (index or image) the registry serves for NAME; raises ImageNotFound for a missing tag."""
    rc, out, err = cli.run(["buildx", "imagetools", "inspect", "--raw", name])
    if rc != 0:
        message = (err or out).strip()
        if any(marker in message.lower() for marker in _NOT_FOUND_MARKERS):
            raise ImageNotFound(message)
        raise DockerCliError(f"docker buildx imagetools inspect {name} failed: {message}")
    # --raw prints the exact bytes the registry served (plus a newline), so hashing them gives the digest.
    return out[:-1] if out.endswith("\n") else out


def image_platform_digests(index: dict) -> dict[str, str]:
    """Platform -> image digest, attestations left out: what changes exactly when an image changes.

    The index digest also moves when only the provenance attestation's timestamp does.
    """
    return {m["platform"]: m["digest"] for m in index["manifests"] if m["platform"] != ATTESTATION_PLATFORM}


def read_image(cli: DockerCli, name: str) -> dict[str, Any]:
    """inspect_image, with a missing tag as exists=false."""
    try:
        return inspect_image(cli, name)
    except ImageNotFound:
        return missing_image()


def missing_image() -> dict[str, Any]:
    return {"exists": False, "digest": None, "media_type": None, "manifests": [], "platforms": []}
