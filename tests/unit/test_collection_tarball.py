"""The tarball users install (issue 29): `ansible-galaxy collection build` with galaxy.yml's build_ignore.

It holds what users run and read, every one of those files, and nothing that develops or tests the collection.
Local: ansible-galaxy from the venv writes it into a temporary directory. No root, no network.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
# What develops and tests the collection: none of it ships.
DEVELOPMENT = ("tests/", "molecule/", "bench/", "build/", ".collection/", ".venv/", ".ci/", ".config/",
               "changelogs/fragments/", ".pytest_cache/", ".hypothesis/")
DEVELOPMENT_FILES = {"Makefile", "ansible.cfg", "pytest.ini", "requirements-test.txt", ".ansible-lint", ".gitignore",
                     "changelogs/.plugin-cache.yaml", "galaxy.yml"}
# What users run and read: every tracked file under these ships.
SHIPPED_DIRS = ("plugins/", "roles/", "playbooks/", "meta/", "docs/", "examples/")
SHIPPED_FILES = {"README.md", "LICENSE", "requirements.txt", "CHANGELOG.md", "changelogs/changelog.yaml",
                 "changelogs/config.yaml", "MANIFEST.json", "FILES.json"}


def galaxy() -> dict:
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[dict[str, tarfile.TarInfo], str]:
    out = tmp_path_factory.mktemp("tarball")
    subprocess.run([ANSIBLE_GALAXY, "collection", "build", "--output-path", str(out), REPO],
                   check=True, capture_output=True, cwd=REPO)
    path = out / f"{galaxy()['namespace']}-{galaxy()['name']}-{galaxy()['version']}.tar.gz"
    with tarfile.open(path) as archive:
        members = {member.name: member for member in archive.getmembers()}
        changelog = archive.extractfile("CHANGELOG.md").read().decode() if "CHANGELOG.md" in members else ""
    files = [m for m in members.values() if m.isfile()]
    print(f"\n{path.name}: {path.stat().st_size / 1024:.1f} KB, {len(members)} entries ({len(files)} files, "
          f"{sum(m.size for m in files) / 1024:.1f} KB unpacked)")
    return members, changelog


def tracked() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        pytest.fail(f"git ls-files failed in {REPO}: which files are tracked is unknown ({done.stderr.strip()})")
    return [name for name in done.stdout.split("\0") if name]


def test_nothing_that_develops_or_tests_the_collection_ships(built):
    names = set(built[0])
    assert not [n for n in names if (n + "/").startswith(DEVELOPMENT)]
    assert not names & DEVELOPMENT_FILES
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    assert not [n for n in names if n.startswith("examples/multiarch-app/rootfs")]


def test_what_users_run_and_read_ships_whole(built):
    names = set(built[0])
    assert SHIPPED_FILES <= names, sorted(SHIPPED_FILES - names)
    files = tracked()
    modules = [f for f in files if re.fullmatch(r"plugins/modules/\w+\.py", f)]
    roles = [f for f in files if re.fullmatch(r"roles/\w+/tasks/main\.yml", f)]
    assert len(modules) >= 10 and len(roles) >= 5
    missing = [f for f in files if f.startswith(SHIPPED_DIRS) and f not in names]
    assert not missing, f"tracked but not in the tarball: {missing}"


def test_the_changelog_names_every_release_and_the_version_once_released(built):
    """CHANGELOG.md names every release changelogs/changelog.yaml records, the newest first.

    galaxy.yml's version must be among them once `antsibull-changelog release` has run; until then (0.2.0, issue 29)
    its changes are fragments, which the tarball leaves out, and the test says so.
    """
    with open(os.path.join(REPO, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        releases = list(yaml.safe_load(handle)["releases"])
    headings = re.findall(r"^## v(\S+)$", built[1].replace("\\", ""), re.MULTILINE)
    assert set(headings) == set(releases) and releases, (headings, releases)
    version = galaxy()["version"]
    if version in releases:
        assert headings[0] == version
    else:
        fragments = os.listdir(os.path.join(REPO, "changelogs", "fragments"))
        assert fragments, f"galaxy.yml names {version}, which is neither released nor has unreleased fragments"
        print(f"galaxy.yml's {version} is unreleased: the changelog ends at {headings[0]}, with {len(fragments)} "
              "fragments waiting for antsibull-changelog release")
