"""gitlab_runner_config_info returns each runner's URL without the credentials it may carry."""
from __future__ import annotations

import json


def test_the_reader_masks_credentials_in_runner_urls(run_module, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 2\n[[runners]]\n  name = "token-url"\n  url = "https://glpat-abcdef123456@gitlab.example.com"\n'
                    '  token = "glrt-runner-token"\n  executor = "docker"\n')
    result = run_module("gitlab_runner_config_info", {"path": str(path)})
    assert result["runners"] == [{"name": "token-url", "executor": "docker", "url": "https://********@gitlab.example.com",
                                  "privileged": None}]
    assert "glpat-abcdef123456" not in json.dumps(result) and "glrt-runner-token" not in json.dumps(result)
