#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: buildx_builder
short_description: Create, update, select and remove a docker buildx builder for a user
version_added: 0.1.0
description:
  - Manages one buildx builder in a user's Docker client configuration (C(DOCKER_CONFIG) of O(owner)).
  - A builder that matches the desired state is left alone. Drift in driver, driver options, buildkitd flags,
    buildkitd config content, platforms or nodes re-creates it (with C(--keep-state) for V(docker-container)), and
    RV(actions) says why.
  - For the V(docker) driver the builder is a docker context; V(default) always exists.
  - When TLS settings come from the environment (C(DOCKER_TLS_VERIFY), C(DOCKER_CERT_PATH), as in Docker-in-Docker
    with TLS), buildx refuses to create a builder from them; the module creates a docker context from them first
    and builds on that.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
options:
  name:
    description: The builder's name. For the V(docker) driver, a docker context name.
    type: str
    required: true
  state:
    description: Whether the builder exists.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: The buildx driver.
    type: str
    choices: [docker-container, docker, remote]
    default: docker-container
  driver_opts:
    description:
      - Driver options, as for C(--driver-opt), for example V(image) (a mirrored C(moby/buildkit) for air-gapped
        sites), V(network), V(memory), V(env.NAME).
    type: dict
    default: {}
  buildkitd_flags:
    description: Flags for buildkitd, as one string (C(--buildkitd-flags)).
    type: str
  buildkitd_config:
    description:
      - buildkitd.toml as a dict, rendered to TOML (registry mirrors, http or insecure registries, CAs); see the examples.
    type: dict
    default: {}
  platforms:
    description:
      - Platforms fixed for the first node (C(--platform)).
      - Each is C(os/arch[/variant]) with an operating system and architecture BuildKit knows (or an architecture
        alone, for Linux), and is compared in the form buildx stores it (V(linux/aarch64) is V(linux/arm64),
        V(linux/arm) is V(linux/arm/v7)). Anything else fails the task, naming the platform, before anything runs.
    type: list
    elements: str
    default: []
  endpoint:
    description: The first node's endpoint, a docker context or a daemon address (C(tcp://...) for V(remote)).
    type: str
  nodes:
    description: Further nodes appended to the builder (C(--append)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The node's name, as buildx accepts it - a letter first, then letters, digits, V(_), V(.) or V(-) - and
            unlike any other node's name, case aside (buildx stores it in lower case; the first node is O(name) with
            V(0) appended). Anything else fails the task before anything runs.
        type: str
        required: true
      endpoint:
        description:
          - The node's endpoint. With O(unreachable_nodes) other than V(keep), a C(tcp://) endpoint must be
            C(tcp://HOST:PORT), an IPv6 address in brackets (C(tcp://[fd00::1]:1234)); anything else fails the task,
            naming the node and the endpoint.
        type: str
        required: true
      platforms:
        description: Platforms fixed for the node, as for O(platforms).
        type: list
        elements: str
        default: []
      driver_opts:
        description: Driver options for the node.
        type: dict
        default: {}
  unreachable_nodes:
    description:
      - What to do with a node that does not answer. buildx has no fallback of its own - a builder with a dead node
        fails every build that needs that node's platforms, after a 20 second timeout.
      - V(keep) does not probe the nodes.
      - V(leave_out) probes every C(tcp://) node with the mutual-TLS handshake buildx would make (its C(cacert),
        C(cert), C(key) and C(servername) driver options), and creates the builder without the nodes that do not
        answer within 3 seconds; their platforms go to the first node, which builds them under QEMU. The left-out
        nodes are returned and warned about. The builder is re-created when the set of answering nodes changes.
      - V(fail) probes the same way and fails when any node does not answer.
      - The first node (the host's own) must answer with V(leave_out) and V(fail).
    type: str
    choices: [keep, leave_out, fail]
    default: keep
  use:
    description: Make it the owner's current builder (C(docker buildx use)).
    type: bool
    default: true
  bootstrap:
    description: Start the builder after creating it (needs the buildkit image for V(docker-container)).
    type: bool
    default: false
  keep_state:
    description: Keep the BuildKit state (cache) when a V(docker-container) builder is re-created.
    type: bool
    default: true
notes:
  - The buildkitd config is compared with the content buildx stored when it created the builder
    (C($DOCKER_CONFIG/buildx/instances/NAME)).
requirements:
  - docker CLI with the buildx plugin 0.10 or newer (C(--buildkitd-config) needs 0.13 or newer).
  - tomlkit, on the managed host, when O(buildkitd_config) is used.
"""

EXAMPLES = r"""
- name: A docker-container builder for the build user, selected as their default
  multiarch.buildhost.buildx_builder:
    name: multiarch
    owner: builder
    driver_opts:
      image: registry.example.com/mirror/moby/buildkit:v0.16.0
      network: host
    buildkitd_config:
      registry:
        "docker.io":
          mirrors: [mirror.example.com]

- name: Use the engine's own BuildKit (containerd image store needed for multi-platform)
  multiarch.buildhost.buildx_builder:
    name: default
    driver: docker
    owner: builder
"""

RETURN = r"""
builder:
  description: The builder after the run, with its nodes, their status and platforms. V(null) when absent.
  returned: always
  type: dict
  sample: {"name": "multiarch", "driver": "docker", "platforms": ["linux/amd64", "linux/arm64"],
           "nodes": [{"name": "default", "endpoint": "default", "status": "running", "platforms": ["linux/amd64", "linux/arm64"]}]}
actions:
  description: What was (or in check mode would be) done, with the reasons for a re-creation.
  returned: always
  type: list
  elements: str
left_out:
  description: The nodes that did not answer and were left out (O(unreachable_nodes=leave_out)), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "arm-01", "endpoint": "tcp://arm-01:1234", "platforms": ["linux/arm64"], "reason": "timed out"}]
