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
  - The build log is streamed to O(log_file) while the build runs (C(tail -f) follows it), with secret values masked.
    A failed build reports the failing step, BuildKit's error and the last lines of output.
  - When pushing, the task is changed exactly when an image changed, that is when the per-platform image digests
    of the first tag differ from before the build. Attestation manifests are left out, so an identical, fully cached
    rebuild whose provenance attestation only got a new timestamp reports no change.
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
    details: In check mode nothing is built and no file is written (not even the log); the build is reported as a change.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: A fully cached rebuild pushes the same images and reports no change, whatever O(provenance) is.
options:
  path:
    description: The build context directory.
    type: path
    required: true
  dockerfile:
    description:
      - The Dockerfile, if not C(Dockerfile) in O(path).
      - A relative path is resolved against the build context O(path), as C(community.docker.docker_image_build) does.
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
    description:
      - Build arguments.
      - Values reach buildx through its environment (C(--build-arg NAME)), never argv or the returned RV(command).
        Names the docker CLI or buildx read themselves (C(PATH), C(HOME), C(HTTP_PROXY) and the other proxies,
        C(DOCKER_*), C(BUILDX_*), C(BUILDKIT_*), C(AWS_*), ...) stay on argv as C(NAME=VALUE), credentials in a URL masked.
      - A build argument is no place for a secret, since provenance records it; use O(secrets). Values of arguments named
        like a secret (C(*TOKEN*), C(*PASSWORD*), ...) are masked in the module's output all the same.
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
    description:
      - Cache exports, for example V(type=registry,ref=registry.example/app:buildcache,mode=max).
      - Credentials in an entry (C(type=s3) C(access_key_id), C(secret_access_key), C(session_token); C(type=gha)
        C(token)), here or in O(cache_from), are moved into the variables buildx reads them from (C(AWS_*),
        C(ACTIONS_RUNTIME_TOKEN)), never on argv, and masked in the output. Entries of one type must then share them.
    type: list
    elements: str
    default: []
  cache_per_platform:
    description:
      - Give every platform its own build and its own registry cache, for builders with one BuildKit node per platform
        (the V(remote) driver, or appended nodes). A single multi-platform build on such a builder lets each node write
        its cache to the same C(type=registry) ref, the last one overwriting the others, so every platform but one
        rebuilds from scratch next time.
      - With V(true), every C(type=registry) entry of O(cache_from) and O(cache_to) gets the platform appended to its
        ref's tag, a C(/) becoming C(-); a ref without a tag counts as C(latest). So
        V(type=registry,ref=registry.example/app:buildcache,mode=max) becomes
        V(type=registry,ref=registry.example/app:buildcache-linux-arm64,mode=max) for V(linux/arm64) and
        V(ref=registry.example/app) becomes V(ref=registry.example/app:latest-linux-arm64). Other entries (a bare image
        reference, C(type=inline), C(type=local), ...) are kept as they are. A ref pinned by digest is refused.
      - With two or more O(platforms) (O(push) required), the platforms are built at once, one C(docker buildx build)
        each, every image pushed by digest to the first tag's repository, then joined into one index under every tag
        with C(docker buildx imagetools create). Their output goes to the one O(log_file), each line prefixed with its
        platform in brackets, for example C([linux/arm64]). If any platform fails, the task fails with that platform's
        failing step and last lines, and no tag is moved.
      - With one platform, the one build uses that platform's refs, so the cache is the same whether a platform is
        built alone or with others.
    type: bool
    default: false
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
    description:
      - Where the build log goes, written as the build runs. It belongs to O(owner), mode C(0640).
      - Defaults to C(/var/log/multiarch-buildhost/<first tag>.log) (or the context directory's name without tags),
        a name known before the build starts.
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

- name: Build on a builder with one node per platform, each platform keeping its own registry cache
  multiarch.buildhost.buildx_build:
    path: /srv/app
    tags: [registry.example.com/team/app:1.2, registry.example.com/team/app:latest]
    platforms: [linux/amd64, linux/arm64]
    builder: remote-nodes
    push: true
    cache_per_platform: true
    # read and written as ...:buildcache-linux-amd64 and ...:buildcache-linux-arm64
    cache_from:
      - "type=registry,ref=registry.example.com/team/app:buildcache"
    cache_to:
      - "type=registry,ref=registry.example.com/team/app:buildcache,mode=max"
    owner: builder
"""

RETURN = r"""
digest:
  description: The digest of the pushed or loaded image (index).
  returned: success
  type: str
previous_digest:
  description: The index digest the first tag pointed at before the build (when pushing).
  returned: success
  type: str
metadata:
  description:
    - The build's metadata file, as buildx wrote it.
    - With O(cache_per_platform) and two or more platforms, each platform's metadata file, by platform.
  returned: success
  type: dict
command:
  description:
    - The command that ran (in check mode, would run); secrets appear only as environment variable names.
    - With O(cache_per_platform) and two or more platforms, one line per platform's build, then the
      C(docker buildx imagetools create) that joins them.
  returned: always
  type: str
log_file:
  description: The full build log.
  returned: always
  type: str
cached_steps:
  description: How many build steps were answered from the cache (with O(cache_per_platform), of all platforms together).
  returned: success
  type: int
duration:
  description: Seconds the build took (the last attempt; with O(cache_per_platform), all platforms and the index).
  returned: success
  type: float
platform_builds:
  description: With O(cache_per_platform) and two or more platforms, each platform's build, by platform.
  returned: success, when the platforms were built one by one
  type: dict
  contains:
    digest:
      description: What the platform's build pushed (its image, or an index of the image and its attestations).
      type: str
    duration:
      description: Seconds the platform's build took (the last attempt).
      type: float
    attempts:
      description: How many times the platform's build ran.
      type: int
    cached_steps:
      description: How many of the platform's build steps were answered from the cache.
      type: int
  sample:
    linux/arm64: {digest: "sha256:8096d913d9cf...", duration: 41.2, attempts: 1, cached_steps: 4}
attempts:
  description:
    - How many times the build ran; more than one after a registry server error.
    - With O(cache_per_platform) and two or more platforms, the most any platform's build needed.
  returned: when the build ran (not in check mode)
  type: int
"""

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import build_secret_values
from ansible_collections.multiarch.buildhost.plugins.module_utils._build_run import run_build
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import user_client_argument_spec, user_docker_cli
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._unlogged_module import UnloggedModule


def main() -> None:
    module = UnloggedModule(
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
            cache_per_platform=dict(type="bool", default=False),
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
            **user_client_argument_spec(),
        ),
        mutually_exclusive=[("push", "load")],
        required_if=[("push", True, ["tags"])],
        supports_check_mode=True,
        # Not logged to the host's journal or syslog: build_args values and cache_from/cache_to entries (type=s3
        # secret_access_key, type=gha token) may hold credentials, and the journal keeps whatever a module logs. The
        # result the controller gets is masked separately (no_log_values below). UnloggedModule keeps the
        # controller's _ansible_no_log=false from turning this off again.
        no_log=True,
    )
    # Cache credentials and secret-named build args travel in buildx's environment; masked in anything printed too.
    module.no_log_values.update(build_secret_values(module.params))
    try:
        owner = resolve_owner(module.params["owner"])
        cli = user_docker_cli(module, owner)
        result = run_build(cli, owner, module.params, module.check_mode)
    except BuildhostError as exc:
        module.fail_json(msg=f"buildx_build: {exc}", **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
