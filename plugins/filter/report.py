# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write the fleet report (docs: markdown_cell.yml)."""
from __future__ import annotations

import unicodedata
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"markdown_cell": markdown_cell}