"""

import json

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import validate_name
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx_manager import BuilderManager
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import user_client_argument_spec, user_docker_cli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import is_secret_key
from ansible_collections.multiarch.buildhost.plugins.module_utils._unlogged_module import UnloggedModule


def secret_driver_opt_values(params: dict) -> set[str]:
    """The values of driver options named like a secret (env.AWS_SECRET_ACCESS_KEY=...), of the builder and of each
    node, to mask wherever the module prints."""
    options = [params.get("driver_opts") or {}] + [node.get("driver_opts") or {} for node in params.get("nodes") or []]
    return {str(value) for opts in options for key, value in opts.items()
            if is_secret_key(key) and value is not None and len(str(value)) >= 4}


def main() -> None:
    module = UnloggedModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            driver=dict(type="str", choices=["docker-container", "docker", "remote"], default="docker-container"),
            driver_opts=dict(type="dict", default={}),
            buildkitd_flags=dict(type="str"),
            buildkitd_config=dict(type="dict", default={}),
            platforms=dict(type="list", elements="str", default=[]),
            endpoint=dict(type="str"),
            nodes=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                endpoint=dict(type="str", required=True),
                platforms=dict(type="list", elements="str", default=[]),
                driver_opts=dict(type="dict", default={}),
            )),
            unreachable_nodes=dict(type="str", choices=["keep", "leave_out", "fail"], default="keep"),
            use=dict(type="bool", default=True),
            bootstrap=dict(type="bool", default=False),
            keep_state=dict(type="bool", default=True),
            **user_client_argument_spec(),
        ),
        required_if=[("driver", "remote", ["endpoint"])],
        supports_check_mode=True,
        # Not logged to the host's journal or syslog: driver_opts may carry credentials (env.AWS_SECRET_ACCESS_KEY=...
        # for a cache or a remote driver), and the journal keeps whatever a module logs.
        no_log=True,
    )
    p = module.params
    module.no_log_values.update(secret_driver_opt_values(p))
    if p["driver"] == "docker" and (p["driver_opts"] or p["buildkitd_flags"] or p["buildkitd_config"] or p["platforms"] or p["nodes"]):
        module.fail_json(msg="the docker driver uses the engine's own BuildKit: driver_opts, buildkitd_flags, "
                             "buildkitd_config, platforms and nodes need driver docker-container or remote")
    try:
        validate_name(p["name"])
        owner = resolve_owner(p["owner"])
        cli = user_docker_cli(module, owner)
        manager = BuilderManager(module, cli, owner)
        before = manager.read(p["name"])
        changed, actions = manager.converge(p, module.check_mode)
        if changed and not module.check_mode:
            manager.forget()
        after = manager.read(p["name"])
    except BuildhostError as exc:
        module.fail_json(msg=f"buildx_builder: {exc}")
    for node in manager.left_out:
        module.warn(f"buildx_builder: node {node.name} ({node.endpoint}) does not answer ({node.reason}); left out,"
                    f" its platforms {', '.join(node.platforms) or '(none fixed)'} are built by the first node under QEMU")
    result = dict(changed=changed, actions=actions, builder=after.as_result() if after else None,
                  left_out=[node.as_result() for node in manager.left_out])
    if module._diff:
        result["diff"] = {"before": json.dumps(before.as_result() if before else None, indent=2) + "\n",
                          "after": json.dumps(after.as_result() if after else None, indent=2) + "\n" + "".join(f"# {a}\n" for a in actions)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
