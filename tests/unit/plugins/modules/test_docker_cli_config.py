"""docker_cli_config in-process: what the module hands the managed host's journal."""
from __future__ import annotations

import base64
import json

import pytest
from ansible.module_utils import basic

AUTH = base64.b64encode(b"builder:mbh-journal-registry-password").decode("ascii")


@pytest.mark.parametrize("controller", [{}, {"_ansible_no_log": False}], ids=["direct", "controller"])
def test_registry_credentials_in_settings_never_reach_the_hosts_journal(run_module, monkeypatch, tmp_path, controller):
    # AnsibleModule's constructor logs its invocation to the host's journal through log(), recorded here; the
    # controller sends _ansible_no_log=false with every task that does not set no_log.
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    path = tmp_path / "config.json"
    result = run_module("docker_cli_config", dict(controller, path=str(path),
                                                  settings={"auths": {"registry.example.com": {"auth": AUTH}}}))
    assert result["changed"] is True and not result.failed
    assert json.loads(path.read_text())["auths"]["registry.example.com"]["auth"] == AUTH
    assert AUTH not in repr(logged) and AUTH not in json.dumps(result)
