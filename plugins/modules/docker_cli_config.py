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
  - multiarch.buildhost.owner
options:
  path:
    description:
      - The file to manage. Defaults to C(config.json) in the C(.docker) directory of O(owner)'s home.
    type: path
  experimental:
    description:
      - Written as V(enabled) when true and V(disabled) when false.
      - Set to V(null) to leave the key as it is.
      - Declared C(raw) only so that an explicit V(null) is accepted; any boolean spelling Ansible knows works.
    type: raw
    default: true
  registry_login:
    description:
      - A registry login to look for, without changing anything. The result's RV(registry_login_stored) says whether
        the file already stores it.
      - The build role asks this before C(docker login), so that the login reports a change only when it stores
        something new. The password is never returned or logged.
    type: dict
    version_added: 0.3.0
    suboptions:
      registry:
        description: The registry's name as C(docker login) stores it (C(auths) key).
        type: str
        required: true
      username:
        description: The user name.
        type: str
        required: true
      password:
        description: The password or token.
        type: str
        required: true
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
removed_keys:
  description: The entries of O(remove_keys) that were found (and so removed, or in check mode would be). The others
    are reported as warnings.
  returned: always
  type: list
  elements: str
registry_login_stored:
  description: Whether the file stores O(registry_login) (or hands that registry to a credential store, where it cannot
    be compared).
  returned: when O(registry_login) is given
  type: bool
backup_file:
  description: The copy of the previous file, when O(backup) made one. It has the file's new mode.
  returned: changed and O(backup=true) and the file existed
  type: str
"""

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_config_file import (
    cli_config_overlay,
    cli_config_policy,
    json_file_argument_spec,
    optional_bool,
    update_json_file,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import without_path_stat
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import owner_argument_spec, resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._registry_login import login_is_stored
from ansible_collections.multiarch.buildhost.plugins.module_utils._unlogged_module import UnloggedModule


def main() -> None:
    module = UnloggedModule(
        argument_spec=dict(
            owner_argument_spec(),
            path=dict(type="path"),
            experimental=dict(type="raw", default=True),
            registry_login=dict(type="dict", options=dict(
                registry=dict(type="str", required=True),
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            )),
            **json_file_argument_spec(),
        ),
        supports_check_mode=True,
        # Not logged to the host's journal or syslog: settings may hold registry credentials (auths.<registry>.auth),
        # and the journal keeps whatever a module logs. The result is masked separately (update_json_file).
        no_log=True,
    )
    without_path_stat(module)
    p = module.params
    try:
        owner = resolve_owner(p["owner"])
        overlay = cli_config_overlay(p["settings"], optional_bool(module, "experimental"))
        policy = cli_config_policy(owner)
        login = p["registry_login"]
        stored: list[bool] = []

        def observe(document: dict) -> None:
            if login:
                stored.append(login_is_stored(document, login["registry"], login["username"], login["password"]))

        path = p["path"] or owner.docker_config_path
        result, _document_changed = update_json_file(module, path, policy, overlay, observe=observe)
        if login:
            result["registry_login_stored"] = stored[-1]
    except BuildhostError as exc:
        module.fail_json(msg=f"docker_cli_config: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
