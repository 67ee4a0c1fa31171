# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qemu role's known-bad check as a filter (docs: qemu_known_bad_findings.yml): which registered QEMU falls in a
release range known to crash in image builds. It was a Jinja program in the role's task vars."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.module_utils._version import UnparsableVersion, parse_version


def _numbers(version: str, where: str) -> tuple[int, ...]:
    """QEMU's own version, from the start of what `qemu-<arch> --version` reports ("10.0.6 (Debian 1:10.0.6+ds-...)"),
    read by the collection's one version parser."""
    try:
        return parse_version(str(version))
    except UnparsableVersion:
        raise AnsibleFilterError(f"qemu_known_bad_findings: {where} is not a QEMU version: {version!r}") from None


def _is_version(version: Any) -> bool:
    try:
        parse_version(str(version))
    except UnparsableVersion:
        return False
    return True


def vetted_interpreters(binfmt: dict[str, Any]) -> list[dict[str, str]]:
    """The requested handlers whose interpreter reported a QEMU version: handler, interpreter, qemu_version."""
    versions = binfmt.get("qemu_versions") or {}
    handlers = binfmt.get("handlers") or {}
    vetted = []
    for name in binfmt.get("requested_handlers") or []:
        version = versions.get(name)
        if version and _is_version(version):
            vetted.append({"handler": name, "interpreter": (handlers.get(name) or {}).get("interpreter"),
                           "qemu_version": str(version)})
    return vetted


def qemu_known_bad_findings(binfmt: dict[str, Any], known_bad: list[dict[str, Any]],
                            accept: list[str] | None = None) -> list[dict[str, Any]]:
    """One finding per KNOWN_BAD entry: the entry, the interpreters of BINFMT (a binfmt result with report_versions)
    whose QEMU lies in ``introduced <= version < fixed`` (affected), whether ACCEPT names it, and every version vetted."""
    if not isinstance(binfmt, dict):
        raise AnsibleFilterError(f"qemu_known_bad_findings: the input is the binfmt module's result, not {type(binfmt).__name__}")
    vetted = vetted_interpreters(binfmt)
    findings = []
    for entry in known_bad or []:
        low = _numbers(entry["introduced"], f"{entry['id']}'s introduced")
        high = _numbers(entry["fixed"], f"{entry['id']}'s fixed")
        affected = [item for item in vetted if low <= _numbers(item["qemu_version"], item["handler"]) < high]
        findings.append(dict(entry, affected=affected, accepted=entry["id"] in (accept or []),
                             vetted_versions=sorted({item["qemu_version"] for item in vetted})))
    return findings


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"qemu_known_bad_findings": qemu_known_bad_findings}
