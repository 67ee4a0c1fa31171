#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Merge settings into the Docker daemon's configuration (daemon.json)
version_added: 0.1.0
description:
  - Deep-merges settings into C(/etc/docker/daemon.json) and sets C(experimental), which dockerd reads as a
    JSON B(boolean).
  - Every other key (C(registry-mirrors), C(log-driver), C(features), ...) is kept, and the file keeps its owner
    and mode. A new file is C(0644), owned by root.
  - Before anything is written, the candidate file is checked with C(dockerd --validate) where the installed
    dockerd supports it (Docker 23.0 and newer). A candidate that dockerd rejects fails the task.
  - The module does not restart dockerd; RV(restart_required) tells the caller to (the P(multiarch.buildhost.docker#role)
    role notifies the P(multiarch.buildhost.multiarch#role) role's handler, which restarts it with
    M(multiarch.buildhost.dockerd_restart) and rolls back when it does not come back).
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
  - multiarch.buildhost.json_settings
options:
  path:
    description:
      - The daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  experimental:
    description:
      - Written as JSON V(true) or V(false). Set to V(null) to leave the key as it is.
      - Declared C(raw) only so that an explicit V(null) is accepted; any boolean spelling Ansible knows works.
    type: raw
    default: true
  validate:
    description:
      - Check the candidate with C(dockerd --validate --config-file) before writing it.
      - Where dockerd is missing or too old to validate, the file is written and RV(validation) says it was not checked.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Enable experimental features and the containerd image store
  multiarch.buildhost.docker_daemon_config:
    settings:
      features:
        containerd-snapshotter: true
  register: daemon_config

- name: Drop a mirror setting, keep the rest
  multiarch.buildhost.docker_daemon_config:
    remove_keys:
      - registry-mirrors
    backup: true
"""

RETURN = r"""
path:
  description: The file that was managed.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
config:
  description: The resulting daemon configuration.
  returned: always
  type: dict
  sample: {"experimental": true, "features": {"containerd-snapshotter": true}}
restart_required:
  description:
    - Whether dockerd must be restarted to apply the change (true exactly when the content changed; an owner or mode
      correction needs no restart).
  returned: always
  type: bool
validated:
  description: Whether dockerd checked the candidate file.
  returned: always
  type: bool
validation:
  description: How the candidate was checked, or why it was not.
  returned: always
  type: str
  sample: "not validated: this dockerd has no --validate option (it arrived in Docker 23.0)"
removed_keys:
  description: The entries of O(remove_keys) that were found (and so removed, or in check mode would be). The others
    are reported as warnings.
  returned: always
  type: list
  elements: str
backup_file:
  description: The copy of the previous file, when O(backup) made one. It has the file's new mode.
  returned: changed and O(backup=true) and the file existed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._dockerd import Validation, validate_daemon_config
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_config_file import (
    DAEMON_JSON,
    DAEMON_JSON_POLICY,
    daemon_json_overlay,
    json_file_argument_spec,
    optional_bool,
    update_json_file,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import without_path_stat


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default=DAEMON_JSON),
            experimental=dict(type="raw", default=True),
            validate=dict(type="bool", default=True),
            **json_file_argument_spec(),
        ),
        supports_check_mode=True,
    )
    without_path_stat(module)
    p = module.params
    validation = [Validation(False, "not validated: nothing to change" if p["validate"] else "not validated: validate=false")]

    def check(plan) -> None:
        if p["validate"]:
            validation[0] = validate_daemon_config(module, plan.content, p["path"])

    try:
        overlay = daemon_json_overlay(p["settings"], optional_bool(module, "experimental"))
        result, restart_required = update_json_file(module, p["path"], DAEMON_JSON_POLICY, overlay, check=check)
    except BuildhostError as exc:
        module.fail_json(msg=f"docker_daemon_config: {exc}", path=p["path"])
    module.exit_json(restart_required=restart_required, validated=validation[0].validated, validation=validation[0].detail, **result)


if __name__ == "__main__":
    main()
