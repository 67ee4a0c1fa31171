"""One rule for secrets, applied to parsed documents (issue 14, open finding 5 of the hostile review)."""
from __future__ import annotations

import time

import pytest

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


def test_secret_docker_machine_options_are_masked_by_name():
    text = ('[[runners]]\n  name = "a"\n  [runners.machine]\n    MachineOptions = ["amazonec2-secret-key=wJalrXUtnFEMI",'
            ' "--amazonec2-access-key=AKIAIOSFODNN7", "amazonec2-region=eu-west-1", "--password=hunter22"]\n')
    shown, found = redact(parse("config.toml", text.encode()))
    assert shown["runners"][0]["machine"]["MachineOptions"] == [
        f"amazonec2-secret-key={REDACTED}", f"--amazonec2-access-key={REDACTED}", "amazonec2-region=eu-west-1",
        f"--password={REDACTED}"]
    assert found == {"wJalrXUtnFEMI", "AKIAIOSFODNN7", "hunter22"}


def test_key_and_auth_variables_are_secret_but_words_that_merely_contain_them_are_not():
    environment = ["API_KEY=ak-123456", "apikey=ak-234567", "SSH_KEY=ssh-ed25519-private", "STRIPE_KEY=sk_live_345678",
                   "NPM_AUTH=bnBtOnB3", "NPM_AUTH_TOKEN=npm_456789", "env.OPENAI_API_KEY=sk-567890",
                   "KEY=main-branch", "MONKEY=banana", "AUTHOR=someone", "AUTH_TYPE=basic", "CACHE_KEY=deps-v1",
                   "PUBLIC_KEY=ssh-ed25519-public"]
    shown, found = redact({"environment": environment})
    assert [entry.split("=", 1)[1] == REDACTED for entry in shown["environment"]] == [True] * 7 + [False] * 6
    assert found == {"ak-123456", "ak-234567", "ssh-ed25519-private", "sk_live_345678", "bnBtOnB3", "npm_456789",
                     "sk-567890"}


def test_every_name_secret_before_stays_secret():
    names = ["auth", "Authorization", "token", "SessionToken", "SecretKey", "AccessKey", "PrivateKey", "AccountKey",
             "password", "db_passwd", "CredentialsJSON", "DOCKER_AUTH_CONFIG", "authconfig"]
    shown, found = redact({name: f"value-of-{name}" for name in names})
    assert set(shown.values()) == {REDACTED} and len(found) == len(names)


@pytest.mark.parametrize("url, shown_url, secret", [
    ("https://glpat-xxxxxxxxxxxxxxxx@gitlab.example.com", f"https://{REDACTED}@gitlab.example.com", "glpat-xxxxxxxxxxxxxxxx"),
    # A user name alone is masked: a token in its place looks exactly like one.
    ("https://deployer@git.example.com/group/repo.git", f"https://{REDACTED}@git.example.com/group/repo.git", "deployer"),
    ("http://u:pa/ss@w@proxy.example:3128", f"http://{REDACTED}@proxy.example:3128", "u:pa/ss@w"),
    ("http://u:p#ss?w@proxy.example:3128/x", f"http://{REDACTED}@proxy.example:3128/x", "u:p#ss?w"),
    ("HTTPS_PROXY=socks5://al:i@ce@10.0.0.1:1080", f"HTTPS_PROXY=socks5://{REDACTED}@10.0.0.1:1080", "al:i@ce"),
])
def test_url_userinfo_is_masked_whole_even_without_a_colon_or_with_slashes_and_ats(url, shown_url, secret):
    assert redact(url) == (shown_url, {secret})


@pytest.mark.parametrize("text", [
    "git@github.com:org/repo.git",                       # scp-style, no scheme: not a URL
    "ssh://git@github.com/org/repo.git",                 # an ssh login name
    "https://registry.npmjs.org/@scope/pkg",             # '@' in the path
    "docker-image://alpine:3.19@sha256:0123456789abcdef",  # an image digest, not userinfo
    "--build-context=base=docker-image://alpine@sha256:0123456789abcdef",
])
def test_an_at_sign_that_is_not_userinfo_is_left_alone(text):
    assert redact(text) == (text, set())


def test_numbers_arrays_and_tables_under_secret_keys_are_masked_whole():
    text = ('token = 1234567\nsecret_keys = ["first-key", "second-key"]\nenabled = true\n'
            '[credentials]\nuser = "ci-bot"\npin = 987654\nrotate = true\n')
    shown, found = redact(parse("config.toml", text.encode()))
    out = render(shown)
    assert f'token = "{REDACTED}"' in out and "1234567" not in out
    assert f'secret_keys = ["{REDACTED}", "{REDACTED}"]' in out
    assert "ci-bot" not in out and "987654" not in out and "rotate = true" in out and "enabled = true" in out
    assert found == {"1234567", "first-key", "second-key", "ci-bot", "987654"}


def test_a_short_number_under_a_secret_key_is_masked_but_not_recorded():
    # Recorded, `3` would be masked in every string the module prints.
    assert redact({"password_retries": 3}) == ({"password_retries": REDACTED}, set())


def test_hostile_strings_are_redacted_in_linear_time():
    started = time.monotonic()
    for text in ("a" * 262144, "://" * 87381, "http://" + "a@" * 131072, "http://" + "a/" * 131072 + "@x"):
        redact(text)
    assert time.monotonic() - started < 5
