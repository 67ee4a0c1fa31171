#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: imagetools_info
short_description: Read a pushed image index from its registry
version_added: 0.1.0
description:
  - Reads the manifest list (image index) of an image from its registry with C(docker buildx imagetools inspect),
    using O(owner)'s registry credentials.
  - Lists each manifest's platform and digest; RV(platforms) leaves out buildx's attestation manifests
    (C(unknown/unknown)).
  - A tag that does not exist gives RV(exists=false), not a failure.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
options:
  name:
    description: The image reference, for example V(registry.example.com/team/app:1.2).
    type: str
    required: true
requirements:
  - docker CLI with the buildx plugin.
"""

EXAMPLES = r"""
- name: Read the pushed index
  multiarch.buildhost.imagetools_info:
    name: localhost:5000/demo/app:latest
    owner: builder
  register: index

- name: Prove every platform was pushed
  ansible.builtin.assert:
    that: "['linux/amd64', 'linux/arm64'] | difference(index.platforms) | length == 0"
"""

RETURN = r"""
exists:
  description: Whether the reference exists in the registry.
  returned: always
  type: bool
digest:
  description: The index's digest.
  returned: always
  type: str
  sample: sha256:4c1b...
media_type:
  description: The index's media type.
  returned: always
  type: str
  sample: application/vnd.oci.image.index.v1+json
manifests:
  description: Every manifest in the index, attestations included.
  returned: always
  type: list
  elements: dict
  sample: [{"platform": "linux/arm64", "digest": "sha256:...", "media_type": "application/vnd.oci.image.manifest.v1+json"}]
platforms:
  description: The image platforms in the index, attestation manifests left out.
  returned: always
  type: list
  elements: str
  sample: [linux/amd64, linux/arm64]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import user_client_argument_spec, user_docker_cli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import read_image


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str", required=True), **user_client_argument_spec()),
        supports_check_mode=True,
    )
    try:
        cli = user_docker_cli(module)
        result = read_image(cli, module.params["name"])
    except BuildhostError as exc:
        module.fail_json(msg=f"imagetools_info: {module.params['name']}: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
