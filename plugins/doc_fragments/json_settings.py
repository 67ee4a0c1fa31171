# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """Options shared by the modules that merge settings into a Docker JSON file."""

    DOCUMENTATION = r"""
options:
  settings:
    description:
      - Settings deep-merged into the file. Objects merge key by key; lists and scalars replace what is there.
      - Keys that are not named here are kept as they are.
    type: dict
    default: {}
  remove_keys:
    description:
      - Keys removed from the file before O(settings) is merged, as dotted paths such as V(features.buildkit).
      - A key that itself holds dots is found as it is (V(auths.registry.example.com) removes the C(registry.example.com)
        entry of C(auths)), or can be written with escaped dots (V(auths.registry\\.example\\.com)).
      - A path that does not exist changes nothing and is reported as a warning.
    type: list
    elements: str
    default: []
  backup:
    description:
      - Keep a timestamped copy of the previous file next to it before it is replaced.
    type: bool
    default: false
notes:
  - The file is parsed before anything is written. A file that is not a JSON object Docker would read the same way
    (malformed JSON, a byte-order mark, an array at the top level, a key twice in one object, V(NaN) or V(Infinity),
    lone UTF-16 surrogates, more than 64 levels of nesting, more than 1 MiB), a symbolic link or a directory fails
    the task and is left byte-for-byte intact.
  - Values are compared as JSON types, so C(1) is not C(true) and C(1) is not C(1.0).
  - The directories on the way are opened without following symbolic links that a user other than root could have
    made, and the file is read and replaced through its opened directory (see docs/reliability.md).
  - The new file is written to a temporary file in the same directory and renamed into place, so a reader sees
    either the old or the new file. A file that uses CRLF line ends keeps them.
"""
