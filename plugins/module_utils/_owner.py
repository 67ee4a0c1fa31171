# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user whose Docker client state (config.json, buildx builders) a module manages, and how to act as them."""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


class UnknownOwner(BuildhostError):
    pass


def owner_argument_spec() -> dict[str, Any]:
    """The O(owner) option, documented in the owner doc fragment; one definition for every module that has it."""
    return dict(owner=dict(type="str"))


@dataclass(frozen=True)
class Owner:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def docker_config_dir(self) -> str:
        return os.path.join(self.home, ".docker")

    @property
    def docker_config_path(self) -> str:
        return os.path.join(self.docker_config_dir, "config.json")

    def process_identity(self) -> dict[str, Any]:
        """subprocess keyword arguments that run a program as this user, with all their groups (docker among them).

        Empty when the module already runs as them. Programs that read and write the user's own tree (the docker
        CLI with its plugins, contexts and buildx state) run as the user: as root they would load the user's
        plugins with root's rights and follow whatever links the user planted.
        """
        if os.geteuid() == self.uid:
            return {}
        if os.geteuid() != 0:
            raise UnknownOwner(f"running docker as {self.name} needs root (become: true); the module runs as uid"
                               f" {os.geteuid()}")
        return dict(user=self.uid, group=self.gid, extra_groups=os.getgrouplist(self.name, self.gid))

    def process_environment(self) -> dict[str, str]:
        """The variables a login as this user would set, so that nothing of root's (HOME) leaks into their tools."""
        return dict(HOME=self.home, USER=self.name, LOGNAME=self.name)


def resolve_owner(name: str | None) -> Owner:
    """NAME, or the user the module runs as when NAME is empty."""
    try:
        entry = pwd.getpwnam(name) if name else pwd.getpwuid(os.getuid())
    except KeyError:
        raise UnknownOwner(f"user {name!r} does not exist on this host") from None
    return Owner(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
