# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pushed index says about how each platform was built: its attestation manifests and their SLSA provenance.

BuildKit v0.13 writes SLSA v0.2 provenance (``--attest type=provenance``) into an attestation manifest per platform,
which buildx lists in the index with platform ``unknown/unknown`` and the annotation
``vnd.docker.reference.digest`` naming the image manifest it is about.
"""
from __future__ import annotations

import json
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, DockerCliError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import load_json_object
from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import ATTESTATION_PLATFORM, format_platform
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact

REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
BUILD_ARG_PREFIX = "build-arg:"


def attested_digests(raw: str) -> set[str]:
    """The image manifest digests that an attestation manifest of the index RAW refers to."""
    document = load_json_object(raw, "the registry's manifest")
    attested = set()
    for entry in document.get("manifests") or []:
        if not isinstance(entry, dict) or format_platform(entry.get("platform") or {}) != ATTESTATION_PLATFORM:
            continue
        annotations = entry.get("annotations") or {}
        if isinstance(annotations, dict) and annotations.get(REFERENCE_TYPE) == "attestation-manifest":
            if isinstance(annotations.get(REFERENCE_DIGEST), str):
                attested.add(annotations[REFERENCE_DIGEST])
    return attested


def _materials(slsa: dict) -> list[dict[str, Any]]:
    materials = []
    for material in slsa.get("materials") or []:
        if not isinstance(material, dict):
            continue
        digests = material.get("digest") if isinstance(material.get("digest"), dict) else {}
        digest = next((f"{algorithm}:{value}" for algorithm, value in sorted(digests.items())), None)
        materials.append({"uri": material.get("uri"), "digest": digest})
    return materials


def describe_provenance(slsa: Any) -> dict[str, Any]:
    """builder_id, materials and build_args of one platform's SLSA v0.2 predicate, build args masked as the
    collection masks secrets (a secret's name such as API_TOKEN, a URL's userinfo)."""
    if not isinstance(slsa, dict) or not slsa:
        return {"provenance": False, "builder_id": None, "materials": [], "build_args": {}}
    builder = slsa.get("builder") if isinstance(slsa.get("builder"), dict) else {}
    invocation = slsa.get("invocation") if isinstance(slsa.get("invocation"), dict) else {}
    parameters = invocation.get("parameters") if isinstance(invocation.get("parameters"), dict) else {}
    args = parameters.get("args") if isinstance(parameters.get("args"), dict) else {}
    build_args = {key[len(BUILD_ARG_PREFIX):]: value for key, value in args.items() if key.startswith(BUILD_ARG_PREFIX)}
    shown, _found = redact(build_args)
    return {"provenance": True, "builder_id": builder.get("id") or None, "materials": _materials(slsa),
            "build_args": shown}


def provenance_by_platform(document: Any, platforms: list[str]) -> dict[str, Any]:
    """Platform -> SLSA predicate, from ``imagetools inspect --format '{{json .Provenance}}'``'s output.

    For an index it maps each platform to ``{"SLSA": ...}``; for a single image it is ``{"SLSA": ...}`` itself, which
    belongs to the one platform in PLATFORMS.
    """
    if not isinstance(document, dict):
        return {}
    if "SLSA" in document:
        return {platforms[0]: document["SLSA"]} if len(platforms) == 1 else {}
    return {platform: entry.get("SLSA") for platform, entry in document.items() if isinstance(entry, dict)}


def is_single_image(raw: str) -> bool:
    """Whether RAW is one image manifest (a config and layers) rather than an index of them."""
    document = load_json_object(raw, "the registry's manifest")
    return "manifests" not in document and "config" in document


def read_image_platform(cli: DockerCli, reference: str) -> str:
    """The platform of a single image manifest, from its config (an index names its platforms itself)."""
    out = cli.checked(["buildx", "imagetools", "inspect", reference, "--format", "{{json .Image}}"])
    try:
        config = json.loads(out)
    except ValueError as exc:
        raise DockerCliError(f"docker buildx imagetools inspect {reference} printed no JSON image config: {out[:200]!r}") from exc
    if not isinstance(config, dict) or not config.get("architecture"):
        raise DockerCliError(f"the image config of {reference} names no architecture: {out[:200]!r}")
    return format_platform({key: config.get(key) for key in ("os", "architecture", "variant")})


def read_provenance(cli: DockerCli, reference: str, platforms: list[str]) -> dict[str, Any]:
    out = cli.checked(["buildx", "imagetools", "inspect", reference, "--format", "{{json .Provenance}}"])
    try:
        document = json.loads(out) if out.strip() else None
    except ValueError as exc:
        raise DockerCliError(f"docker buildx imagetools inspect {reference} printed no JSON provenance: {out[:200]!r}") from exc
    return provenance_by_platform(document, platforms)
