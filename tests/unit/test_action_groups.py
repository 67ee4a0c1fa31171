"""meta/runtime.yml's action groups: each holds exactly the modules that take all of its options.

module_defaults hands every option set on a group to each member, and a module fails on one it does not take
("Unsupported parameters"), so a group with a member short of an option breaks every play that sets it; and a module
left out of a group never gets the group's defaults (buildx_builder_info once read root's builders that way).
What a module takes is read twice: from the argument spec its main() gives AnsibleModule (what it accepts), and from
its rendered documentation, doc fragments included (what users are told); the two must agree.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and name != "__init__.py")
# Each group and the options every member takes; module_defaults users set these on the group.
GROUP_OPTIONS = {
    "docker_client": {"owner", "docker_host"},
    "docker_daemon": {"docker_host"},
    "docker_owner": {"owner"},
}
SHARED = set().union(*GROUP_OPTIONS.values())


class _Spec(Exception):
    def __init__(self, argument_spec: dict) -> None:
        super().__init__("argument spec captured")
        self.argument_spec = argument_spec


def _capture(self, argument_spec=None, *args, **kwargs):  # stands in for AnsibleModule.__init__
    raise _Spec(argument_spec or {})


def accepted_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Each module's top-level options, as its main() hands them to AnsibleModule (UnloggedModule is one too)."""
    monkeypatch.setattr(AnsibleModule, "__init__", _capture)
    options = {}
    for name in MODULES:
        module = importlib.import_module(f"ansible_collections.multiarch.buildhost.plugins.modules.{name}")
        with pytest.raises(_Spec) as spec:
            module.main()
        options[name] = set(spec.value.argument_spec)
    return options


def documented_options() -> dict[str, set[str]]:
    done = subprocess.run([ANSIBLE_DOC, "--json", "-t", "module", *(f"multiarch.buildhost.{n}" for n in MODULES)],
                          capture_output=True, text=True, check=True, cwd=REPO)
    docs = json.loads(done.stdout)
    assert len(docs) == len(MODULES), "ansible-doc rendered fewer modules than plugins/modules holds"
    return {key.rsplit(".", 1)[1]: set(value["doc"].get("options", {})) for key, value in docs.items()}


def runtime_groups() -> dict[str, set[str]]:
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return {name: set(members) for name, members in yaml.safe_load(handle)["action_groups"].items()}


def test_the_groups_are_the_ones_this_test_knows():
    assert set(runtime_groups()) == set(GROUP_OPTIONS)


def test_the_argument_specs_and_the_documentation_agree_on_owner_and_docker_host(monkeypatch):
    accepted, documented = accepted_options(monkeypatch), documented_options()
    assert {n: accepted[n] & SHARED for n in MODULES} == {n: documented[n] & SHARED for n in MODULES}


@pytest.mark.parametrize("group", sorted(GROUP_OPTIONS))
def test_each_group_is_every_module_that_takes_its_options(group, monkeypatch):
    accepted = accepted_options(monkeypatch)
    takers = {name for name, names in accepted.items() if GROUP_OPTIONS[group] <= names}
    members = runtime_groups()[group]
    assert not takers - members, f"take {sorted(GROUP_OPTIONS[group])} but are missing from {group}"
    assert not members - takers, f"in {group} but do not take {sorted(GROUP_OPTIONS[group])}: module_defaults breaks them"


def test_every_module_that_takes_owner_or_docker_host_is_in_a_group_for_each(monkeypatch):
    groups = runtime_groups()
    for name, names in accepted_options(monkeypatch).items():
        for option in names & SHARED:
            assert any(name in groups[g] and GROUP_OPTIONS[g] == {option} for g in groups), (name, option)
    # The two that were missing once (issue 29): buildx_builder_info read root's builders under module_defaults.
    assert "buildx_builder_info" in groups["docker_client"]
    assert "docker_engine_info" in groups["docker_daemon"]


def test_module_defaults_of_the_group_reach_buildx_builder_info(tmp_path):
    # nobody's home (/nonexistent) does not exist: the module refuses before it runs docker, naming the user it got.
    playbook = tmp_path / "play.yml"
    playbook.write_text("""\
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/multiarch.buildhost.docker_client: {owner: nobody, docker_host: "unix:///nonexistent/docker.sock"}
  tasks:
    - multiarch.buildhost.buildx_builder_info:
""")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)],
                          capture_output=True, text=True, check=False, cwd=REPO,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert done.returncode == 2, done.stdout
    assert "nobody's home directory /nonexistent does not exist" in done.stdout
