# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask the installed dockerd whether a daemon.json candidate would let it start."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any


class DaemonConfigRejected(Exception):
    pass


@dataclass(frozen=True)
class Validation:
    validated: bool
    detail: str


def validate_daemon_config(module: Any, candidate_text: str, path: str) -> Validation:
    """Run ``dockerd --validate`` (Docker 23+) on CANDIDATE_TEXT; raise DaemonConfigRejected when it refuses."""
    dockerd = module.get_bin_path("dockerd")
    if dockerd is None:
        return Validation(False, "not validated: dockerd is not installed on this host")
    rc, out, err = module.run_command([dockerd, "--help"])
    if "--validate" not in out + err:
        return Validation(False, "not validated: this dockerd has no --validate option (it arrived in Docker 23.0)")
    fd, candidate = tempfile.mkstemp(prefix="daemon.json.candidate.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(candidate_text)
        rc, out, err = module.run_command([dockerd, "--validate", "--config-file", candidate])
    finally:
        os.unlink(candidate)
    message = (err or out).strip().replace(candidate, path)
    if rc != 0:
        raise DaemonConfigRejected(f"dockerd rejects the new {path}, which was left unchanged: {message}")
    return Validation(True, f"validated with {dockerd} --validate: {message}")
