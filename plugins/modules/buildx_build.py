#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: buildx_build
short_description: Run one multi-platform docker buildx build
version_added: 0.1.0
description:
  - Runs C(docker buildx build) for a list of platforms, pushing one manifest list or loading the result, with
    registry or inline build cache.
  - Secrets reach BuildKit through environment variables, never the command line; RV(command) never holds them.
  - The full build log is written to RV(log_file). A failed build reports the failing step, BuildKit's error and the
    last lines of output.
  - When pushing, the task is changed exactly when the pushed digest differs from what the first tag pointed at before.
  - When a push fails because the registry answered with a server error (HTTP 5xx), the build is run again, up to
    three attempts in all, 5 and 10 seconds apart; the cache makes the repeat cheap. Any other failure is final.
    Without O(push), a build that ran counts as a change.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.owner
  - multiarch.buildhost.owner.docker_host
attributes:
  check_mode:
    support: partial
    details: In check mode nothing is built; the build is reported as a change.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: A reproducible build (fully cached, O(provenance=false) or a fixed C(SOURCE_DATE_EPOCH)) pushes the same digest and reports no change.
options:
  path:
    description: The build context directory.
    type: path
    required: true
  dockerfile:
    description: The Dockerfile, if not C(Dockerfile) in O(path).
    type: path
  tags:
    description: Image references to tag (and push).
    type: list
    elements: str
    default: []
  platforms:
    description: Target platforms, for example V([linux/amd64, linux/arm64]).
    type: list
    elements: str
    default: []
  builder:
    description: The buildx builder to use; defaults to O(owner)'s current builder.
    type: str
  push:
    description: Push the result as one manifest list.
    type: bool
    default: false
  load:
    description: Load the result into the engine (multi-platform needs the containerd image store).
    type: bool
    default: false
  build_args:
    description: Build arguments.
    type: dict
    default: {}
  labels:
    description: Image labels.
    type: dict
    default: {}
  target:
    description: The Dockerfile stage to build.
    type: str
  cache_from:
    description: Cache sources, for example V(type=registry,ref=registry.example/app:buildcache) or an image reference.
    type: list
    elements: str
    default: []
  cache_to:
    description: Cache exports, for example V(type=registry,ref=registry.example/app:buildcache,mode=max).
    type: list
    elements: str
    default: []
  inline_cache:
    description: Embed the cache in the pushed image (C(BUILDKIT_INLINE_CACHE=1)), so later builds can use it through O(cache_from).
    type: bool
    default: false
  secrets:
    description: Build secrets, each from a value (passed through the environment) or a file on the host.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The secret's id, as used by C(RUN --mount=type=secret,id=...).
        type: str
        required: true
      value:
        description: The secret's value.
        type: str
      src:
        description: A file on the host that holds the secret.
        type: path
  provenance:
    description: Whether buildx attaches a provenance attestation; V(null) keeps buildx's default.
    type: bool
  pull:
    description: Always look for newer base images.
    type: bool
    default: false
  no_cache:
    description: Build without any cache.
    type: bool
    default: false
  log_file:
    description: Where the full build log goes. Defaults to a new file under the system's temporary directory.
    type: path
requirements:
  - docker CLI with the buildx plugin.
"""

EXAMPLES = r"""
- name: Build and push for three platforms with registry cache
  multiarch.buildhost.buildx_build:
    path: /srv/app
    tags: [registry.example.com/team/app:1.2]
    platforms: [linux/amd64, linux/arm64, linux/riscv64]
    push: true
    cache_from:
      - "type=registry,ref=registry.example.com/team/app:buildcache"
    cache_to:
      - "type=registry,ref=registry.example.com/team/app:buildcache,mode=max"
    secrets:
      - id: npmrc
        value: "{{ vault_npm_token }}"
    owner: builder
"""

RETURN = r"""
digest:
  description: The digest of the pushed or loaded image (index).
  returned: success
  type: str
previous_digest:
  description: What the first tag pointed at before the build (when pushing).
  returned: success
  type: str
metadata:
  description: The build's metadata file, as buildx wrote it.
  returned: success
  type: dict
command:
  description: The command that ran; secrets appear only as environment variable names.
  returned: always
  type: str
log_file:
  description: The full build log.
  returned: always
  type: str
