# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both Docker config-file modules (docker_daemon_config, docker_cli_config) share: their common options, the
null-able booleans, each file's policy and overlay, and their run, from the params through ``_managed_file`` and
``_json_merge`` to the result; and the same run in check mode, as docker_host_state predicts it."""
from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._gc_policy import builder_gc_settings
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import JsonPlanDetails, deep_merge, plan_json_update
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Attributes, FilePolicy, Plan, update_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import ROOT_DIRECTORY, FileState, NewDirectory, Trust, read_file

DAEMON_JSON = "/etc/docker/daemon.json"
# dockerd reads the file as root; an existing file keeps whatever owner and mode the admin chose, and a fresh host
# without /etc/docker gets the directory as the package would make it.
DAEMON_JSON_POLICY = FilePolicy(trust=Trust(), new_directory=ROOT_DIRECTORY, new_file=Attributes(0o644, 0, 0))


def cli_config_policy(owner: Owner) -> FilePolicy:
    """config.json in OWNER's home: the owner controls every directory there, so nothing in it may steer a root-run
    module elsewhere, and credentials never become readable by others (a wider mode is narrowed to the owner's bits)."""
    return FilePolicy(
        trust=Trust.root_and(owner.uid, owner.gid),
        new_directory=NewDirectory(0o700, owner.uid, owner.gid),
        new_file=Attributes(0o600, owner.uid, owner.gid),
        mode_mask=0o600,
        uid=owner.uid,
    )


def daemon_json_overlay(settings: dict[str, Any] | None, experimental: bool | None) -> dict[str, Any]:
    """What docker_daemon_config merges: the settings, and experimental as the JSON boolean dockerd reads."""
    overlay = dict(settings or {})
    if experimental is not None:
        overlay["experimental"] = experimental
    return overlay


def engine_daemon_settings(engine: dict[str, Any], settings: dict[str, Any] | None, builder_gc: dict[str, Any] | None,
                           containerd_snapshotter: bool) -> dict[str, Any]:
    """daemon.json's settings for ENGINE (as engine_info read it): builder.gc sized from its data root (its size, inodes
    and block size), then SETTINGS (a key set there wins), then the containerd image store when wanted and the engine
    knows the feature flag."""
    gc = builder_gc_settings(builder_gc, engine.get("data_root_size_bytes"), engine.get("data_root_inodes"),
                             engine.get("data_root_block_size"))
    merged = deep_merge(gc, settings or {})
    if containerd_snapshotter and engine.get("supports_containerd_snapshotter"):
        merged = deep_merge(merged, {"features": {"containerd-snapshotter": True}})
    return merged


def cli_config_overlay(settings: dict[str, Any] | None, experimental: bool | None) -> dict[str, Any]:
    """What docker_cli_config merges: the settings, and experimental as the string the docker CLI reads."""
    overlay = dict(settings or {})
    if experimental is not None:
        overlay["experimental"] = "enabled" if experimental else "disabled"
    return overlay


def json_file_argument_spec() -> dict[str, Any]:
    """settings, remove_keys and backup, documented in the json_settings doc fragment."""
    return dict(
        settings=dict(type="dict", default={}),
        remove_keys=dict(type="list", elements="str", default=[], no_log=False),
        backup=dict(type="bool", default=False),
    )


def optional_bool(module: Any, name: str) -> bool | None:
    """An option that is true by default and null to leave its key alone.

    Ansible applies a default only when an option is omitted and refuses an explicit null for a bool, so such options
    are declared raw and converted here.
    """
    value = module.params[name]
    if value is None:
        return None
    try:
        return boolean(value, strict=True)
    except TypeError as exc:
        raise BuildhostError(f"{name} must be true, false or null, not {value!r}") from exc


def update_json_file(
    module: Any,
    path: str,
    policy: FilePolicy,
    overlay: dict[str, Any],
    check: Callable[[Plan[JsonPlanDetails]], None] | None = None,
    observe: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Merge OVERLAY into PATH under POLICY; CHECK may refuse a changed candidate before anything is written.

    OBSERVE sees the merged document unmasked (see plan_json_update). Returns the module result and whether the
    document itself changed (an owner or mode fix alone does not).
    """
    p = module.params
    # Credentials passed in settings are masked from here on, including in the echoed invocation.
    module.no_log_values.update(redact(overlay)[1])

    def planner(before: FileState) -> Plan[JsonPlanDetails]:
        plan = plan_json_update(path, before, overlay, p["remove_keys"] or [], observe)
        module.no_log_values.update(plan.details.secrets)
        if check is not None and plan.changed:
            check(plan)
        return plan

    outcome = update_file(path, policy, planner, module.check_mode, module._diff, backup=p["backup"])
    for missing in outcome.plan.details.missing_keys:
        module.warn(f"remove_keys: {missing} is not in {path}, so nothing was removed for it")
    removed = [key for key in (p["remove_keys"] or []) if key not in outcome.plan.details.missing_keys]
    return dict(outcome.result, config=outcome.plan.details.document, removed_keys=removed), outcome.plan.changed


def json_update_predicted(path: str, policy: FilePolicy, overlay: dict[str, Any]) -> dict[str, Any]:
    """Whether merging OVERLAY into PATH under POLICY would change anything (content, owner or mode), read as the write
    reads it but without its lock (a user holding a lock on their own directory must not stall a read). Returns
    {would_change}; a file the write would refuse (malformed, a link, too large, in a directory someone else controls)
    is {would_change: true, error}: the write then runs, refuses it by the same words, and fails only that task."""
    try:
        before = read_file(path, policy.max_bytes, policy.trust)
        plan = plan_json_update(path, before, overlay, [])
    except BuildhostError as exc:
        return {"would_change": True, "error": str(exc)}
    wanted = policy.attributes(before)
    drift = before.exists and (before.mode, before.uid, before.gid) != (wanted.mode, wanted.uid, wanted.gid)
    return {"would_change": plan.changed or drift or not before.exists}
