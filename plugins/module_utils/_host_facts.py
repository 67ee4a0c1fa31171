# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few host facts the roles read (the distribution, its family and release, the architecture), collected by
Ansible's own fact collectors, so that the docker role's first read can stand in for fact gathering: one round trip
less on every run of setup-builders.yml."""
from __future__ import annotations

from typing import Any

from ansible.module_utils.facts.system.distribution import DistributionFactCollector
from ansible.module_utils.facts.system.platform import PlatformFactCollector

# What the roles read of ansible_facts; the same values `gather_subset: [min]` gives.
ROLE_FACTS = ("distribution", "distribution_release", "distribution_version", "distribution_major_version", "os_family",
              "architecture")


def role_facts(module: Any) -> dict[str, Any]:
    collected: dict[str, Any] = {}
    for collector in (DistributionFactCollector(), PlatformFactCollector()):
        collected.update(collector.collect(module=module, collected_facts=collected))
    return {name: collected.get(name) for name in ROLE_FACTS}
