# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one read-plan-write flow of every module that edits a configuration file.

daemon.json, config.json and config.toml differ only in how a document is parsed, merged and redacted (the
planner) and in who owns the file (the policy). Everything else happens here, once: the safe open, the size
limit, the lock, check mode, the redacted diff, the backup with the new mode, and the atomic write with owner and
mode. A fix to any of these lands for all three files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import (
    FileState,
    NewDirectory,
    Trust,
    open_parent,
)

# Docker's and GitLab Runner's own files are a few KiB; anything this large is not a file someone meant to edit.
MAX_CONFIG_BYTES = 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Attributes:
    mode: int
    uid: int
    gid: int

    def describe(self) -> str:
        return f"mode {self.mode:04o}, owner {self.uid}:{self.gid}"


@dataclass(frozen=True)
class FilePolicy:
    """Who owns a managed file and how its attributes are kept."""

    trust: Trust
    new_directory: NewDirectory | None  # None: a missing directory is an error for the planner to report
    new_file: Attributes
    # Bits an existing file may keep; a credentials file keeps only the owner's (0o600).
    mode_mask: int = 0o7777
    # The owner a file must have; None keeps whoever owns it now.
    uid: int | None = None
    max_bytes: int = MAX_CONFIG_BYTES

    def attributes(self, before: FileState) -> Attributes:
        if not before.exists:
            return self.new_file
        mode, owner, group = int(before.mode or 0), int(before.uid or 0), int(before.gid or 0)  # set for any file that exists
        return Attributes(mode & self.mode_mask, owner if self.uid is None else self.uid, group)


@dataclass(frozen=True)
class Plan(Generic[T]):
    """What a planner decided for one file; nothing is written by computing it."""

    content: bytes  # the complete new file
    changed: bool  # whether the document changed (compared as data, so formatting alone is no change)
    shown_before: str  # the old and new text as the diff may show them: secrets already masked
    shown_after: str
    details: T = None  # type: ignore[assignment]  # whatever the module reports besides (config, runners...)


@dataclass
class Outcome(Generic[T]):
    plan: Plan[T]
    result: dict[str, Any] = field(default_factory=dict)  # changed, path, diff, backup_file


def without_path_stat(module: Any) -> Any:
    """Stop AnsibleModule from stat()ing the result's ``path`` by name on exit.

    exit_json adds owner, mode and size of any ``path`` it returns, following symbolic links: a user racing the module
    could point that at root's files (and make the module crash when the link dangles). What the modules report about
    the file was read through the opened descriptor instead.
    """
    module.add_path_info = lambda kwargs: kwargs
    return module


def update_file(
    path: str,
    policy: FilePolicy,
    planner: Callable[[FileState], Plan[T]],
    check_mode: bool,
    diff: bool,
    backup: bool = False,
) -> Outcome[T]:
    """Plan PATH's new content under a lock and, unless in CHECK_MODE, write it; returns what to report.

    A planner raises a BuildhostError to refuse the file; the file is then left exactly as it was.
    """
    # The directories are created only once we know the file will be written, which a missing directory implies;
    # a second pass then plans again under the lock, since another run may have created the file meanwhile.
    for create in (None, policy.new_directory):
        with open_parent(path, policy.trust, create) as parent:
            before = parent.read(policy.max_bytes)
            plan = planner(before)
            if parent.fd is None and not check_mode and create is None and policy.new_directory is not None:
                continue
            wanted = policy.attributes(before)
            attributes_drift = before.exists and (before.mode, before.uid, before.gid) != (wanted.mode, wanted.uid, wanted.gid)
            changed = plan.changed or attributes_drift or not before.exists
            result: dict[str, Any] = {"changed": changed, "path": path}
            if diff:
                shown = Attributes(before.mode, before.uid, before.gid).describe() if before.exists else "absent"
                result["diff"] = {
                    "before_header": f"{path} ({shown})",
                    "after_header": f"{path} ({wanted.describe()})",
                    "before": plan.shown_before if before.exists else "",
                    "after": plan.shown_after,
                }
            if changed and not check_mode:
                if backup and before.exists:
                    result["backup_file"] = parent.backup(before.content, wanted.mode, wanted.uid, wanted.gid)
                content = plan.content if plan.changed or not before.exists else before.content
                parent.write(content, wanted.mode, wanted.uid, wanted.gid)
            return Outcome(plan, result)
    raise AssertionError("unreachable: the second pass always returns")
