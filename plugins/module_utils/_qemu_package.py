# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the static QEMU package is installed as asked, from dpkg's own record: a round trip far lighter than apt's,
which opens the whole package cache, so that an unchanged host never runs apt."""
from __future__ import annotations

import re
from typing import Any

# dpkg-query's ${db:Status-Abbrev} of a fully installed package: desired "install", status "installed", no error flag.
FULLY_INSTALLED = "ii "


def version_matches_pin(version: str, pin: str) -> bool:
    """Whether VERSION is what PIN asks for: any version for an empty pin; apt's wildcard `*` matches any run of
    characters ("1:10.0*"), and everything else literally."""
    if not pin:
        return True
    return re.fullmatch(".*".join(re.escape(part) for part in pin.split("*")), version) is not None


def package_state(module: Any, name: str, pin: str) -> dict[str, Any]:
    """The package NAME as dpkg records it: {manager, installed, version}. ``installed`` is true only for a fully
    installed package at PIN; ``manager`` and ``installed`` are None where there is no dpkg (the role's package
    module then decides)."""
    dpkg_query = module.get_bin_path("dpkg-query")
    if dpkg_query is None:
        return {"manager": None, "installed": None, "version": None}
    rc, out, _err = module.run_command([dpkg_query, "--show", "--showformat=${db:Status-Abbrev}|${Version}", name])
    status, _separator, version = out.partition("|")
    if rc != 0 or status != FULLY_INSTALLED:
        return {"manager": "dpkg", "installed": False, "version": version.strip() or None}
    return {"manager": "dpkg", "installed": version_matches_pin(version.strip(), pin), "version": version.strip()}
