# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """Whose Docker client configuration (builders, registry credentials) a module uses."""

    DOCUMENTATION = r"""
options:
  owner:
    description:
      - The user whose Docker client configuration (C(~/.docker)) is used, for builders and registry credentials.
        Defaults to the user the module runs as.
    type: str
  docker_host:
    description: The daemon to use. Defaults to C(DOCKER_HOST), then the local socket.
    type: str
"""
