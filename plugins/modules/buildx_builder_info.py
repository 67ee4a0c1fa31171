#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: buildx_builder_info
short_description: List a user's buildx builders, their nodes, platforms and cache usage
version_added: 0.2.0
description:
  - Lists every buildx builder in O(owner)'s Docker client configuration with its driver, nodes (endpoint, status,
    platforms), the platforms it builds, whether it is the current one, and for running builders BuildKit's cache
    usage (C(docker buildx du)). Never changes anything and never starts a builder.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
options:
  cache_usage:
    description: Read the cache usage of running builders (one C(docker buildx du) each).
    type: bool
    default: true
requirements:
  - docker CLI with the buildx plugin 0.13 or newer (C(docker buildx ls --format json)).
"""

EXAMPLES = r"""
- name: Read the build user's builders
  multiarch.buildhost.buildx_builder_info:
    owner: builder
  register: builders
"""

RETURN = r"""
builders:
  description: The owner's builders.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "multiarch", "driver": "docker", "current": true, "platforms": ["linux/amd64", "linux/arm64"],
            "nodes": [{"name": "multiarch", "endpoint": "multiarch", "status": "running", "platforms": ["linux/amd64"]}],
            "cache": {"reclaimable": "361.2MB", "total": "361.2MB"}}]
current:
  description: The name of the owner's current builder.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx_manager import BuilderManager
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import user_client_argument_spec, user_docker_cli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(cache_usage=dict(type="bool", default=True), **user_client_argument_spec()),
        supports_check_mode=True,
    )
    try:
        owner = resolve_owner(module.params["owner"])
        cli = user_docker_cli(module, owner)
        manager = BuilderManager(module, cli, owner)
        current = manager.current_name()
        builders = []
        for builder in manager.list_builders():
            running = any(node.status == "running" for node in builder.nodes)
            cache = manager.cache_usage(builder.name) if running and module.params["cache_usage"] else None
            builders.append(dict(builder.as_result(), current=builder.name == current, cache=cache))
    except BuildhostError as exc:
        module.fail_json(msg=f"buildx_builder_info: {exc}")
    module.exit_json(changed=False, builders=builders, current=current)


if __name__ == "__main__":
    main()
