#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_config
short_description: Configure GitLab Runner's config.toml for privileged Docker-in-Docker builds
version_added: 0.1.0
description:
  - Edits C(/etc/gitlab-runner/config.toml) as TOML with a style-preserving library, so comments, order, unknown keys
    and the other runners survive, and no key or table is ever duplicated however often it runs.
  - Sets the global C(concurrent) and, for the selected runners, C([runners.docker]) C(privileged),
    C(services_privileged), C(allowed_privileged_images), C(allowed_privileged_services), any other docker keys, and
    makes C(volumes) contain what is asked (V(/certs/client) for Docker-in-Docker with TLS), keeping its entries.
  - Runner tokens and cache credentials never appear in the result or the diff.
  - GitLab Runner reloads config.toml by itself; no restart is needed.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
options:
  path:
    description: The runner configuration.
    type: path
    default: /etc/gitlab-runner/config.toml
  runners:
    description:
      - Names of the runners to configure. By default every runner whose executor is V(docker).
      - A name that is not in the file fails the task.
    type: list
    elements: str
  privileged:
    description: Run job and service containers privileged (needed by docker:dind).
    type: bool
  services_privileged:
    description: Override O(privileged) for service containers.
    type: bool
  allowed_privileged_images:
    description: Wildcard list of job images that may run privileged. An empty list in GitLab means every image.
    type: list
    elements: str
  allowed_privileged_services:
    description: Wildcard list of service images that may run privileged, for example V(docker:*-dind).
    type: list
    elements: str
  volumes:
    description: Volumes each selected runner must have; entries already there are kept.
    type: list
    elements: str
    default: [/certs/client]
  docker:
    description: Other C([runners.docker]) keys to set, for example V(tls_verify) or V(shm_size).
    type: dict
    default: {}
  concurrent:
    description: The global number of jobs that may run at once.
    type: int
  backup:
    description: Keep a timestamped copy of the previous file.
    type: bool
    default: false
requirements:
  - tomlkit on the managed host.
"""

EXAMPLES = r"""
- name: Privileged Docker-in-Docker, only for the dind service
  multiarch.buildhost.gitlab_runner_config:
    privileged: true
    allowed_privileged_services: ["docker:*-dind", "docker.io/library/docker:*-dind"]
    allowed_privileged_images: ["docker:*-dind"]
    concurrent: 4
"""

RETURN = r"""
changed_runners:
  description: Runners whose settings changed.
  returned: always
  type: list
  elements: str
runner_names:
  description: Every runner in the file.
  returned: always
  type: list
  elements: str
backup_file:
  description: The copy of the previous file.
  returned: changed and O(backup=true)
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import tomlkit  # noqa: F401  pylint: disable=unused-import
    TOMLKIT_IMPORT_ERROR = None
except ImportError:
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.multiarch.buildhost.plugins.module_utils._atomic_file import FileRefused, exclusive_lock, read_regular_file, write_atomically
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import (
    RunnerConfigError,
    apply_settings,
    parse,
    redact_text,
    render,
    runner_names,
    secret_values,
    select_runners,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/gitlab-runner/config.toml"),
            runners=dict(type="list", elements="str"),
            privileged=dict(type="bool"),
            services_privileged=dict(type="bool"),
            allowed_privileged_images=dict(type="list", elements="str"),
            allowed_privileged_services=dict(type="list", elements="str"),
            volumes=dict(type="list", elements="str", default=["/certs/client"]),
            docker=dict(type="dict", default={}),
            concurrent=dict(type="int"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if TOMLKIT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("tomlkit"), exception=TOMLKIT_IMPORT_ERROR)
    p = module.params
    path = p["path"]
    with exclusive_lock(path):
        try:
            before = read_regular_file(path)
            if not before.exists:
                raise RunnerConfigError(f"{path} does not exist; register a runner first (gitlab-runner register)")
            original = before.content.decode("utf-8")
            document = parse(path, original)
            module.no_log_values.update(secret_values(document))
            runners = select_runners(path, document, p["runners"])
            changed_runners = apply_settings(document, runners, p)
        except (FileRefused, RunnerConfigError, UnicodeDecodeError) as exc:
            module.fail_json(msg=str(exc), path=path)
        updated = render(document)
        changed = updated != original
        result = dict(changed=changed, changed_runners=changed_runners, runner_names=runner_names(document), path=path)
        if module._diff:
            result["diff"] = dict(before=redact_text(original), after=redact_text(updated), before_header=path, after_header=path)
        if changed and not module.check_mode:
            if p["backup"]:
                result["backup_file"] = module.backup_local(path)
            write_atomically(path, updated.encode("utf-8"), before.mode, before.uid, before.gid)
        module.exit_json(**result)


if __name__ == "__main__":
    main()