cached_steps:
  description: How many build steps were answered from the cache.
  returned: success
  type: int
duration:
  description: Seconds the build took (the last attempt).
  returned: success
  type: float
attempts:
  description: How many times the build ran; more than one after a registry server error.
  returned: when the build ran (not in check mode)
  type: int
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import (
    build_command,
    cached_steps,
    digest_from,
    failure_summary,
    parse_metadata,
    redact_secrets,
    registry_server_error,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, DockerCliError
from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import ImageNotFound, inspect_image
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import UnknownOwner, resolve_owner

# Attempts when the registry answers a push with a server error, and the pause before the second (doubled after).
REGISTRY_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 5


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            dockerfile=dict(type="path"),
            tags=dict(type="list", elements="str", default=[]),
            platforms=dict(type="list", elements="str", default=[]),
            builder=dict(type="str"),
            push=dict(type="bool", default=False),
            load=dict(type="bool", default=False),
            build_args=dict(type="dict", default={}),
            labels=dict(type="dict", default={}),
            target=dict(type="str"),
            cache_from=dict(type="list", elements="str", default=[]),
            cache_to=dict(type="list", elements="str", default=[]),
            inline_cache=dict(type="bool", default=False),
            secrets=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
                id=dict(type="str", required=True),
                value=dict(type="str", no_log=True),
                src=dict(type="path"),
            ), required_one_of=[("value", "src")], mutually_exclusive=[("value", "src")]),
            provenance=dict(type="bool"),
            pull=dict(type="bool", default=False),
            no_cache=dict(type="bool", default=False),
            log_file=dict(type="path"),
            owner=dict(type="str"),
            docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
        ),
        mutually_exclusive=[("push", "load")],
        required_if=[("push", True, ["tags"])],
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.isdir(p["path"]):
        module.fail_json(msg=f"the build context {p['path']} is not a directory")
    try:
        owner = resolve_owner(p["owner"])
    except UnknownOwner as exc:
        module.fail_json(msg=str(exc))
    cli = DockerCli(module, docker_config=owner.docker_config_dir, owner_ids=(owner.uid, owner.gid), docker_host=p["docker_host"])
    metadata_fd, metadata_file = tempfile.mkstemp(prefix="buildx-metadata.", suffix=".json")
    os.close(metadata_fd)
    command = build_command(p, metadata_file)
    log_file = p["log_file"] or tempfile.mkstemp(prefix="buildx-build.", suffix=".log")[1]
    result = dict(command="docker " + command.shown(), log_file=log_file)
    if module.check_mode:
        os.unlink(metadata_file)
        module.exit_json(changed=True, msg="check mode: nothing was built", **result)

    previous = None
    if p["push"]:
        try:
            previous = inspect_image(cli, p["tags"][0])["digest"]
        except ImageNotFound:
            previous = None
        except (RuntimeError, ValueError, DockerCliError):
            previous = None  # an unreadable registry must not stop the build; it then reports a change
    for attempt in range(1, REGISTRY_ATTEMPTS + 1):
        started = time.monotonic()
        try:
            rc, out, err = cli.run(command.argv, env=command.env)
        except DockerCliError as exc:
            module.fail_json(msg=str(exc), **result)
        duration = round(time.monotonic() - started, 2)
        log = redact_secrets(out + err, p["secrets"])
        result["attempts"] = attempt
        if rc == 0 or not (p["push"] and registry_server_error(log)) or attempt == REGISTRY_ATTEMPTS:
            break
        time.sleep(RETRY_DELAY_SECONDS * attempt)
    with open(log_file, "w", encoding="utf-8") as handle:
        handle.write(log)
    try:
        with open(metadata_file, encoding="utf-8") as handle:
            metadata = parse_metadata(handle.read())
    finally:
        os.unlink(metadata_file)
    if rc != 0:
        module.fail_json(msg=f"the build failed (rc={rc}); full log in {log_file}\n{failure_summary(log)}", **result)
    digest = digest_from(metadata)
    changed = True if not p["push"] else digest != previous
    module.exit_json(changed=changed, digest=digest, previous_digest=previous, metadata=metadata,
                     cached_steps=cached_steps(log), duration=duration, **result)


if __name__ == "__main__":
    main()
