#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: buildkitd_config
short_description: Write a BuildKit daemon's buildkitd.toml (garbage collection and registries)
version_added: 0.3.0
description:
  - Writes the whole C(buildkitd.toml) of a standalone BuildKit daemon, such as the one the
    P(multiarch.buildhost.buildkit#role) role runs, rendered from data with a TOML library. Registry names and values
    are quoted and escaped as TOML needs, whatever characters they hold.
  - The file holds C([worker.oci]) with C(gc = true) and C(gckeepstorage) (and C(bridgeName) and C(bridgeSubnet) when
    O(bridge_name) and O(bridge_subnet) are set), C([history]) when O(history_max_age) or O(history_max_entries) is
    set, and one C([registry."NAME"]) table per entry of O(registries).
  - Each registry's settings are checked against what BuildKit 0.13 reads from C([registry."NAME"]) - C(mirrors),
    C(http), C(insecure), C(ca), C(keypair) and C(tlsconfigdir) - and their shapes. BuildKit would ignore an unknown key
    without a word and refuse to start on a value of the wrong shape; either fails the task, naming the registry,
    before anything is written.
  - The existing file is compared as data. A file that holds the same settings in another layout (comments, order,
    the role's earlier template) is left alone and reports no change, so the daemon is not restarted for it.
  - The write is atomic, and an existing file keeps its owner and mode; a new file is C(0644), owned by root. The
    directory must exist.
  - The module does not restart BuildKit; RV(restart_required) tells the caller to.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
options:
  path:
    description: The configuration file.
    type: path
    required: true
  gc_keep_storage:
    description: Bytes of build cache BuildKit keeps before it collects garbage (C(gckeepstorage)).
    type: int
    required: true
  history_max_age:
    description:
      - How long BuildKit keeps a finished build's record (C([history] maxAge)), as a duration such as V(24h).
      - Every client of the daemon can read those records, build arguments and logs included. Unset, BuildKit keeps
        48 hours.
    type: str
  history_max_entries:
    description: How many finished builds BuildKit keeps at most (C([history] maxEntries)). Unset, BuildKit keeps 50.
    type: int
  bridge_name:
    description:
      - The bridge interface BuildKit's OCI worker attaches build containers to with C(--oci-worker-net bridge)
        (C([worker.oci] bridgeName)), such as V(buildkit1).
      - A Linux interface name of 1 to 15 letters, digits, C(_), C(.) or C(-), other than V(.) and V(..).
      - Two BuildKit daemons on one host that both run in its network namespace need a bridge each. Unset, BuildKit
        uses V(buildkit0).
    type: str
  bridge_subnet:
    description:
      - The IPv4 network BuildKit gives build containers addresses from on that bridge (C([worker.oci] bridgeSubnet)),
        in CIDR form with a prefix from V(/8) to V(/28) and no host bits set, such as V(10.11.0.0/16).
      - Two BuildKit daemons on one host must not share one. Unset, BuildKit uses V(10.10.0.0/16).
    type: str
  registries:
    description:
      - Registry name (C(docker.io), C(registry.lan:5000)) -> its settings, a dictionary with any of C(mirrors) (list of
        hosts), C(http) (bool, plain HTTP), C(insecure) (bool, skip TLS verification), C(ca) (list of CA file paths),
        C(keypair) (list of C({key, cert}) client key and certificate paths), C(tlsconfigdir) (list of directories).
      - Paths are read inside BuildKit's container.
    type: dict
    default: {}
  backup:
    description: Keep a timestamped copy of the previous file.
    type: bool
    default: false
requirements:
  - tomlkit on the managed host (Debian - python3-tomlkit).
"""

EXAMPLES = r"""
- name: Write BuildKit's configuration
  multiarch.buildhost.buildkitd_config:
    path: /etc/multiarch-buildhost/buildkit/buildkitd.toml
    gc_keep_storage: 10000000000
    registries:
      "registry.lan:5000":
        http: true
      "docker.io":
        mirrors: [mirror.example.com]
      "secure.example.com":
        ca: [/etc/buildkit/certs/secure-ca.pem]
        keypair:
          - {key: /etc/buildkit/certs/client.key, cert: /etc/buildkit/certs/client.pem}
  register: buildkit_config
"""

RETURN = r"""
path:
  description: The file that was managed.
  returned: always
  type: str
  sample: /etc/multiarch-buildhost/buildkit/buildkitd.toml
config:
  description: The configuration the file holds (or in check mode would hold), as data.
  returned: always
  type: dict
  sample: {"worker": {"oci": {"gc": true, "gckeepstorage": 10000000000}}, "registry": {"registry.lan:5000": {"http": true}}}
restart_required:
  description: Whether the settings changed, so that a running daemon must restart to read them (an owner or mode
    correction alone needs no restart).
  returned: always
  type: bool
backup_file:
  description: The copy of the previous file, when O(backup) made one.
  returned: changed and O(backup=true) and the file existed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import buildkitd_document, plan_buildkitd_config
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Attributes, FilePolicy, update_file, without_path_stat
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import Trust

# buildkitd reads the file as root; an existing file keeps whatever owner and mode the admin chose. The directory
# belongs to whoever deploys BuildKit (the buildkit role makes it), so a missing one is an error, not created here.
BUILDKITD_TOML_POLICY = FilePolicy(trust=Trust(), new_directory=None, new_file=Attributes(0o644, 0, 0))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            gc_keep_storage=dict(type="int", required=True),
            history_max_age=dict(type="str"),
            history_max_entries=dict(type="int"),
            bridge_name=dict(type="str"),
            bridge_subnet=dict(type="str"),
            registries=dict(type="dict", default={}),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    without_path_stat(module)
    p = module.params
    try:
        document = buildkitd_document(p["registries"], p["gc_keep_storage"], p["history_max_age"], p["history_max_entries"],
                                      bridge_name=p["bridge_name"], bridge_subnet=p["bridge_subnet"])
        outcome = update_file(p["path"], BUILDKITD_TOML_POLICY, lambda before: plan_buildkitd_config(before, document),
                              module.check_mode, module._diff, backup=p["backup"])
    except BuildhostError as exc:
        module.fail_json(msg=f"buildkitd_config: {exc}", path=p["path"])
    module.exit_json(config=document, restart_required=outcome.plan.changed, **outcome.result)


if __name__ == "__main__":
    main()
