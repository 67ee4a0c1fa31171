# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve the user whose Docker client configuration a module manages."""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass


class UnknownOwner(Exception):
    pass


@dataclass(frozen=True)
class Owner:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def docker_config_dir(self) -> str:
        return os.path.join(self.home, ".docker")


def resolve_owner(name: str | None) -> Owner:
    """NAME, or the user the module runs as when NAME is empty."""
    try:
        entry = pwd.getpwnam(name) if name else pwd.getpwuid(os.getuid())
    except KeyError:
        raise UnknownOwner(f"user {name!r} does not exist on this host") from None
    return Owner(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
