"""The collection as users install it: built, installed, and its playbooks found by their FQCN."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_built_collection_installs_and_runs_its_playbooks_by_name(tmp_path):
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), REPO],
                   check=True, capture_output=True, cwd=REPO)
    tarball = tmp_path / "multiarch-buildhost-0.1.0.tar.gz"
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
