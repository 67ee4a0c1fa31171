#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: image_verify_info
short_description: Read a pushed image's provenance back and check its cosign signatures, per platform
version_added: 0.1.0
description:
  - Resolves O(image) to the digest its registry serves and reports, for the index and for each platform's image
    manifest, the digest and whether it carries a cosign signature that verifies against O(public_key)
    (C(cosign verify --insecure-ignore-tlog=true), offline).
  - Per platform, reads the SLSA provenance that BuildKit attached (C(--attest type=provenance)) back with
    C(docker buildx imagetools inspect), giving the builder, the materials (base images by digest) and the build
    arguments, masked as the collection masks secrets.
  - Attestation manifests (platform C(unknown/unknown)) are never reported as platforms. A single image manifest
    (no index) is reported as its one platform, read from its config.
  - A digest that does not verify (unsigned, signed with another key, an index rebuilt around a new platform
    manifest) is reported with RV(platforms[].signature.verified=false) and cosign's reason, not as a failure,
    unless O(require_signature) is set.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
options:
  image:
    description: The pushed image, by tag or digest, for example V(registry.example.com/team/app:1.2).
    type: str
    required: true
  public_key:
    description: Path of the cosign public key to verify signatures against. Without it no signature is checked.
    type: path
  require_signature:
    description:
      - Fail, naming each platform and digest, when the index or any platform does not verify against
        O(public_key). Needs O(public_key).
    type: bool
    default: false
  allow_http_registry:
    description: Let cosign talk plain HTTP to the registry (C(--allow-http-registry)), as a local registry needs.
    type: bool
    default: false
requirements:
  - cosign 2 (Debian trixie ships 2.5) when O(public_key) is given, and the docker CLI with the buildx plugin.
"""

EXAMPLES = r"""
- name: Check the pushed image before its tag moves
  multiarch.buildhost.image_verify_info:
    image: localhost:5000/demo/app:1.2
    public_key: /etc/multiarch-buildhost/cosign.pub
    require_signature: true
    allow_http_registry: true
  register: proof

- name: Name the builder of each platform
  ansible.builtin.debug:
    msg: "{{ proof.platforms | items2dict(key_name='platform', value_name='builder_id') }}"
"""

RETURN = r"""
digest:
  description: The digest O(image) resolved to (the index's, or the image's when it is a single manifest).
  returned: always
  type: str
  sample: sha256:4d99...
signature:
  description: The index's own signature, shaped as RV(platforms[].signature); null without O(public_key).
  returned: always
  type: dict
provenance_error:
  description: Why the provenance of an index with attestations could not be read; null when it was, or when none.
  returned: always
  type: str
verified:
  description: Whether the index and every platform verified against O(public_key); false without it.
  returned: always
  type: bool
platforms:
  description: One entry per image manifest of the index, attestation manifests left out (the image itself when
    O(image) is a single manifest).
  returned: always
  type: list
  elements: dict
  contains:
    platform:
      description: The platform, as Docker spells it.
      type: str
      sample: linux/arm64
    digest:
      description: The image manifest's digest.
      type: str
    attestation:
      description: Whether an attestation manifest of the index refers to this image manifest.
      type: bool
    provenance:
      description: Whether SLSA provenance was read back for this platform.
      type: bool
    builder_id:
      description: The provenance's builder id (BuildKit's C(builder-id=)), null when it records none.
      type: str
    materials:
      description: What the build read, each with its C(uri) and C(digest) (base images pinned by digest).
      type: list
      elements: dict
      sample: [{"uri": "pkg:docker/debian@12?platform=linux%2Farm64", "digest": "sha256:..."}]
    build_args:
      description: The build arguments the provenance records, secrets masked.
      type: dict
    signature:
      description: The signature check, null without O(public_key).
      type: dict
      contains:
        verified:
          description: Whether a signature of this digest verifies against O(public_key).
          type: bool
        key_fingerprint:
          description: The sha256 of O(public_key) (DER).
          type: str
        error:
          description: Why it did not verify, in cosign's words; null when it did.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._cosign import (
    Cosign, CosignError, digest_reference, key_fingerprint, read_public_key)
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import (
    DockerCliError, user_client_argument_spec, user_docker_cli)
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import ImageNotFound, describe_index, inspect_raw
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import ATTESTATION_PLATFORM
from ansible_collections.multiarch.buildhost.plugins.module_utils._provenance import (
    attested_digests, describe_provenance, is_single_image, read_image_platform, read_provenance)


