# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base error of the collection.

Every failure that module_utils can foresee (a refused file, a malformed document, an unknown user, a docker CLI
that fails) derives from BuildhostError, so each module's main() catches it once and turns it into fail_json.
Anything else that escapes is a bug and deserves its traceback.
"""
from __future__ import annotations

from typing import Any


class BuildhostError(Exception):
    """A failure with a message fit for the user: it names the file or object and what was wrong.

    DETAILS are returned beside the message (for example how many attempts a build made).
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details
