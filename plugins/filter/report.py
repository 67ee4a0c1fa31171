# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write the fleet report (docs: markdown_cell.yml, report_warnings.yml)."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Any

from ansible.errors import AnsibleFilterError

# What the report shows comes partly from users: a builder's name is whatever their own buildx chose. A line break
# would end the table row and let the next line forge another host's; a `|` would shift every later cell. Line breaks,
# control characters and invisible format characters (bidirectional overrides, zero-width joiners) are shown as
# Python writes them in a string (`\n`, `\x1b`, `\u202e`); Markdown prints a backslash before a letter as it is.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Backslash-escaped: `|` so it stays in its cell; `<` and `>` so no HTML tag or comment (`<!--` could hide the rows
# after it) and no autolink; `[` and `]` so no link or tracking image; `` ` `` and `*` so no code span or emphasis
# reaches across the cell (and `*`, the report's current-builder mark, is never forged); `\` itself so what is
# escaped reads back as written. `_` is left alone: it is common in names and does not emphasise inside a word.
_MARKDOWN_SPECIAL = frozenset("\\|<>[]`*")


def _escaped(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if char in _MARKDOWN_SPECIAL:
        return "\\" + char
    if unicodedata.category(char) in _UNPRINTABLE:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def markdown_cell(value: Any) -> str:
    """VALUE as text that stays in one cell of a Markdown table, whatever it holds.

    A string, number, boolean or null is printed as Jinja prints it (None, True), then escaped: it can neither end
    the row nor the cell, nor start a link, an image or HTML. A list or a mapping is refused: a cell holds one value,
    and which way to join several is the template's choice.
    """
    if value is not None and not isinstance(value, (str, int, float)):
        raise AnsibleFilterError(f"markdown_cell takes one string, number, boolean or null, not {type(value).__name__};"
                                 " join a list first (| join(', '))")
    return "".join(_escaped(char) for char in str(value))


GIB = 1024 ** 3
# The thresholds report.yml passes (report_warn_*), with the same defaults: a server certificate is re-issued 30 days
# before its end and a client certificate 3 days before (buildkit role), so fewer days left than these means the
# renewal has not run; a data root this full fails builds soon.
DEFAULT_THRESHOLDS = {"server_certificate_days": 14, "client_certificate_days": 2, "free_bytes": 5 * GIB,
                      "free_fraction": 0.1, "free_inodes": 100000}


def _moment(value: str) -> datetime:
    """A time as community.crypto.x509_certificate_info gives a certificate's end (ASN.1 20261231235959Z), or in ISO 8601
    (Ansible's now(utc=true).isoformat() has no zone: UTC is meant)."""
    try:
        moment = datetime.strptime(value, "%Y%m%d%H%M%SZ")
    except (TypeError, ValueError):
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise AnsibleFilterError(f"report_warnings: {value!r} is not a time (a certificate's end, or now)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _certificate_warnings(certificates: list, now: datetime, thresholds: dict) -> list[str]:
    warnings = []
    for certificate in certificates:
        kind = certificate.get("kind", "server")
        end = _moment(certificate["not_after"])
        days = (end - now).total_seconds() / 86400
        limit = thresholds[f"{kind}_certificate_days"]
        if days < 0:
            warnings.append(f"the {kind} certificate {certificate['path']} expired on {end:%Y-%m-%d}: run setup-builders.yml")
        elif days < limit:
            warnings.append(f"the {kind} certificate {certificate['path']} ends in {int(days)} days ({end:%Y-%m-%d}),"
                            f" under {limit}: setup-builders.yml has not renewed it")
    return warnings


def _builder_warnings(builders: list, plan: dict | None) -> list[str]:
    """Nodes that do not answer, and (fleet mode) planned nodes a builder runs without, whose platforms it then builds
    under QEMU."""
    warnings = []
    for user in builders:
        for builder in user.get("builders") or []:
            where = f"{user['user']}'s builder {builder['name']}"
            for node in builder.get("nodes") or []:
                if node.get("status") != "running":
                    platforms = ", ".join(node.get("platforms") or []) or "its platforms"
                    warnings.append(f"{where}: node {node['name']} ({node.get('endpoint')}) does not answer"
                                    f" ({node.get('status') or 'no status'}); {platforms} cannot build there")
            if plan and builder["name"] == plan.get("builder"):
                present = {node.get("name") for node in builder.get("nodes") or []}
                for node in plan.get("remote") or []:
                    if node["name"] not in present:
                        warnings.append(f"{where} runs without the fleet's node {node['name']}: {', '.join(node['platforms'])}"
                                        " are built under QEMU until it answers and setup-builders.yml runs")
    return warnings


def _disk_warnings(engine: dict, thresholds: dict) -> list[str]:
    size, free, inodes = engine.get("data_root_size_bytes"), engine.get("data_root_free_bytes"), engine.get("data_root_free_inodes")
    warnings = []
    if size and free is not None and (free < thresholds["free_bytes"] or free < size * thresholds["free_fraction"]):
        warnings.append(f"Docker's data root {engine.get('data_root')} has {free / GIB:.1f} GiB free of {size / GIB:.1f} GiB,"
                        f" under {thresholds['free_bytes'] / GIB:.1f} GiB or {thresholds['free_fraction']:.0%}: builds fail"
                        " when it is full (docker builder prune, or a lower multiarch_gc_keep_storage)")
    if inodes is not None and inodes < thresholds["free_inodes"]:
        warnings.append(f"Docker's data root {engine.get('data_root')} has {inodes} inodes free, under"
                        f" {thresholds['free_inodes']}: a cache of many small files fills it before its bytes")
    return warnings


def _emulation_warnings(emulation: dict) -> list[str]:
    """QEMU in a known-bad range (the qemu_known_bad_findings filter's findings, an accepted entry aside), and canary
    platforms with no pass for the QEMU now registered (qemu_host_state's canary plan: its due targets)."""
    warnings = []
    for finding in emulation.get("known_bad") or []:
        if finding.get("affected") and not finding.get("accepted"):
            interpreters = ", ".join(f"{item['interpreter'] or item['handler']} ({item['qemu_version']})"
                                     for item in finding["affected"])
            warnings.append(f"QEMU known-bad ({finding['id']}, {finding['introduced']} <= version < {finding['fixed']}):"
                            f" {interpreters}; image builds crash: install another QEMU, or list {finding['id']} in"
                            " qemu_known_bad_accept for a build your distribution patched")
    for target in (emulation.get("canary") or {}).get("due") or []:
        warnings.append(f"the QEMU canary has no pass for {target['platform']} with {target['interpreter']}"
                        f" (QEMU {target['qemu_version']}): it failed, or setup-builders.yml has not run since QEMU or"
                        " the handler changed")
    return warnings


def _thresholds(given: dict[str, Any] | None) -> dict[str, float]:
    """DEFAULT_THRESHOLDS with GIVEN's set values as numbers: `-e report_warn_free_bytes=...` arrives as a string,
    and an unset variable as None or '' (default(none) renders as '' on older ansible-core)."""
    limits: dict[str, float] = dict(DEFAULT_THRESHOLDS)
    for key, value in (given or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise AnsibleFilterError(f"report_warnings: unknown threshold {key!r}; it takes {', '.join(DEFAULT_THRESHOLDS)}")
        if value is None or value == "":
            continue
        try:
            limits[key] = float(value) if key == "free_fraction" else int(float(value))
        except (TypeError, ValueError):
            raise AnsibleFilterError(f"report_warnings: threshold {key} is {value!r}, not a number") from None
    return limits


def report_warnings(readings: dict[str, Any], thresholds: dict[str, Any] | None = None) -> list[str]:
    """What stands against a host's builds, one sentence each: certificates near their end or past it, nodes that do
    not answer, fleet nodes a builder runs without (their platforms fall back to QEMU), a data root near full, a QEMU
    known to crash and a canary with no pass for the QEMU now registered. READINGS holds the host's certificates,
    builders, fleet plan, engine, emulation and the time ``now`` (ISO 8601)."""
    limits = _thresholds(thresholds)
    now = _moment(readings["now"]) if readings.get("now") else datetime.now(timezone.utc)
    return (_certificate_warnings(readings.get("certificates") or [], now, limits)
            + _builder_warnings(readings.get("builders") or [], readings.get("fleet_plan"))
            + _disk_warnings(readings.get("engine") or {}, limits)
            + _emulation_warnings(readings.get("emulation") or {}))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"markdown_cell": markdown_cell, "report_warnings": report_warnings}
