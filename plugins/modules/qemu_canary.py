#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_canary
short_description: Prove that the registered QEMU runs real programs, with Debian's ldconfig and getconf in a chroot
version_added: 0.3.0
description:
  - Runs Debian's own C(ldconfig) and C(getconf) (by default) for each of O(platforms), with C(chroot), through
    binfmt_misc. The kernel hands them to the very interpreter every build uses, opened when the handler was registered
    thanks to the fix-binary flag C(F). C(ldconfig) is what dpkg's libc-bin trigger runs during C(apt-get install), a
    static-pie program where the known QEMU crashes are; C(getconf) is dynamically linked, so the emulated loader maps
    and relocates libc.
  - Only platforms whose handler the M(multiarch.buildhost.binfmt) run requested and the kernel has enabled are
    targets; the others are reported as skipped.
  - The root filesystem of each architecture is built once into O(dir) from O(packages) of O(suite), downloaded with
    C(apt-get) and a private apt state (its own sources list, lists, status and preferences, deleted afterwards) and
    unpacked with C(dpkg-deb). The host's sources, package lists, dpkg database and architectures stay as they are.
    A marker file written last (O(marker)) says a root filesystem is complete.
  - Each program runs O(repeat) times. A QEMU whose programs fail in more than O(max_crash_percent) of their runs, or
    print something O(programs[].expect) does not match, fails the module; fewer crashes are reported as a warning.
  - Once the canary passed, a stamp named after the interpreter, the flags, the QEMU version, the suite and the mirror
    records it, so the canary runs again only when one of those changes, or with O(force=true).
  - Stamps of other interpreters, flags or QEMU versions, and root filesystems of platforms or suites nothing asks for
    any more, are removed.
  - Needs root, C(chroot), C(apt-get), C(dpkg-deb) and apt's download user C(_apt); the cache directory is root's.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
attributes:
  check_mode:
    support: full
    details: Downloads and runs nothing; predicts from the cache what a run would do.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run finds the stamps the first one wrote and runs nothing, unless O(force=true).
