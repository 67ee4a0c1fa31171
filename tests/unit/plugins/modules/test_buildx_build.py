"""buildx_build in-process, with the build itself stubbed: what the module hands the managed host's journal."""
from __future__ import annotations

import importlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

BUILD_ARG_VALUE = "mbh-journal-secret-value"
S3_KEY = "mbh-journal-s3-secret-key"


@pytest.mark.parametrize("controller", [
    {},                          # the module run directly (a test, a wrapper) with nothing from a controller
    {"_ansible_no_log": False},  # what ansible's action plugin sends for every task without no_log
], ids=["direct", "controller"])
def test_build_args_and_cache_options_never_reach_the_hosts_journal(monkeypatch, capsys, tmp_path, controller):
    # AnsibleModule's constructor logs its invocation (every option not marked no_log) through log(), to the host's
    # journal or syslog, which keeps it. log() is recorded here, not run; the constructor (_log_invocation) is real.
    module = importlib.import_module("ansible_collections.multiarch.buildhost.plugins.modules.buildx_build")
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    builds = []

    def run_build(cli, owner, params, check_mode):
        builds.append(params)
        return dict(changed=True, command=["docker", "buildx", "build"], log_file=str(tmp_path / "build.log"))

    monkeypatch.setattr(module, "run_build", run_build)
    args = dict(controller, path=str(tmp_path), build_args={"APP_VERSION": BUILD_ARG_VALUE},
                cache_to=[f"type=s3,region=eu-west-1,bucket=b,access_key_id=AKIAX,secret_access_key={S3_KEY},mode=max"])
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    result = json.loads(capsys.readouterr().out)
    # The module got as far as the build, with the value as given: nothing was refused or masked before it.
    assert not result.get("failed"), result
    assert len(builds) == 1 and builds[0]["build_args"] == {"APP_VERSION": BUILD_ARG_VALUE}
    assert BUILD_ARG_VALUE not in repr(logged)
    assert S3_KEY not in repr(logged)
