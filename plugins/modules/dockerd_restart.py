#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: dockerd_restart
short_description: Restart dockerd, rolling a changed daemon.json back when dockerd does not come back
version_added: 0.3.0
description:
  - Restarts C(docker.service) when it is active (a host without an engine, or with dockerd stopped on purpose, has
    nothing to restart) and waits up to O(timeout) seconds for dockerd to answer C(docker version).
  - When dockerd does not answer, the module reads dockerd's own last words from the journal, restores the daemon.json
    named in O(rollback) (or removes it, when there was none before), starts dockerd again and fails with the daemon's
    error. The host is never left without a running Docker because of a file this play wrote.
  - The P(multiarch.buildhost.multiarch#role) role's one dockerd restart handler runs it.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
options:
  rollback:
    description:
      - The daemon.json this play changed, as M(multiarch.buildhost.docker_daemon_config) returned it with
        O(multiarch.buildhost.docker_daemon_config#module:backup=true). Omitted, nothing is rolled back.
    type: dict
    suboptions:
      path:
        description: The daemon.json to restore.
        type: path
        required: true
      backup_file:
        description: The copy of what it held before. Omitted or null, the file did not exist before and is removed.
        type: path
  timeout:
    description: How many seconds to wait for dockerd to answer after each start.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    details: Predicts the restart of an active dockerd, and restarts nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: A restart is an action; the handler that runs it is notified only when something changed.
"""

EXAMPLES = r"""
- name: Restart dockerd for a changed daemon.json, restoring it when dockerd does not come back
  multiarch.buildhost.dockerd_restart:
    rollback:
      path: "{{ docker_daemon_config.path }}"
      backup_file: "{{ docker_daemon_config.backup_file | default(omit) }}"
    timeout: 60
"""

RETURN = r"""
restarted:
  description: Whether dockerd was restarted (in check mode, would be).
  returned: always
  type: bool
waited_seconds:
  description: How long dockerd took to answer after the restart.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._dockerd_restart import (
    Dockerd, DockerdDidNotComeBack, Rollback, restart_dockerd)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            rollback=dict(type="dict", options=dict(path=dict(type="path", required=True),
                                                    backup_file=dict(type="path"))),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # An empty backup_file (what default(none) renders on older ansible-core) means none, as null does.
    rollback = Rollback(p["rollback"]["path"], p["rollback"]["backup_file"] or None) if p["rollback"] else None
    dockerd = Dockerd(module.run_command, module.get_bin_path("docker") or "docker")
    try:
        outcome = restart_dockerd(dockerd, rollback, p["timeout"], check_mode=module.check_mode)
    except (DockerdDidNotComeBack, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=outcome.restarted, restarted=outcome.restarted, waited_seconds=round(outcome.waited_seconds, 1),
                     msg=outcome.msg)


if __name__ == "__main__":
    main()
