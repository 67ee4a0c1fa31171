"""meta/runtime.yml's docker_client group holds exactly the modules that take both owner and docker_host, as their
rendered documentation (doc fragments included) says: module_defaults gives each member both options."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")


def module_options() -> dict[str, set[str]]:
    names = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules")) if name.endswith(".py"))
    done = subprocess.run([ANSIBLE_DOC, "--json", "-t", "module", *(f"multiarch.buildhost.{n}" for n in names)],
                          capture_output=True, text=True, check=True, cwd=REPO)
    docs = json.loads(done.stdout)
    assert len(docs) == len(names), "ansible-doc rendered fewer modules than plugins/modules holds"
    return {key.rsplit(".", 1)[1]: set(value["doc"].get("options", {})) for key, value in docs.items()}


def test_the_docker_client_group_is_every_module_that_takes_owner_and_docker_host():
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        group = set(yaml.safe_load(handle)["action_groups"]["docker_client"])
    options = module_options()
    both = {name for name, names in options.items() if {"owner", "docker_host"} <= names}
    assert group == both
    # buildx_builder_info was missing once, and reported root's builders under module_defaults.
    assert "buildx_builder_info" in group


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
