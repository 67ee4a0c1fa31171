#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: qemu_host_state
short_description: Read the static QEMU package, the binfmt_misc handlers and the canary's cache in one round trip
version_added: 0.3.0
description:
  - One round trip for everything the P(multiarch.buildhost.qemu#role) role decides from, so that a host already in
    the wanted state needs no further one.
  - RV(package) is dpkg's record of the QEMU package, compared with the pinned version.
  - RV(binfmt) is what M(multiarch.buildhost.binfmt) would do with O(binfmt), computed by its own code in check mode,
    in its result's shape (the handlers, the QEMU versions, and C(changed), whether the handlers would change).
  - RV(canary) is what M(multiarch.buildhost.qemu_canary) with O(canary) and C(plan_only) finds in its cache, for the
    handlers of RV(binfmt). A handler that would be (re-)registered makes every target due, as a real registration
    does.
  - Never changes anything; what would change is then done by those modules, which check everything again.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
options:
  package:
    description: The package that installs the static QEMU interpreters.
    type: str
    default: qemu-user-static
  package_version:
    description:
      - The version it must be at, as apt pins it (a trailing V(*) matches any rest). Empty for any version.
    type: str
    default: ""
  binfmt:
    description:
      - The options M(multiarch.buildhost.binfmt) is to run with, checked against that module's own argument spec
        (its defaults applied).
    type: dict
    required: true
  canary:
    description:
      - The options M(multiarch.buildhost.qemu_canary) is to run with, checked against that module's own argument spec,
        except its C(binfmt), which is this module's RV(binfmt), and its C(plan_only). Omit it when the canary is off.
    type: dict
notes:
  - RV(package.installed) is V(null) on hosts without dpkg; the role's package module decides there.
seealso:
  - module: multiarch.buildhost.binfmt
  - module: multiarch.buildhost.qemu_canary
"""

EXAMPLES = r"""
- name: Read QEMU, the handlers and the canary's cache
  multiarch.buildhost.qemu_host_state:
    package: qemu-user-static
    binfmt:
      platforms: [linux/arm64, linux/arm/v7]
      report_versions: true
    canary:
      probes: {}
      platforms: [linux/arm64]
  register: qemu_state

- name: Register the handlers only where the read says they would change
  multiarch.buildhost.binfmt:
    platforms: [linux/arm64, linux/arm/v7]
  when: qemu_state.binfmt.changed
"""

RETURN = r"""
package:
  description: dpkg's record of O(package).
  returned: always
  type: dict
  contains:
    manager:
      description: V(dpkg), or V(null) where there is none.
      type: str
    installed:
      description: Fully installed at O(package_version); V(null) without dpkg.
      type: bool
    version:
      description: The version dpkg records, if any.
      type: str
  sample: {"manager": "dpkg", "installed": true, "version": "1:10.0.6+ds-0+deb13u2"}
binfmt:
  description: The check-mode result of M(multiarch.buildhost.binfmt) for O(binfmt) (its C(changed) says whether
    the handlers would change).
  returned: always
  type: dict
canary:
  description: The result of M(multiarch.buildhost.qemu_canary) with C(plan_only) for O(canary) and RV(binfmt)
    (targets, due, has_work).
  returned: when O(canary) is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt_kernel import binfmt_argument_spec, binfmt_request, reconcile
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_converge import Host, canary_argument_spec, converge, request_from_params
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._qemu_package import package_state

# The canary's options as this module takes them: the handlers come from the binfmt prediction, and only the cache is read.
CANARY_OPTIONS = {name: spec for name, spec in canary_argument_spec().items() if name not in ("binfmt", "plan_only")}


def options_of(module: AnsibleModule, name: str, spec: dict) -> dict:
    """The dict option NAME checked against SPEC (another module's argument spec), with its defaults applied."""
    checked = ArgumentSpecValidator(spec).validate(module.params[name])
    if checked.error_messages:
        module.fail_json(msg=f"qemu_host_state: {name}: {'; '.join(checked.error_messages)}")
    return checked.validated_parameters


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            package=dict(type="str", default="qemu-user-static"),
            package_version=dict(type="str", default=""),
            binfmt=dict(type="dict", required=True),
            canary=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = {"package": package_state(module, p["package"], p["package_version"])}
        binfmt = reconcile(module, binfmt_request(options_of(module, "binfmt", binfmt_argument_spec())), True)
        binfmt.pop("diff", None)
        warnings = binfmt.pop("warnings")
        if not binfmt["changed"]:  # otherwise binfmt runs next and says them itself, about the host as it then is
            for warning in warnings:
                module.warn(warning)
        result["binfmt"] = binfmt
        if p["canary"] is not None:
            canary_options = options_of(module, "canary", CANARY_OPTIONS)
            params = dict(canary_options, binfmt=binfmt, plan_only=True, force=canary_options["force"] or binfmt["changed"])
            canary = converge(request_from_params(params), True, Host(module))
            for warning in canary.pop("warnings"):
                module.warn(warning)
            result["canary"] = canary
    except BuildhostError as exc:
        module.fail_json(msg=f"qemu_host_state: {exc}", **getattr(exc, "details", {}))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
