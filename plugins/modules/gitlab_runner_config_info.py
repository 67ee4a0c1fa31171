#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_config_info
short_description: Read which runners GitLab Runner's config.toml holds
version_added: 0.2.0
description:
  - Reads C(/etc/gitlab-runner/config.toml) and reports each runner's name, executor, URL and privileged mode,
    and the global C(concurrent). Tokens, cache credentials and credentials in a runner's URL are never returned.
  - A missing file is reported as RV(exists=false) (no runner registered yet). A file that cannot be read as
    config.toml fails the task with a message that names the file, so a broken file never reads as "no runners".
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
options:
  path:
    description: The runner configuration.
    type: path
    default: /etc/gitlab-runner/config.toml
requirements:
  - tomlkit on the managed host.
"""

EXAMPLES = r"""
- name: Read the registered runners
  multiarch.buildhost.gitlab_runner_config_info:
  register: runner_config

- name: Show them
  ansible.builtin.debug:
    msg: "{{ runner_config.runner_names }}"
"""

RETURN = r"""
exists:
  description: Whether the file exists.
  returned: always
  type: bool
path:
  description: The file that was read.
  returned: always
  type: str
runner_names:
  description: The name of every runner in the file, in file order.
  returned: always
  type: list
  elements: str
runners:
  description: Each runner's name, executor, URL and C([runners.docker]) privileged mode (V(null) when unset). A
    user name, password or token in the URL (C(https://TOKEN@gitlab.example.com)) is masked.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "dind", "executor": "docker", "url": "https://gitlab.example.com", "privileged": true}]
concurrent:
  description: The global number of jobs that may run at once; V(null) when unset or when the file is missing.
  returned: always
  type: int
"""

import dataclasses
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import tomlkit  # noqa: F401  pylint: disable=unused-import
    TOMLKIT_IMPORT_ERROR = None
except ImportError:
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import without_path_stat
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import MAX_RUNNER_CONFIG_BYTES, parse, summarize
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import read_file


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", default="/etc/gitlab-runner/config.toml")),
        supports_check_mode=True,
    )
    if TOMLKIT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("tomlkit"), exception=TOMLKIT_IMPORT_ERROR)
    without_path_stat(module)
    path = module.params["path"]
    result = dict(changed=False, path=path, exists=False, runner_names=[], runners=[], concurrent=None)
    try:
        state = read_file(path, MAX_RUNNER_CONFIG_BYTES)
        if state.exists:
            document = parse(path, state.content)
            runners = summarize(document)
            concurrent = document.get("concurrent")
            result.update(exists=True, runner_names=[r.name for r in runners], runners=[dataclasses.asdict(r) for r in runners],
                          concurrent=int(concurrent) if isinstance(concurrent, int) else None)
    except BuildhostError as exc:
        module.fail_json(msg=f"gitlab_runner_config_info: {exc}", path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
