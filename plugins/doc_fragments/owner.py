# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """Whose Docker client configuration (builders, registry credentials) a module uses, and which daemon."""

    DOCUMENTATION = r"""
options:
  owner:
    description:
      - The user whose Docker client configuration (C(~/.docker)) is used, for builders and registry credentials.
        Defaults to the user the module runs as.
      - That user controls the directories of their home. Files there are reached without following links the user
        could have planted, and a directory that belongs to anyone but root or this user is refused.
    type: str
"""

    # multiarch.buildhost.owner.docker_host: for the modules that talk to a daemon.
    DOCKER_HOST = r"""
options:
  docker_host:
    description: The daemon to use. Defaults to C(DOCKER_HOST), then the local socket.
    type: str
"""
