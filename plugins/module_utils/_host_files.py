# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether root's own small files (a script, systemd units) and timers are as a role would write them, so that a read
can tell an unchanged host without the copy and systemd modules' round trips (the prune watchdog's files)."""
from __future__ import annotations

from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import read_file

MAX_BYTES = 1024 * 1024


def file_state(path: str, content: str, mode: int) -> dict[str, Any]:
    """exists, and would_change: whether writing CONTENT with MODE, owned by root, would change PATH. Reached without
    following links, in directories only root controls (read_file's default trust); a file that cannot be read so is
    {would_change: true, error}, for the write to refuse."""
    try:
        state = read_file(path, MAX_BYTES)
    except BuildhostError as exc:
        return {"exists": None, "would_change": True, "error": str(exc)}
    same = state.exists and state.content == content.encode("utf-8") and state.mode == mode and state.uid == 0 and state.gid == 0
    return {"exists": state.exists, "would_change": not same}


def timer_state(module: Any, name: str) -> dict[str, bool]:
    """enabled and active, as systemd says, in one systemctl run; both false where there is no systemd."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return {"enabled": False, "active": False}
    _rc, out, _err = module.run_command([systemctl, "show", name, "--property", "UnitFileState,ActiveState"])
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {"enabled": values.get("UnitFileState") == "enabled", "active": values.get("ActiveState") == "active"}
