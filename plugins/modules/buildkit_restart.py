#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: buildkit_restart
short_description: Restart a BuildKit daemon's container when its files changed, once no build runs there
version_added: 0.3.0
description:
  - BuildKit reads its certificates and C(buildkitd.toml) only when it starts, and a restart kills every build in
    flight. This module restarts the daemon's container when one of O(files) is newer than the daemon's start, and
    only once C(buildctl debug histories) shows no build running, waiting O(wait) seconds at most.
  - Past the wait the daemon is left running, a warning says so, and RV(restart_pending) is true. The next run finds
    the files still newer than the daemon and tries again, so a renewal is never lost.
  - Used by the P(multiarch.buildhost.buildkit#role) role after a certificate renewal or a configuration change.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
options:
  container:
    description: The name of the container the daemon runs in (it must hold C(buildctl)).
    type: str
    required: true
  files:
    description: The files the daemon reads when it starts (certificates, key, C(buildkitd.toml)).
    type: list
    elements: path
    required: true
  wait:
    description: How many seconds to wait at most for the running builds to finish.
    type: int
    default: 600
  poll:
    description: How many seconds between two looks at the running builds.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    details: Predicts the restart without waiting for running builds.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Restart BuildKit after a renewal, without killing a build in flight
  multiarch.buildhost.buildkit_restart:
    container: multiarch-buildkitd
    files:
      - /etc/multiarch-buildhost/buildkit/server/cert.pem
      - /etc/multiarch-buildhost/buildkit/server/ca.pem
      - /etc/multiarch-buildhost/buildkit/buildkitd.toml
    wait: 600
"""

RETURN = r"""
restart_due:
  description: Whether one of O(files) is newer than the daemon's start.
  returned: always
  type: bool
restarted:
  description: Whether the container was restarted (in check mode, would be).
  returned: always
  type: bool
restart_pending:
  description: The restart is due but builds were still running after O(wait) seconds; the next run tries again.
  returned: always
  type: bool
running_builds:
  description: How many builds were running at the last look.
  returned: always
  type: int
waited_seconds:
  description: How long the module waited for running builds.
  returned: always
  type: float
newer_files:
  description: The O(files) changed after the daemon started.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildkit_restart import DaemonContainer, restart_when_idle
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", required=True),
            files=dict(type="list", elements="path", required=True),
            wait=dict(type="int", default=600),
            poll=dict(type="float", default=2.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        daemon = DaemonContainer(p["container"], DockerCli(module).run)
        outcome = restart_when_idle(daemon, p["files"], p["wait"], p["poll"], module.check_mode)
    except BuildhostError as exc:
        module.fail_json(msg=f"buildkit_restart: {exc}")
    if outcome.due and not outcome.restarted:
        module.warn(f"{p['container']}: {outcome.running_builds} build(s) still running after {p['wait']} s, so BuildKit"
                    f" was not restarted and still serves what it read at its start; the next run restarts it")
    module.exit_json(**outcome.result())


if __name__ == "__main__":
    main()
