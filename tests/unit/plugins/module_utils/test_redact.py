"""One rule for secrets, applied to parsed documents (issue 14, open finding 5 of the hostile review)."""
from __future__ import annotations

from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import REDACTED, mask, redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_toml import parse, render


def test_config_json_headers_and_proxy_urls_are_masked():
    doc = {"HttpHeaders": {"Authorization": "Bearer abc.def"},
           "proxies": {"default": {"httpProxy": "http://alice:pr0xy-pw@proxy.example:3128", "noProxy": "localhost"}}}
    shown, found = redact(doc)
    assert shown["HttpHeaders"]["Authorization"] == REDACTED
    assert shown["proxies"]["default"]["httpProxy"] == f"http://{REDACTED}@proxy.example:3128"
    assert shown["proxies"]["default"]["noProxy"] == "localhost"
    assert found == {"Bearer abc.def", "alice:pr0xy-pw"}


def test_runner_environment_and_url_secrets_are_masked_in_the_rendered_toml():
    text = ('[[runners]]\n  name = "a"\n  url = "https://ci:url-pw@gitlab.example.com"\n'
            '  environment = ["DOCKER_AUTH_CONFIG={\\"auths\\": 1}", "FOO=bar"]\n')
    shown, found = redact(parse("config.toml", text.encode()))
    out = render(shown)
    assert "url-pw" not in out and "auths" not in out and "FOO=bar" in out
    assert f"DOCKER_AUTH_CONFIG={REDACTED}" in out
    assert "ci:url-pw" in found


def test_a_multi_line_secret_is_masked_line_by_line_too():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----"
    assert "AAAABBBBCCCCDDDD" not in mask("#5 echo AAAABBBBCCCCDDDD\n", {key})
