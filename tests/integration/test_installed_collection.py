"""The collection as users install it: built, installed, and its playbooks found by their FQCN."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_built_collection_installs_and_runs_its_playbooks_by_name(tmp_path):
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), REPO],
                   check=True, capture_output=True, cwd=REPO)
    tarball = tmp_path / "multiarch-buildhost-0.2.0.tar.gz"
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/binfmt.py" in names and "roles/docker/tasks/main.yml" in names
    assert not [n for n in names if n.startswith(("tests/lab", "bench", ".venv", "examples/multiarch-app/rootfs"))]
    collections = tmp_path / "collections"
    # Outside the checkout, with no ansible.cfg: only the installed copy can be found.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(collections), str(tarball)],
                   check=True, capture_output=True, cwd=tmp_path, env=env)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    builders:\n      hosts:\n        build-01:\n")
    for playbook in ("multiarch.buildhost.setup_builders", "multiarch.buildhost.build"):
        checked = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), playbook, "--syntax-check"],
                                 capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
        assert checked.returncode == 0, checked.stderr
        assert "ansible_collections/multiarch/buildhost/playbooks/" in checked.stdout


def test_module_defaults_set_owner_and_docker_host_once_for_the_docker_client_group(tmp_path):
    # An owner with a home: the CLI runs as them, and buildx keeps state in ~/.docker even to inspect an image.
    subprocess.run(["useradd", "--create-home", "mbh-dave"], check=False, capture_output=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n"
        "  module_defaults:\n    group/multiarch.buildhost.docker_client:\n      owner: mbh-dave\n"
        "      docker_host: unix:///nonexistent.sock\n"
        "  tasks:\n    - multiarch.buildhost.imagetools_info:\n        name: 127.0.0.1:5000/mbh-test/absent:1\n")
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collection"))
    ran = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,", str(playbook)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert ran.returncode == 0, ran.stdout[-2000:]
    task = json.loads(ran.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert task["invocation"]["module_args"]["owner"] == "mbh-dave"
    assert task["invocation"]["module_args"]["docker_host"] == "unix:///nonexistent.sock"
    assert task["exists"] is False


def test_a_plain_clone_runs_the_playbooks_with_no_setup_step(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", REPO, str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    builders:\n      hosts:\n        build-01:\n")
    checked = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), "playbooks/setup-builders.yml",
                              "--syntax-check"], capture_output=True, text=True, cwd=clone, env=env, check=False)
    assert checked.returncode == 0, checked.stderr


def test_tags_run_one_role(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    builders:\n      hosts:\n        build-01:\n    gitlab_runners:\n      hosts:\n"
                         "        build-01:\n")
    listed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), "playbooks/setup-builders.yml",
                             "--list-tasks", "--tags", "qemu"], capture_output=True, text=True, cwd=REPO, check=True).stdout
    # Ansible runs each role's argument validation under the `always` tag: only the other tasks tell. Two reads run
    # under `always` too, by design: the docker role's docker_host_state, which returns the facts the roles read (the
    # playbook gathers none), and the playbook's fallback that gathers them when tags skip that read. Both only read.
    tasks = [line.strip() for line in listed.splitlines()
             if "TAGS: [" in line and line.startswith("      ") and "Validating arguments" not in line]
    always_reads = ["Gather the minimal facts, since the docker role's read is skipped\tTAGS: [always]",
                    "multiarch.buildhost.docker : Read the engine, daemon.json and the build users' config.json, and"
                    " predict this role's writes\tTAGS: [always, docker]"]
    assert tasks[:2] == always_reads, listed
    assert tasks[2:] and all(task.startswith("multiarch.buildhost.qemu :") for task in tasks[2:]), listed
    for role in ("docker", "buildx", "gitlab_runner"):
        other = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), "playbooks/setup-builders.yml",
                                "--list-tasks", "--tags", role], capture_output=True, text=True, cwd=REPO, check=True).stdout
        assert f"multiarch.buildhost.{role} :" in other
        assert not [line for line in other.splitlines() if "multiarch.buildhost.qemu :" in line and "Validating" not in line]
