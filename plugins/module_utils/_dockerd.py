# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask the installed dockerd whether a daemon.json candidate would let it start."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


class DaemonConfigRejected(BuildhostError):
    pass


@dataclass(frozen=True)
class Validation:
    validated: bool
    detail: str


def validate_daemon_config(module: Any, candidate: bytes, path: str) -> Validation:
    """Run ``dockerd --validate`` (Docker 23+) on CANDIDATE_TEXT; raise DaemonConfigRejected when it refuses."""
    dockerd = module.get_bin_path("dockerd")
    if dockerd is None:
        return Validation(False, "not validated: dockerd is not installed on this host")
    rc, out, err = module.run_command([dockerd, "--help"])
    if "--validate" not in out + err:
        return Validation(False, "not validated: this dockerd has no --validate option (it arrived in Docker 23.0)")
    fd, candidate_path = tempfile.mkstemp(prefix="daemon.json.candidate.", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(candidate)
        rc, out, err = module.run_command([dockerd, "--validate", "--config-file", candidate_path])
    finally:
        os.unlink(candidate_path)
    message = (err or out).strip().replace(candidate_path, path)
    if rc != 0:
        raise DaemonConfigRejected(f"dockerd rejects the new {path}, which was left unchanged: {message}")
    return Validation(True, f"validated with {dockerd} --validate: {message}")
