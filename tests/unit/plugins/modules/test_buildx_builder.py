"""buildx_builder in-process, with buildx stubbed: a secret in driver_opts reaches neither the managed host's journal
nor the result."""
from __future__ import annotations

import importlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

SECRET = "mbh-driver-opt-secret-value"


class FakeManager:
    """What the module needs of BuilderManager; it echoes the options it was given into its actions, as a careless
    buildx error message would."""
    left_out: list = []

    def __init__(self, module, cli, owner):
        self.calls = []

    def read(self, name):
        return None

    def forget(self):
        self.calls.append("forget")

    def converge(self, params, check_mode):
        opts = ",".join(f"{key}={value}" for key, value in params["driver_opts"].items())
        return True, [f"create {params['name']} --driver-opt {opts}"]


@pytest.mark.parametrize("controller", [{}, {"_ansible_no_log": False}], ids=["direct", "controller"])
def test_a_secret_driver_option_never_reaches_the_journal_or_the_result(monkeypatch, capsys, controller):
    module = importlib.import_module("ansible_collections.multiarch.buildhost.plugins.modules.buildx_builder")
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    monkeypatch.setattr(module, "BuilderManager", FakeManager)
    monkeypatch.setattr(module, "resolve_owner", lambda owner: None)
    monkeypatch.setattr(module, "user_docker_cli", lambda mod, owner: None)
    args = dict(controller, name="multiarch", driver_opts={"env.AWS_SECRET_ACCESS_KEY": SECRET, "image": "moby/buildkit"})
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["changed"] is True and result["actions"][0].startswith("create multiarch --driver-opt")
    assert "image=moby/buildkit" in result["actions"][0]  # a plain option is shown as given
    assert SECRET not in out
    assert SECRET not in repr(logged)
