#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: docker_host_state
short_description: Read the Docker Engine and predict whether daemon.json and the build users' config.json need writing
version_added: 0.3.0
description:
  - One round trip for everything the P(multiarch.buildhost.docker#role) role decides from. It reads the engine as
    M(multiarch.buildhost.docker_engine_info) does (every one of its return values is returned here too), and predicts
    whether M(multiarch.buildhost.docker_daemon_config) and M(multiarch.buildhost.docker_cli_config) would change
    their files, so that a host already in the wanted state needs no further round trip.
  - The prediction is those modules' own code, reading the files exactly as they read them (without their lock). A file
    they would refuse (malformed JSON, a symbolic link, a directory a build user controls that points elsewhere, an
    unknown user) is reported as a change with its C(error), so that the writing module runs and refuses it for that
    file alone; this module does not fail for it. Nothing is written.
  - Never changes anything. A predicted change is only a reason to run the writing module, which checks everything
    again (C(dockerd --validate) included) when it writes.
  - Returns the host facts the collection's roles read (RV(ansible_facts)), collected by Ansible's own fact
    collectors, so that a play of those roles needs no fact gathering (C(gather_facts=false)) when this module runs
    first, as the P(multiarch.buildhost.docker#role) role does.
  - Owns the daemon.json settings that depend on the engine, so that they are decided in one place before the
    write, from this very read. O(daemon_json.builder_gc) sizes C(builder.gc) from the filesystem that holds Docker's
    data, and O(daemon_json.containerd_snapshotter) turns on C(features.containerd-snapshotter) only on an engine that
    knows it (Docker 24 and newer). RV(daemon_json.settings) is what the write must merge.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
  - multiarch.buildhost.owner.docker_host
options:
  min_version:
    description:
      - The oldest acceptable engine version, as in M(multiarch.buildhost.docker_engine_info).
    type: str
    default: "19.03"
  daemon_json:
    description:
      - What M(multiarch.buildhost.docker_daemon_config) is to merge into daemon.json. Omit it to predict nothing for
        daemon.json.
    type: dict
    suboptions:
      path:
        description: The daemon configuration file.
        type: path
        default: /etc/docker/daemon.json
      settings:
        description:
          - Settings deep-merged into the file, as M(multiarch.buildhost.docker_daemon_config)'s
            O(multiarch.buildhost.docker_daemon_config#module:settings).
        type: dict
        default: {}
      experimental:
        description: Whether C(experimental) is written as JSON V(true).
        type: bool
        default: true
      builder_gc:
        description:
          - The build-cache GC policy for the engine's own BuildKit, written under C(builder.gc) beneath O(daemon_json.settings)
            (a key set there wins).
          - V(keep_storage) bytes when set; else V(keep_fraction) of the filesystem that holds Docker's data, but no
            more than V(keep_inode_fraction) of its inodes counted as one block each; else, when that size cannot be
            read (no engine yet), V(keep_storage_fallback) bytes.
        type: dict
        suboptions:
          enabled:
            description: Whether to write C(builder.gc) at all.
            type: bool
            default: false
          keep_storage:
            description: Bytes of cache to keep.
            type: int
          keep_fraction:
            description: The share of the data root's filesystem to keep, when O(daemon_json.builder_gc.keep_storage) is unset.
            type: float
            default: 0.1
          keep_inode_fraction:
            description:
              - The share of the data root's inodes the cache may fill, when O(daemon_json.builder_gc.keep_storage) is
                unset. BuildKit collects by bytes only, so the cap is at most this share of the inodes times the block
                size (RV(multiarch.buildhost.docker_engine_info#module:data_root_inodes) x
                RV(multiarch.buildhost.docker_engine_info#module:data_root_block_size)), since a file with data holds at
                least one block.
              - The default does not bind on an ext4 made with the defaults of C(mkfs.ext4) (one inode per 16 KiB; 0.5
                of its inodes in 4 KiB blocks is 12.5 % of its size), only where inodes are scarcer.
              - Left out where the filesystem has no fixed inode count (btrfs). V(0) leaves it out too.
              - Not a bound for what holds no block (empty files, short symbolic links, ext4 inline data), nor for
                dockerd's classic store (overlay2 without the containerd image store), which sizes its build cache by
                apparent bytes.
            type: float
            default: 0.5
          keep_storage_fallback:
            description: Bytes to keep when the data root's size cannot be read.
            type: int
            default: 10000000000
      containerd_snapshotter:
        description: Turn on the containerd image store (C(features.containerd-snapshotter)) on engines that know it.
        type: bool
        default: false
  users:
    description:
      - The build users whose C(~/.docker/config.json) M(multiarch.buildhost.docker_cli_config) is to merge
        O(user_settings) into, with C(experimental) set to the string V(enabled) (its defaults).
    type: list
    elements: str
    default: []
  user_settings:
    description: Settings deep-merged into each user's config.json.
    type: dict
    default: {}
  files:
    description:
      - Root's own files the role writes besides (the prune watchdog's script and units), as their content and mode;
        RV(files) says whether writing them would change anything. They are reached without following links, in
        directories only root controls.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      content:
        description: What it is to hold.
        type: str
        required: true
      mode:
        description: Its mode, in octal.
        type: str
        default: "0644"
  timers:
    description: systemd timers whose state to read (RV(timers)).
    type: list
    elements: str
    default: []
notes:
  - Not logged to the host's journal or syslog, since O(user_settings) may hold a proxy's credentials.
seealso:
  - module: multiarch.buildhost.docker_engine_info
  - module: multiarch.buildhost.docker_daemon_config
  - module: multiarch.buildhost.docker_cli_config
requirements:
  - The docker CLI, or the Docker SDK for Python, on the managed host (to read a running engine).
"""

EXAMPLES = r"""
- name: Read the engine and predict the two config files
  multiarch.buildhost.docker_host_state:
    daemon_json:
      settings: {log-driver: local}
      builder_gc: {enabled: true}
      containerd_snapshotter: true
    users: [builder]
  register: docker_state

- name: Write daemon.json only when the read says it would change
  multiarch.buildhost.docker_daemon_config:
    settings: "{{ docker_state.daemon_json.settings }}"
  when: docker_state.daemon_json.would_change
"""

RETURN = r"""
running:
  description: Whether the daemon answered. Every return value of M(multiarch.buildhost.docker_engine_info) is
    returned as well (installed, server_version, meets_min_version, data_root_size_bytes, service_drop_ins,
    docker_group_members and the rest).
  returned: always
  type: bool
daemon_json:
  description: What was predicted for daemon.json.
  returned: when O(daemon_json) is given
  type: dict
  contains:
    path:
      description: The file.
      type: str
    settings:
      description: What the write is to merge (experimental aside) - the GC policy, then O(daemon_json.settings), then
        the containerd image store when wanted and supported.
      type: dict
    would_change:
      description: Whether M(multiarch.buildhost.docker_daemon_config) would change the file (content, owner or mode).
      type: bool
    error:
      description: Why the write would refuse the file, when it would.
      type: str
  sample: {"path": "/etc/docker/daemon.json", "settings": {"builder": {"gc": {"enabled": true}}}, "would_change": false}
ansible_facts:
  description: The facts the roles read, as C(gather_subset=min) gives them.
  returned: always
  type: dict
  contains:
    distribution:
      description: The distribution, such as V(Debian).
      type: str
    distribution_release:
      description: Its release name, such as V(trixie).
      type: str
    distribution_version:
      description: Its version, such as V(13.1).
      type: str
    distribution_major_version:
      description: Its major version, such as V(13).
      type: str
    os_family:
      description: The family, such as V(Debian) or V(RedHat).
      type: str
    architecture:
      description: The machine's architecture, such as V(x86_64).
      type: str
files:
  description: For each of O(files), by path, whether it exists and whether writing it would change it.
  returned: always
  type: dict
  sample: {"/etc/systemd/system/multiarch-buildhost-prune.timer": {"exists": true, "would_change": false}}
timers:
  description: For each of O(timers), whether systemd has it enabled and active.
  returned: always
  type: dict
  sample: {"multiarch-buildhost-prune.timer": {"enabled": true, "active": true}}
user_configs:
  description: What was predicted for each user's config.json, by user name (path, would_change, and error when the
    write would refuse it).
  returned: always
  type: dict
  sample: {"builder": {"path": "/home/builder/.docker/config.json", "would_change": false}}
"""

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, docker_host_argument_spec
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_config_file import (
    DAEMON_JSON,
    DAEMON_JSON_POLICY,
    cli_config_overlay,
    cli_config_policy,
    daemon_json_overlay,
    engine_daemon_settings,
    json_update_predicted,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._engine_info import engine_info
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._host_facts import role_facts
from ansible_collections.multiarch.buildhost.plugins.module_utils._host_files import file_state, timer_state
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import without_path_stat
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import resolve_owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._unlogged_module import UnloggedModule
from ansible_collections.multiarch.buildhost.plugins.module_utils._version import parse_version


def main() -> None:
    module = UnloggedModule(
        argument_spec=dict(
            min_version=dict(type="str", default="19.03"),
            daemon_json=dict(type="dict", options=dict(
                path=dict(type="path", default=DAEMON_JSON),
                settings=dict(type="dict", default={}),
                experimental=dict(type="bool", default=True),
                builder_gc=dict(type="dict", options=dict(
                    enabled=dict(type="bool", default=False),
                    keep_storage=dict(type="int"),
                    keep_fraction=dict(type="float", default=0.1),
                    keep_inode_fraction=dict(type="float", default=0.5),
                    keep_storage_fallback=dict(type="int", default=10_000_000_000),
                )),
                containerd_snapshotter=dict(type="bool", default=False),
            )),
            users=dict(type="list", elements="str", default=[]),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True),
                mode=dict(type="str", default="0644"),
            )),
            timers=dict(type="list", elements="str", default=[]),
            user_settings=dict(type="dict", default={}),
            **docker_host_argument_spec(),
        ),
        supports_check_mode=True,
        no_log=True,
    )
    without_path_stat(module)
    p = module.params
    # Before anything can fail: a proxy password in either settings is masked in every result, the failures' included.
    module.no_log_values.update(redact(p["user_settings"])[1])
    if p["daemon_json"] is not None:
        module.no_log_values.update(redact(p["daemon_json"]["settings"])[1])
    try:
        parse_version(p["min_version"])
        result = engine_info(DockerCli(module, docker_host=p["docker_host"]), p["min_version"])
        wanted = p["daemon_json"]
        if wanted is not None:
            settings = engine_daemon_settings(result, wanted["settings"], wanted["builder_gc"], wanted["containerd_snapshotter"])
            overlay = daemon_json_overlay(settings, wanted["experimental"])
            module.no_log_values.update(redact(settings)[1])
            result["daemon_json"] = dict(path=wanted["path"], settings=settings,
                                         **json_update_predicted(wanted["path"], DAEMON_JSON_POLICY, overlay))
        # A user's file the write would refuse, or an unknown user, is reported here and refused by the write, for that
        # user only: a build user's own files never stop the rest of the run.
        result["user_configs"] = {}
        overlay = cli_config_overlay(p["user_settings"], True)
        for name in p["users"]:
            try:
                owner = resolve_owner(name)
            except BuildhostError as exc:
                result["user_configs"][name] = dict(path=None, would_change=True, error=str(exc))
                continue
            result["user_configs"][name] = dict(
                path=owner.docker_config_path,
                **json_update_predicted(owner.docker_config_path, cli_config_policy(owner), overlay))
        result["files"] = {item["path"]: file_state(item["path"], item["content"], int(item["mode"], 8)) for item in p["files"]}
        result["timers"] = {name: timer_state(module, name) for name in p["timers"]}
    except BuildhostError as exc:
        module.fail_json(msg=f"docker_host_state: {exc}")
    except ValueError as exc:  # a mode that is not octal
        module.fail_json(msg=f"docker_host_state: files: {exc}")
    module.exit_json(changed=False, ansible_facts=role_facts(module), **result)


if __name__ == "__main__":
    main()
