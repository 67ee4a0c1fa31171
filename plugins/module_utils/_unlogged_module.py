# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An AnsibleModule that keeps its invocation out of the managed host's journal, for modules whose options may hold
credentials that no per-option no_log can single out (free-form build arguments, settings, job variables)."""
from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


class UnloggedModule(AnsibleModule):
    """An AnsibleModule whose no_log, once on, stays on: construct it with no_log=True.

    AnsibleModule's constructor logs its invocation, every option not marked no_log, to the host's journal or syslog,
    unless no_log is on. The controller sends _ansible_no_log with every task (false unless the task sets no_log), and
    AnsibleModule lets it replace the constructor's no_log=True before that log; here it can only switch no_log on.
    The result the controller gets is not affected: modules mask secrets in it with no_log_values.
    """

    @property
    def no_log(self) -> bool:
        return self.__dict__.get("_no_log_pinned", False)

    @no_log.setter
    def no_log(self, value: bool) -> None:
        self.__dict__["_no_log_pinned"] = self.no_log or bool(value)
