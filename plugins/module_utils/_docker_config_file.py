# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both Docker config-file modules (docker_daemon_config, docker_cli_config) share: their common options, the
null-able booleans, and their run, from the params through ``_managed_file`` and ``_json_merge`` to the result."""
from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import JsonPlanDetails, plan_json_update
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import FilePolicy, Plan, update_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState


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
