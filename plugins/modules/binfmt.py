#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: binfmt
short_description: Register QEMU handlers in binfmt_misc, with the fix-binary flag, persistently
version_added: 0.1.0
description:
  - Registers (or removes) QEMU user-mode handlers in the kernel's binfmt_misc so that foreign-architecture binaries
    run on the host and inside containers.
  - Handlers are registered with the fix-binary flag C(F), with which the kernel opens the interpreter at registration, so it
    works inside containers and chroots that do not contain QEMU.
  - With O(persist=true), the same line is written to C(/etc/binfmt.d/qemu-<arch>.conf), so a reboot or a restart of
    systemd-binfmt (which flushes every handler) brings the handlers back. That file name also overrides a
    distribution's C(/usr/lib/binfmt.d/qemu-<arch>.conf), which usually lacks C(F).
  - The host's native architectures are never registered; they are reported in RV(native_platforms).
  - Mounts binfmt_misc when it is not mounted.
  - A C(/etc/binfmt.d/qemu-<arch>.conf) masked the systemd way (a link to C(/dev/null)) is respected. The handler is
    registered, the mask is kept, and a warning says the handler will not survive a reboot.
  - In check mode on a host where QEMU is not installed yet, registration is predicted with a warning instead of failing,
    so a dry run of the whole play gets past the package install it only predicted.
  - Conflicting handlers left alone because O(replace=false) are reported as warnings.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.FULL_SUPPORT
options:
  platforms:
    description:
      - Platforms to handle, in Docker's spelling (V(linux/arm64), V(linux/arm/v7)), as short names (V(arm64),
        V(riscv64)) or as QEMU/uname names (V(aarch64)).
      - V(all) means every known architecture whose interpreter is installed, except the native ones.
      - "Known: linux/arm64, linux/arm/v7 (and v6), linux/riscv64, linux/ppc64le, linux/s390x, linux/386, linux/amd64,
        linux/mips64le, linux/loong64."
    type: list
    elements: str
    required: true
  state:
    description: Whether the handlers are registered or removed (from the kernel and from /etc/binfmt.d).
    type: str
    choices: [present, absent]
    default: present
  flags:
    description:
      - binfmt_misc flags. Must contain V(F) (fix binary). V(C) (credentials, which implies V(O)) lets setuid
        binaries such as sudo work under emulation; V(P) preserves argv[0], which multi-call binaries such as
        busybox need when they re-execute themselves.
      - Defaults to V(PCF) on Linux 5.12 and newer (which tell QEMU that argv[0] was preserved) and V(CF) on older kernels.
    type: str
  persist:
    description: Write C(/etc/binfmt.d/qemu-<arch>.conf) so the handlers survive reboots and systemd-binfmt restarts.
    type: bool
    default: true
  replace:
    description:
      - Re-register a handler of the same name whose interpreter, flags, magic or mask differ, or that is disabled
        (for example a distribution's handler without V(F)). When false, such a handler is left alone and reported.
    type: bool
    default: true
  interpreter_path:
    description: The directory that holds the static QEMU interpreters, named C(qemu-<arch>-static).
    type: path
    default: /usr/bin
  report_versions:
    description:
      - Also return QEMU's own version behind each requested handler (RV(qemu_versions)), as
        M(multiarch.buildhost.binfmt_info) reads it, without a second module run.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Emulate the usual build platforms
  multiarch.buildhost.binfmt:
    platforms: [linux/arm64, linux/arm/v7, linux/riscv64, linux/ppc64le, linux/s390x]

- name: Every platform QEMU is installed for
  multiarch.buildhost.binfmt:
    platforms: [all]

- name: Remove the riscv64 handler and its persistent file
  multiarch.buildhost.binfmt:
    platforms: [riscv64]
    state: absent
"""

RETURN = r"""
qemu_versions:
  description: With O(report_versions), QEMU's version behind each requested handler that is registered, by handler
    name (V(null) when its interpreter is missing or says nothing); V(null) without it.
  returned: always
  type: dict
  sample: {"qemu-aarch64": "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)"}
handlers:
  description: The QEMU handlers in binfmt_misc after the run (predicted in check mode), by name.
  returned: always
  type: dict
  sample: {"qemu-aarch64": {"enabled": true, "interpreter": "/usr/bin/qemu-aarch64-static", "flags": "CFO"}}
emulated_platforms:
  description: Docker platforms whose handler is registered and enabled.
  returned: always
  type: list
  elements: str
  sample: [linux/arm64, linux/riscv64]
requested_handlers:
  description:
    - The handlers for the requested platforms that this host does not run natively, whatever else is registered.
    - What a verification step should probe.
  returned: always
  type: list
  elements: str
  sample: [qemu-aarch64, qemu-riscv64]
native_platforms:
  description: Requested platforms that this host runs natively and that were therefore not registered.
  returned: always
  type: list
  elements: str
  sample: [linux/amd64]
actions:
  description: What was (or in check mode would be) done, with the reason for each re-registration.
  returned: always
  type: list
  elements: str
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt_kernel import binfmt_argument_spec, binfmt_request, reconcile
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


def main() -> None:
    module = AnsibleModule(
        argument_spec=binfmt_argument_spec(),
        supports_check_mode=True,
    )
    try:
        request = binfmt_request(module.params)
        result = reconcile(module, request, module.check_mode)
    except BuildhostError as exc:
        module.fail_json(msg=f"binfmt: {exc}")
    for warning in result.pop("warnings"):
        module.warn(warning)
    diff = result.pop("diff")
    module.exit_json(**(dict(result, diff=diff) if module._diff else result))


if __name__ == "__main__":
    main()
