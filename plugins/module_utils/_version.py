# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one version parser: Docker and buildx version strings as distributions really print them."""
from __future__ import annotations

import re

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

_LEADING_NUMBERS = re.compile(r"^v?(\d+(?:\.\d+)*)")


class UnparsableVersion(BuildhostError):
    pass


def parse_version(text: str) -> tuple[int, ...]:
    """``20.10.24+dfsg1`` -> (20, 10, 24); ``18.09.9-ce`` -> (18, 9, 9); ``v0.13.1`` -> (0, 13, 1).

    Only the leading dotted numbers count: distribution suffixes (+dfsg1, ~ds1, -ce, -3) say how
    it was packaged, not which release it is. ``19.03`` and ``19.3`` are the same release.
    """
    match = _LEADING_NUMBERS.match(text.strip())
    if not match:
        raise UnparsableVersion(f"{text!r} is not a version number")
    numbers = tuple(int(part) for part in match.group(1).split("."))
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers = numbers[:-1]  # so that 19.03.0 == 19.03
    return numbers


def version_at_least(found: str, minimum: str) -> bool:
    return parse_version(found) >= parse_version(minimum)
