#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: docker_cli_config
short_description: Merge settings into a user's Docker client configuration (config.json)
version_added: 0.1.0
description:
  - Deep-merges settings into a user's C(~/.docker/config.json) and sets C(experimental), which the Docker
    CLI reads as the B(string) V(enabled) or V(disabled). Docker 19.03 needs it for C(docker buildx).
  - Every other key (C(auths), C(credsStore), C(credHelpers), C(proxies), ...) is kept.
  - The file is owned by O(owner), mode C(0600) (a more open mode is narrowed), and a C(~/.docker) directory
    the module creates is C(0700).
  - Registry credentials found in the file or in O(settings) never appear in the result, the diff or the logs.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
  - multiarch.buildhost.json_settings
options:
  owner:
    description:
      - The user whose configuration is managed. Defaults to the user the module runs as.
    type: str
  path:
    description:
      - The file to manage. Defaults to C(config.json) in the C(.docker) directory of O(owner)'s home.
    type: path
  experimental:
    description:
      - Written as V(enabled) when true and V(disabled) when false.
      - Set to V(null) to leave the key as it is.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Enable the experimental CLI features for the build user
  multiarch.buildhost.docker_cli_config:
    owner: builder

- name: Use a credential helper for one registry, keeping everything else
  multiarch.buildhost.docker_cli_config:
    owner: builder
    settings:
      credHelpers:
        registry.example.com: pass
    backup: true
"""

RETURN = r"""
path:
  description: The file that was managed.
  returned: always
  type: str
  sample: /home/builder/.docker/config.json
config:
  description: The resulting configuration, with registry credentials replaced by C(********).
  returned: always
  type: dict
  sample: {"auths": {"registry.example.com": {"auth": "********"}}, "experimental": "enabled"}
backup_file:
  description: The copy of the previous file, when O(backup) made one.
  returned: changed and O(backup=true) and the file existed
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._atomic_file import (
    ensure_directory,
    exclusive_lock,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_config import apply_json_update, plan_or_fail
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_file import (
    redact,
    secret_values,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import UnknownOwner, resolve_owner

# Keys under which the Docker CLI stores credentials (auths.<registry>.auth and friends).
CREDENTIAL_KEYS = frozenset({"auth", "password", "identitytoken", "registrytoken"})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type="str"),
            path=dict(type="path"),
            experimental=dict(type="bool", default=True),
            settings=dict(type="dict", default={}),
            remove_keys=dict(type="list", elements="str", default=[], no_log=False),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # Credentials passed in settings are masked from here on, including in the echoed invocation.
    module.no_log_values.update(secret_values(p["settings"], CREDENTIAL_KEYS))
    try:
        owner = resolve_owner(p["owner"])
    except UnknownOwner as exc:
        module.fail_json(msg=f"docker_cli_config: {exc}, so its config.json cannot be managed")
    path = p["path"] or os.path.join(owner.docker_config_dir, "config.json")

    overlay = dict(p["settings"])
    if p["experimental"] is not None:
        overlay["experimental"] = "enabled" if p["experimental"] else "disabled"
    with exclusive_lock(path):
        update = plan_or_fail(module, path, overlay, p["remove_keys"])
        before = update.before
        module.no_log_values.update(secret_values(update.before_doc, CREDENTIAL_KEYS))

        # Credentials must never become readable by others: anything beyond the owner's bits is dropped.
        mode = (before.mode & 0o600) if before.exists else 0o600
        gid = before.gid if before.exists else owner.gid
        config_dir = os.path.dirname(path)
        result = apply_json_update(
            module,
            update,
            mode,
            owner.uid,
            gid,
            before_write=lambda: ensure_directory(config_dir, 0o700, owner.uid, owner.gid),
            shown=lambda doc: redact(doc, CREDENTIAL_KEYS),
        )
        module.exit_json(**result)


if __name__ == "__main__":
    main()
