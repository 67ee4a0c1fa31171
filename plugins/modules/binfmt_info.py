#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: binfmt_info
short_description: Report the QEMU handlers registered in binfmt_misc
version_added: 0.2.0
description:
  - Lists the QEMU handlers in the kernel's binfmt_misc with their interpreter, flags, Docker platform and the
    interpreter's own QEMU version, and the platforms they emulate. Never changes anything (it does not mount
    binfmt_misc either).
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
options: {}
"""

EXAMPLES = r"""
- name: Read the emulators
  multiarch.buildhost.binfmt_info:
  register: emulation
"""

RETURN = r"""
mounted:
  description: Whether binfmt_misc is mounted.
  returned: always
  type: bool
handlers:
  description: The QEMU handlers, by name.
  returned: always
  type: dict
  sample: {"qemu-aarch64": {"enabled": true, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "CFOP",
           "platform": "linux/arm64", "qemu_version": "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)"}}
emulated_platforms:
  description: Docker platforms whose handler is registered and enabled.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt_kernel import handler_report
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


def main() -> None:
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    try:
        result = handler_report(module)
    except BuildhostError as exc:
        module.fail_json(msg=f"binfmt_info: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
