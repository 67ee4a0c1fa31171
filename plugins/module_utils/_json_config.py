# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The common run of both Docker config modules: plan, honour check mode, back up, write, report."""
from __future__ import annotations

from typing import Any, Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._atomic_file import FileRefused, read_regular_file, write_atomically
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_file import JsonFileError, JsonUpdate, plan_update, render


def plan_or_fail(module: Any, path: str, overlay: dict[str, Any], remove_keys: list[str]) -> JsonUpdate:
    """Read PATH and plan the merge; a file that cannot be used fails the task, naming it, before anything is written."""
    try:
        return plan_update(path, read_regular_file(path), overlay, remove_keys)
    except (FileRefused, JsonFileError) as exc:
        module.fail_json(msg=str(exc), path=path)
        raise  # fail_json exits; this keeps type checkers and readers sure nothing follows


def apply_json_update(
    module: Any,
    update: JsonUpdate,
    mode: int,
    uid: int,
    gid: int,
    before_write: Callable[[], None] | None = None,
    shown: Callable[[dict[str, Any]], dict[str, Any]] = lambda doc: doc,
) -> dict[str, Any]:
    """Write UPDATE unless in check mode; SHOWN filters what the result and diff may reveal."""
    attributes_drift = update.before.exists and (update.before.mode, update.before.uid, update.before.gid) != (mode, uid, gid)
    changed = update.changed or attributes_drift
    result: dict[str, Any] = {"changed": changed, "path": update.path, "config": shown(update.after_doc)}
    if module._diff:
        result["diff"] = {
            "before_header": update.path,
            "after_header": update.path,
            "before": render(shown(update.before_doc)) if update.before.exists else "",
            "after": render(shown(update.after_doc)),
        }
    if not changed or module.check_mode:
        return result
    if before_write is not None:
        before_write()
    if module.params.get("backup") and update.before.exists:
        result["backup_file"] = module.backup_local(update.path)
    write_atomically(update.path, update.after_text.encode("utf-8") if update.changed else update.before.content, mode, uid, gid)
    return result
