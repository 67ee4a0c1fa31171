"""Make the checkout importable as ansible_collections.multiarch.buildhost and run modules in-process."""
from __future__ import annotations

import importlib
import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION_ROOT = os.path.join(REPO, ".collection")


def _expose_checkout_as_collection() -> None:
    # Under ansible-test the tree already sits at ansible_collections/multiarch/buildhost.
    if os.path.basename(os.path.dirname(os.path.dirname(REPO))) == "ansible_collections":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(REPO))))
        return
    link = os.path.join(COLLECTION_ROOT, "ansible_collections", "multiarch", "buildhost")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("../../..", link)
    sys.path.insert(0, COLLECTION_ROOT)


_expose_checkout_as_collection()


class ReliabilityLedger:
    """Counts the reliability cases tried and failed, for the summary line and docs/reliability.md."""

    def __init__(self):
        self.cases = {}

    def tried(self, kind: str, ok: bool) -> None:
        tried, failed = self.cases.get(kind, (0, 0))
        self.cases[kind] = (tried + 1, failed + (0 if ok else 1))


RELIABILITY = ReliabilityLedger()


@pytest.fixture(scope="session")
def reliability() -> ReliabilityLedger:
    return RELIABILITY


def pytest_terminal_summary(terminalreporter):
    if not RELIABILITY.cases:
        return
    terminalreporter.section("reliability")
    total = failed = 0
    for kind, (tried, bad) in sorted(RELIABILITY.cases.items()):
        terminalreporter.write_line(f"{kind}: {tried} tried, {bad} failed")
        total, failed = total + tried, failed + bad
    terminalreporter.write_line(f"reliability: {total} cases tried, {failed} failures")


class ModuleRun(dict):
    """The JSON a module printed, plus whether it failed."""

    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))


@pytest.fixture
def run_module(capsys):
    """run_module('docker_cli_config', {...}, check_mode=False, diff=False) -> ModuleRun."""
    from ansible.module_utils.testing import patch_module_args

    def _run(name: str, args: dict, check_mode: bool = False, diff: bool = False) -> ModuleRun:
        module = importlib.import_module(f"ansible_collections.multiarch.buildhost.plugins.modules.{name}")
        full_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        capsys.readouterr()
        with patch_module_args(full_args):
            with pytest.raises(SystemExit):
                module.main()
        return ModuleRun(json.loads(capsys.readouterr().out))

    return _run
