"""module_defaults through the action groups reaches the info modules (issue 29), run by ansible-playbook on localhost.

A daemon socket that does not exist is set once, on the group, and never on the task: the results must name it. A
module left out of its group would get no docker_host and read the lab's real engine instead. Seconds, no engine needed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
SOCKET = "unix:///nonexistent.sock"

PLAYBOOK = f"""\
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/multiarch.buildhost.docker_daemon: {{docker_host: "{SOCKET}"}}
  tasks:
    - name: engine
      multiarch.buildhost.docker_engine_info:
    - name: builders through docker_daemon
      multiarch.buildhost.buildx_builder_info:
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/multiarch.buildhost.docker_client: {{docker_host: "{SOCKET}"}}
  tasks:
    - name: builders through docker_client
      multiarch.buildhost.buildx_builder_info:
"""


def run(tmp_path) -> dict[str, dict]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collection"), ANSIBLE_NOCOLOR="1")
    ran = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,", str(playbook)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=120)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    tasks = [task for play in json.loads(ran.stdout)["plays"] for task in play["tasks"]]
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in tasks}


def test_the_group_defaults_reach_docker_engine_info_and_buildx_builder_info(tmp_path):
    results = run(tmp_path)
    engine = results["engine"]
    assert engine["invocation"]["module_args"]["docker_host"] == SOCKET
    assert engine["running"] is False and "No such file or directory" in engine["error"], engine.get("error")
    for name in ("builders through docker_daemon", "builders through docker_client"):
        builders = results[name]
        assert builders["invocation"]["module_args"]["docker_host"] == SOCKET, (name, builders)
        # buildx lists the default builder it could not reach: no driver, no node endpoint, no platforms (against the
        # lab's engine it is driver docker with a dozen platforms).
        default = next(b for b in builders["builders"] if b["name"] == "default")
        assert (default["driver"], default["platforms"], default["nodes"][0]["endpoint"]) == ("", [], ""), (name, default)
