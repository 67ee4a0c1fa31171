#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: image_sign
short_description: Sign a pushed image index and each platform's manifest with a cosign key
version_added: 0.1.0
description:
  - Resolves O(image) to the digest its registry serves, then signs C(REPOSITORY@DIGEST) with C(cosign sign) and
    the private key O(key), without a transparency log (C(--tlog-upload=false)). With O(platforms), each platform's
    image manifest is signed too; buildx's attestation manifests (C(unknown/unknown)) never are.
  - The password reaches cosign in its environment (C(COSIGN_PASSWORD)), never on its command line, and is masked in
    every message.
  - With O(public_key), what already verifies against it is not signed again, so a second run reports no change.
    Without it every run signs, and cosign adds a signature each time.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
attributes:
  check_mode:
    support: full
    details: Predicts which digests would be signed; with O(public_key) it verifies them first.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Only with O(public_key), against which already signed digests verify; without it every run signs again.
options:
  image:
    description: The pushed image, by tag or digest, for example V(registry.example.com/team/app:1.2).
    type: str
    required: true
  key:
    description: Path, on the managed host, of the cosign private key (as C(cosign generate-key-pair) writes it).
    type: path
    required: true
  password:
    description: The private key's password.
    type: str
    required: true
  public_key:
    description:
      - Path of the public key of O(key). Digests that already verify against it are not signed again, and each
        digest signed is verified after signing (which also proves O(key) and O(public_key) are a pair).
    type: path
  platforms:
    description: Also sign each platform's image manifest, not only the index.
    type: bool
    default: true
  allow_http_registry:
    description: Let cosign talk plain HTTP to the registry (C(--allow-http-registry)), as a local registry needs.
    type: bool
    default: false
requirements:
  - cosign 2 (Debian trixie ships 2.5), and the docker CLI with the buildx plugin.
"""

EXAMPLES = r"""
- name: Sign the pushed index and its platforms
  multiarch.buildhost.image_sign:
    image: localhost:5000/demo/app:1.2
    key: /etc/multiarch-buildhost/cosign.key
    password: "{{ vault_cosign_password }}"
    public_key: /etc/multiarch-buildhost/cosign.pub
    allow_http_registry: true
"""

RETURN = r"""
digest:
  description: The digest O(image) resolved to (the index's, or the image's when it is a single manifest).
  returned: always
  type: str
  sample: sha256:4d99...
digests:
  description: Every digest that needs a signature, the index first, then each platform's.
  returned: always
  type: list
  elements: dict
  sample: [{"platform": null, "digest": "sha256:4d99..."}, {"platform": "linux/arm64", "digest": "sha256:8f39..."}]
signed:
  description: The digests signed by this run (in check mode, those that would be).
  returned: always
  type: list
  elements: dict
  sample: [{"platform": "linux/arm64", "digest": "sha256:8f39...", "reference": "localhost:5000/demo/app@sha256:8f39..."}]
key_fingerprint:
  description: The sha256 of the signing key's public key (DER), derived from O(key) with its password.
  returned: always
  type: str
  sample: sha256:9a0c...
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._cosign import (
    Cosign, CosignError, digest_reference, key_fingerprint, private_key_secrets)
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import user_client_argument_spec, user_docker_cli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import ImageNotFound, describe_index, inspect_raw
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._platform import ATTESTATION_PLATFORM


def signing_targets(image: str, index: dict, platforms: bool) -> list[dict]:
    """The index's digest, then (with PLATFORMS) each image manifest's; attestation manifests are never signed."""
    targets = [{"platform": None, "digest": index["digest"]}]
    if platforms:
        targets += [{"platform": m["platform"], "digest": m["digest"]} for m in index["manifests"]
                    if m["platform"] != ATTESTATION_PLATFORM]
    for target in targets:
        target["reference"] = digest_reference(image, target["digest"])
    return targets


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str", required=True),
            key=dict(type="path", required=True, no_log=False),
            password=dict(type="str", required=True, no_log=True),
            public_key=dict(type="path", no_log=False),
            platforms=dict(type="bool", default=True),
            allow_http_registry=dict(type="bool", default=False),
            **user_client_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    secrets = {params["password"]} | private_key_secrets(params["key"])
    module.no_log_values.update(secrets)
    image = params["image"]
    try:
        binary = module.get_bin_path("cosign")
        if binary is None:
            raise CosignError("cosign is not installed on this host (Debian trixie and later ship it)")
        owner = resolve_owner(params.get("owner"))
        cli = user_docker_cli(module, owner)
        try:
            index = describe_index(inspect_raw(cli, image))
        except ImageNotFound as exc:
            raise CosignError(f"the registry has no such image: {exc}") from exc
        cosign = Cosign(binary, owner=owner, allow_http_registry=params["allow_http_registry"], secrets=secrets)
        # Before anything is signed: the password opens the key, and the key is the one reported.
        fingerprint = key_fingerprint(cosign.public_key(params["key"], params["password"]))
        targets = signing_targets(image, index, params["platforms"])
        pending = targets
        if params["public_key"]:
            pending = [t for t in targets if not cosign.verify(t["reference"], params["public_key"])["verified"]]
        if not module.check_mode:
            for target in pending:
                cosign.sign(target["reference"], params["key"], params["password"])
                if params["public_key"]:
                    after = cosign.verify(target["reference"], params["public_key"])
                    if not after["verified"]:
                        raise CosignError(f"{target['reference']} was signed but does not verify against"
                                          f" {params['public_key']} (is it the public key of {params['key']}?):"
                                          f" {after['error']}")
    except BuildhostError as exc:
        module.fail_json(msg=f"image_sign: {image}: {exc}")
    module.exit_json(changed=bool(pending), digest=index["digest"], key_fingerprint=fingerprint,
                     digests=[{"platform": t["platform"], "digest": t["digest"]} for t in targets], signed=pending)


if __name__ == "__main__":
    main()
