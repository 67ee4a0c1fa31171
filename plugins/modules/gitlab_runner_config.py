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
  - Sets single runners' C(limit), C(request_concurrency) and their own C([runners.docker]) keys (O(runner_settings)),
    writes a runner's new authentication token (O(runner_tokens)), and removes runners by name (O(absent_runners)).
    Removals happen first; a runner named both to remove and to configure fails the task.
  - Values keep the types GitLab Runner reads. Integer keys (C(limit), C(request_concurrency), C(network_mtu),
    C(shm_size), ...) take integers (an integral string such as V("1360") is written as V(1360)); boolean keys
    (C(privileged), C(tls_verify), ...) take only V(true) or V(false), never V(1). A value GitLab Runner would refuse
    fails the task and leaves the file as it was, because a wrong type stops the runner from loading config.toml.
  - Runner tokens and cache credentials (S3, GCS, Azure keys and any key named like a token, secret, password or
    private key) never appear in the result or the diff, whatever TOML form they are written in. The diff is rendered
    from the parsed document with those values masked.
  - The file keeps its owner and is narrowed to mode C(0600) at most. A file larger than 256 KiB, a byte-order mark,
    duplicate keys or tables, and C([[runners]]) or C([runners.docker]) of the wrong type fail the task and leave the
    file byte-for-byte intact. A file that uses CRLF line ends keeps them.
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
  environment:
    description:
      - Job variables (C(NAME=value)) every selected runner's C(environment) must hold, before each runner's own from
        O(runner_settings) (which wins for a name both give). An entry of the same name is replaced where it stands;
        other entries are kept.
      - The C(multiarch.buildhost.gitlab_runner) role gives every runner's jobs the host's proxy here
        (C(multiarch_proxy)). Values are not logged; a password in a URL is masked in the result and the diff.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  runner_settings:
    description:
      - Settings of single runners, by runner name, applied over O(docker) and the privilege options.
      - C(limit) is how many jobs that runner runs at once (V(0) is no limit); C(request_concurrency) how many job
        requests it makes to GitLab at once (at least V(1)); C(docker) is a dictionary of that runner's own
        C([runners.docker]) keys, for example C(network_mtu); C(environment) is a list of C(NAME=value) job
        variables the runner must have (an entry of the same name is replaced where it stands, other entries are kept).
      - C(absent_environment) is a list of job variable names that runner must not have (every entry of each name is
        removed) and C(absent_volumes) a list of paths in the job's container where it must mount nothing (every
        C([runners.docker]) volume mounted there is removed, C(source:/path), C(source:/path:mode) or C(/path)), except
        a volume O(volumes) ensures. An C(environment) that only held removed entries is removed too. The
        C(multiarch.buildhost.gitlab_runner) role uses them to take back its BuildKit settings from a runner switched
        from V(remote_buildkit) to V(dind). Asking for a variable or a mount both to be there and not fails the task.
      - C(build_mode) is how the runner's jobs build images. V(remote_buildkit) sets C(privileged) and
        C(services_privileged) to V(false) (a C(docker) that sets either to V(true) fails the task), mounts
        C(buildkit.client_dir) read-only at C(/buildkit/client) as the only volume there, and gives the jobs
        C(BUILDKIT_HOST) (C(buildkit.host)), C(BUILDKIT_TLS_DIR) and C(BUILDKIT_SERVERNAME) (C(buildkit.servername)),
        after the runner's own C(environment). V(dind) takes all of that back, whatever values it was written with, except
        what the runner's own C(environment) or C(docker.volumes) gives. Without C(build_mode) neither happens.
      - C(buildkit) is a dictionary of C(host), C(servername) and C(client_dir), for V(remote_buildkit) only.
      - A V(dind) runner also gets or loses the daemon.json of its C(docker:dind) services, as O(dind_daemon_config)
        says.
      - C(network_mtu) sets the MTU of the network GitLab Runner creates for each job when the C(FF_NETWORK_PER_BUILD)
        feature flag is on. It must match the path to the outside (GitLab's hosted runners use V(1360)); with
        Docker-in-Docker the inner daemon must be started with the same C(--mtu) too (the C(docker:dind) service's
        C(command)), or large packets are dropped and TLS handshakes hang with no error.
      - A name the file does not hold fails the task.
    type: dict
    default: {}
  dind_daemon_config:
    description:
      - A file on the host that holds the C(daemon.json) of the C(docker:dind) services, for example their registry
        mirrors (C(registry-mirrors)). Each runner whose O(runner_settings) C(build_mode) is V(dind) mounts
        it read-only at C(/etc/docker/daemon.json) (C(FILE:/etc/docker/daemon.json:ro) in C([runners.docker] volumes)).
        GitLab Runner mounts those volumes into every container of a job, its services too, so the service's dockerd
        reads it when it starts; the job's own C(services:) stay as they are.
      - It is the only volume at that path. A mount of another file there is replaced, and an empty string takes the
        mount back, whatever file it mounted. A runner whose own C(docker.volumes) mounts something at that path keeps
        its own.
      - A V(remote_buildkit) runner never gets it, as its jobs have no Docker daemon. Runners without a C(build_mode)
        are left as they are. Unset (the default), no runner's mount at that path is touched.
      - The file must exist before a job starts, otherwise Docker makes an empty directory in its place. Write it before
        this task, and remove it only after the mount is taken back.
    type: path
    version_added: 0.3.0
  runner_tokens:
    description:
      - The authentication token (V(glrt-...)) each named runner must have, by runner name. Where the file holds
        another token (the token was reset in GitLab), the new one is written and the task reports a change.
      - A new token's C(token_obtained_at) and C(token_expires_at) are set to GitLab Runner's zero time
        (V(0001-01-01T00:00:00Z), unknown), as it writes them for a token it did not obtain itself. The old token's
        times would make the runner reset the new token on the old one's schedule, and GitLab would revoke the token
        the inventory holds. Where GitLab rotates runner tokens automatically, do not use this option. The runner
        saves its own newer token, and an inventory's copy is the older one.
      - Tokens are never shown. They are masked in the result, the diff (a changed token reads C(******** (new token))) and
        the log.
      - A name the file does not hold, or holds more than once, fails the task.
    type: dict
    default: {}
  absent_runners:
    description:
      - Names of runners to remove from the file, every entry of each name. A name the file does not hold is
        already absent. Runners not named here are never removed.
      - This edits only the file. GitLab still lists the runner until C(gitlab-runner unregister --name NAME) or
        GitLab's UI or API deletes it; the C(multiarch.buildhost.gitlab_runner) role runs that command first.
    type: list
    elements: str
    default: []
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

- name: Give the dind runners' docker:dind services the registry mirrors in a daemon.json on the host
  multiarch.buildhost.gitlab_runner_config:
    dind_daemon_config: /etc/multiarch-buildhost/dind-daemon.json
    runner_settings:
      build-01-multiarch: {build_mode: dind}

- name: One runner's limits and MTU, a reset token, and a retired runner removed
  multiarch.buildhost.gitlab_runner_config:
    runner_settings:
      build-01-multiarch: {limit: 4, request_concurrency: 2, docker: {network_mtu: 1360}}
    runner_tokens:
      build-01-multiarch: "{{ vault_runner_token }}"
    absent_runners: [build-01-old]
"""

RETURN = r"""
changed_runners:
  description: Runners whose settings or token changed (removed runners are in RV(removed_runners)).
  returned: always
  type: list
  elements: str
removed_runners:
  description: Runners removed from the file (a name it did not hold is not listed).
  returned: always
  type: list
  elements: str
token_updated_runners:
  description: Runners whose authentication token was replaced with the one in O(runner_tokens).
  returned: always
  type: list
  elements: str
runner_names:
  description: Every runner in the file.
  returned: always
  type: list
  elements: str
path:
  description: The file that was managed.
  returned: always
  type: str
backup_file:
  description: The copy of the previous file, with the file's new mode (it holds the same tokens).
  returned: changed and O(backup=true)
  type: str
"""

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import tomlkit  # noqa: F401  pylint: disable=unused-import
    TOMLKIT_IMPORT_ERROR = None
except ImportError:
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Attributes, FilePolicy, without_path_stat, update_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import MAX_RUNNER_CONFIG_BYTES, plan_runner_update
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import Trust
from ansible_collections.multiarch.buildhost.plugins.module_utils._unlogged_module import UnloggedModule

# config.toml holds runner tokens and cache credentials: it stays root's (or whoever owns it) and 0600 at most.
RUNNER_CONFIG_POLICY = FilePolicy(trust=Trust(), new_directory=None, new_file=Attributes(0o600, 0, 0), mode_mask=0o600,
                                  max_bytes=MAX_RUNNER_CONFIG_BYTES)


def main() -> None:
    module = UnloggedModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/gitlab-runner/config.toml"),
            runners=dict(type="list", elements="str"),
            privileged=dict(type="bool"),
            services_privileged=dict(type="bool"),
            allowed_privileged_images=dict(type="list", elements="str"),
            allowed_privileged_services=dict(type="list", elements="str"),
            volumes=dict(type="list", elements="str", default=["/certs/client"]),
            docker=dict(type="dict", default={}),
            environment=dict(type="list", elements="str", default=[], no_log=True),
            runner_settings=dict(type="dict", default={}),
            dind_daemon_config=dict(type="path"),
            runner_tokens=dict(type="dict", default={}, no_log=True),
            absent_runners=dict(type="list", elements="str", default=[]),
            concurrent=dict(type="int"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
        # Not logged to the host's journal or syslog: the job variables of docker and runner_settings (environment
        # entries such as AWS_SECRET_ACCESS_KEY=... or DOCKER_AUTH_CONFIG=...) may hold credentials, and the journal
        # keeps whatever a module logs. The result is masked separately (the planner's secrets, below).
        no_log=True,
    )
    if TOMLKIT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("tomlkit"), exception=TOMLKIT_IMPORT_ERROR)
    without_path_stat(module)
    p = module.params

    def planner(before):
        plan = plan_runner_update(p["path"], before, p)
        module.no_log_values.update(plan.details.secrets)
        return plan

    try:
        outcome = update_file(p["path"], RUNNER_CONFIG_POLICY, planner, module.check_mode, module._diff, backup=p["backup"])
    except BuildhostError as exc:
        module.fail_json(msg=f"gitlab_runner_config: {exc}", path=p["path"])
    details = outcome.plan.details
    module.exit_json(changed_runners=details.changed_runners, runner_names=details.runner_names,
                     removed_runners=details.removed_runners, token_updated_runners=details.token_updated_runners,
                     **outcome.result)


if __name__ == "__main__":
    main()