def unverified(result: dict) -> list[str]:
    """`what (digest): reason` for the index and each platform that did not verify."""
    entries = [("the index", result["digest"], result["signature"])]
    entries += [(p["platform"], p["digest"], p["signature"]) for p in result["platforms"]]
    return [f"{what} ({digest}): {signature['error'] if signature else 'not checked'}"
            for what, digest, signature in entries if not (signature and signature["verified"])]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str", required=True),
            public_key=dict(type="path", no_log=False),
            require_signature=dict(type="bool", default=False),
            allow_http_registry=dict(type="bool", default=False),
            **user_client_argument_spec(),
        ),
        required_if=[("require_signature", True, ("public_key",))],
        supports_check_mode=True,
    )
    params = module.params
    image = params["image"]
    try:
        owner = resolve_owner(params.get("owner"))
        cli = user_docker_cli(module, owner)
        try:
            raw = inspect_raw(cli, image)
        except ImageNotFound as exc:
            raise CosignError(f"the registry has no such image: {exc}") from exc
        index = describe_index(raw)
        images = [m for m in index["manifests"] if m["platform"] != ATTESTATION_PLATFORM]
        if is_single_image(raw):  # one image, not an index: it is its own only platform
            images = [{"platform": read_image_platform(cli, digest_reference(image, index["digest"])),
                       "digest": index["digest"]}]
        attested = attested_digests(raw)
        provenance, provenance_error = {}, None
        if attested:
            # Provenance that cannot be read (a tampered or foreign attestation) is reported, not a failure: the
            # signatures are still checked.
            try:
                provenance = read_provenance(cli, digest_reference(image, index["digest"]), [m["platform"] for m in images])
            except DockerCliError as exc:
                provenance_error = str(exc)

        check = None
        if params["public_key"]:
            binary = module.get_bin_path("cosign")
            if binary is None:
                raise CosignError("cosign is not installed on this host (Debian trixie and later ship it)")
            fingerprint = key_fingerprint(read_public_key(params["public_key"]))
            cosign = Cosign(binary, owner=owner, allow_http_registry=params["allow_http_registry"])

            verdicts: dict[str, dict] = {}

            def check(digest: str) -> dict:
                if digest not in verdicts:  # a single image is both the index and its only platform
                    verdicts[digest] = dict(cosign.verify(digest_reference(image, digest), params["public_key"]),
                                            key_fingerprint=fingerprint)
                return dict(verdicts[digest])

        platforms = []
        for manifest in images:
            entry = {"platform": manifest["platform"], "digest": manifest["digest"],
                     "attestation": manifest["digest"] in attested}
            entry.update(describe_provenance(provenance.get(manifest["platform"])))
            entry["signature"] = check(manifest["digest"]) if check else None
            platforms.append(entry)
        result = {"digest": index["digest"], "signature": check(index["digest"]) if check else None,
                  "platforms": platforms, "provenance_error": provenance_error}
        result["verified"] = bool(check) and not unverified(result)
    except BuildhostError as exc:
        module.fail_json(msg=f"image_verify_info: {image}: {exc}")
    if params["require_signature"] and not result["verified"]:
        module.fail_json(msg=f"image_verify_info: {image} is not signed with {params['public_key']}: "
                         + "; ".join(unverified(result)), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