options:
  binfmt:
    description:
      - The registered result of M(multiarch.buildhost.binfmt) run with
        O(multiarch.buildhost.binfmt#module:report_versions=true).
      - Its C(handlers), C(requested_handlers) and C(qemu_versions) are read.
    type: dict
    required: true
  probes:
    description:
      - Handler name (V(qemu-aarch64)) to its row of the qemu role's probe table; C(platform) and C(debian_arch) are
        read.
    type: dict
    required: true
  platforms:
    description: The platforms the canary runs on, in Docker's spelling. Native or unregistered platforms are skipped.
    type: list
    elements: str
    default: [linux/arm64]
  dir:
    description: Where the root filesystems and the stamps are kept; one directory per suite and architecture.
    type: path
    default: /var/cache/multiarch-buildhost/qemu-canary
  suite:
    description: The Debian suite whose packages make the root filesystems.
    type: str
    default: bullseye
  mirror:
    description: The Debian mirror the packages come from.
    type: str
    default: http://deb.debian.org/debian
  keyring:
    description: The keyring the mirror's signatures are checked against.
    type: path
    default: /usr/share/keyrings/debian-archive-keyring.gpg
  packages:
    description: The packages unpacked into each root filesystem.
    type: list
    elements: str
    default: [libc6, libc-bin]
  programs:
    description: What runs in each root filesystem.
    type: list
    elements: dict
    default:
      - name: ldconfig
        argv: [/sbin/ldconfig, -C, /tmp/ld.so.cache]
        expect: ""
      - name: getconf
        argv: [/usr/bin/getconf, GNU_LIBC_VERSION]
        expect: "^glibc [0-9]"
    suboptions:
      name:
        description: The program's name in messages and in the stamp.
        type: str
        required: true
      argv:
        description: The command line inside the root filesystem.
        type: list
        elements: str
        required: true
      expect:
        description:
          - A regular expression the output of the last successful run must match (searched, not anchored).
          - Not checked when every run failed.
        type: str
        default: ""
  repeat:
    description: How many times each program runs (about 0.1 s a run), so that intermittent crashes show.
    type: int
    default: 50
  timeout:
    description: Seconds a run may take; one that takes longer counts as a failure that had no answer.
    type: int
    default: 120
  max_crash_percent:
    description:
      - A QEMU whose programs fail in more than this share of their runs fails the module. Fewer failures are reported
        as a warning with the count. V(0) refuses any crash.
    type: int
    default: 20
  marker:
    description: The name of the file that marks a root filesystem complete and lists what it holds.
    type: str
    default: multiarch-buildhost-canary.json
  force:
    description:
      - Run the canary for every target even when its stamp exists (for a handler registered in this run, or when
        every run must prove emulation).
    type: bool
    default: false
  plan_only:
    description:
      - Only read the cache and say what a run would do (RV(due), RV(unbuilt), RV(stale_stamps), RV(stale_dirs),
        RV(has_work)); never change anything, also outside check mode.
    type: bool
    default: false
notes:
  - A QEMU that fails the canary fails the module with a message that names the interpreter, its QEMU version and
    flags, the program and how its first failure ended.
"""

EXAMPLES = r"""
- name: Register the handlers, with the QEMU versions the stamps are named after
  multiarch.buildhost.binfmt:
    platforms: [linux/arm64, linux/riscv64]
    report_versions: true
  register: qemu_binfmt

- name: Read what the canary has to do
  multiarch.buildhost.qemu_canary:
    binfmt: "{{ qemu_binfmt }}"
    probes: "{{ qemu_probes }}"
    platforms: [linux/arm64, linux/riscv64]
    plan_only: true
  register: qemu_canary_plan

- name: Run the canary where it is due
  multiarch.buildhost.qemu_canary:
    binfmt: "{{ qemu_binfmt }}"
    probes: "{{ qemu_probes }}"
    platforms: [linux/arm64, linux/riscv64]
    force: "{{ qemu_binfmt is changed }}"
  when: qemu_canary_plan.has_work or qemu_binfmt is changed
"""

RETURN = r"""
targets:
  description:
    - The canary platforms this host emulates through the requested, enabled handlers, each with its root filesystem
      and the stamp that says the canary passed with this interpreter, these flags and this QEMU version.
  returned: always
  type: list
  elements: dict
  sample:
    - platform: linux/arm64
      handler: qemu-aarch64
      arch: arm64
      dir: /var/cache/multiarch-buildhost/qemu-canary/bullseye-arm64
      rootfs: /var/cache/multiarch-buildhost/qemu-canary/bullseye-arm64/rootfs
      marker: /var/cache/multiarch-buildhost/qemu-canary/bullseye-arm64/multiarch-buildhost-canary.json
      interpreter: /usr/bin/qemu-aarch64-static
      flags: PCF
      qemu_version: "7.2.13 (Debian 1:7.2+dfsg-7+deb12u7)"
      stamp: /var/cache/multiarch-buildhost/qemu-canary/bullseye-arm64/passed-0123456789abcdef.json
due:
  description:
    - The targets the canary runs for, shaped like RV(targets). Those without a matching stamp, those whose root
      filesystem is built in this run, or all of them with O(force=true).
  returned: always
  type: list
  elements: dict
unbuilt:
  description: The targets without a complete root filesystem (no marker), shaped like RV(targets).
  returned: always
  type: list
  elements: dict
stale_stamps:
  description: Stamps in the cache that no target names (other interpreters, flags, QEMU versions, suites or mirrors).
  returned: always
  type: list
  elements: str
stale_dirs:
  description: Directories of the cache with a marker that no target names (platforms or suites no longer asked for).
  returned: always
  type: list
  elements: str
has_work:
  description: Whether anything is due, unbuilt or stale.
  returned: always
  type: bool
verdicts:
  description:
    - One per due target and program, in that order; empty in check mode and with O(plan_only=true). The target's keys
      with C(program), C(argv), C(expect), C(runs), C(failures), C(outcome) (how the first failure ended), C(stderr)
      (its last lines, joined with V( / )) and C(output) (what the last successful run printed, on one line).
  returned: always
  type: list
  elements: dict
  sample:
    - platform: linux/arm64
      arch: arm64
      program: ldconfig
      argv: [/sbin/ldconfig, -C, /tmp/ld.so.cache]
      expect: ""
      runs: 50
      failures: 1
      outcome: was killed by signal 11 (segmentation fault)
      stderr: "qemu: uncaught target signal 11 (Segmentation fault) - core dumped"
      output: ""
built:
  description: Architectures whose root filesystem was built (in check mode, would be built).
  returned: always
  type: list
  elements: str
  sample: [arm64]
removed:
  description: Stale stamps and directories removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
msg:
  description:
    - What the canary did, platform by platform. In check mode and with O(plan_only=true), what it would do.
  returned: always
  type: str
  sample: >-
    canary (bullseye ldconfig and getconf): linux/arm64 ran and passed (QEMU 7.2.13); skipped (not emulated
    here): linux/s390x
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_converge import (
    Host,
    canary_argument_spec,
    converge,
    request_from_params,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import CanaryError
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError


def main() -> None:
    module = AnsibleModule(
        argument_spec=canary_argument_spec(),
        supports_check_mode=True,
    )
    try:
        result = converge(request_from_params(module.params), module.check_mode, Host(module))
    except BuildhostError as exc:
        # The canary's own messages are the role's, word for word; anything else gets the module's name.
        module.fail_json(msg=str(exc) if isinstance(exc, CanaryError) else f"qemu_canary: {exc}", **exc.details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
