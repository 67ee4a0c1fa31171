"""The secret scan that runs over every Molecule scenario's -vvv log: it must find what it is meant to find."""
from __future__ import annotations

import base64
import importlib.util
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = importlib.util.spec_from_file_location("scan_log", os.path.join(REPO, "tests", "leaks", "scan_log.py"))
scan_log = importlib.util.module_from_spec(SPEC)
sys.modules["scan_log"] = scan_log  # dataclasses look their module up while the class is made
SPEC.loader.exec_module(scan_log)

# What a clean -vvv run of the build scenario shows: the connection, the proxy's tasks, an invocation, the hidden login.
CLEAN_BUILD_LOG = """\
<mbh-build-debian13> ESTABLISH DOCKER CONNECTION FOR USER: root
TASK [multiarch.buildhost.docker : Write the proxy settings, for root only] *****
TASK [multiarch.buildhost.docker : Enable the experimental CLI for the build user builder] *****
TASK [multiarch.buildhost.build : Log in to the registry (the password goes through stdin, never argv) localhost:5000]
ok: [mbh-build-debian13] => {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result", "changed": false}
ok: [mbh-build-debian13] => {"changed": false, "invocation": {"module_args": {"path": "/home/builder/.docker/config.json"}}}
"""


def test_a_clean_log_passes_and_every_secret_form_is_counted():
    found, missing, forms = scan_log.scan("build", CLEAN_BUILD_LOG)
    assert (found, missing) == ([], [])
    assert forms == sum(len(secret.forms()) for secret in scan_log.all_secrets()) > len(scan_log.all_secrets())


@pytest.mark.parametrize("secret", scan_log.all_secrets(), ids=lambda s: s.source)
def test_every_form_of_every_secret_is_found(secret):
    for kind, form in secret.forms().items():
        found = scan_log.scan("build", CLEAN_BUILD_LOG + f'"diff": {{"after": "x{form}y"}}\n')[0]
        assert len(found) == 1 and kind in found[0] and "line 7" in found[0]
        assert form not in found[0], "the report must not print the secret it found"


@pytest.mark.parametrize("fold_at", [1, 5, 10])
def test_a_secret_folded_by_molecule_across_lines_is_found(fold_at):
    secret = "glrt-t1_SECRETdockerRunnerToken"
    folded = f'  \x1b[2m│\x1b[0m     "token = \\"{secret[:fold_at]}\n  \x1b[2m│\x1b[0m   {secret[fold_at:]}\\""\n'
    found = scan_log.scan("gitlab_runner", folded)[0]
    assert found == ["folded across lines: the plain form of a secret from " + scan_log.RUNNER_FIXTURE]


def test_the_auths_form_is_what_docker_login_writes():
    registry = next(s for s in scan_log.all_secrets() if s.value == "s3cret-Pa55")
    assert base64.b64encode(b"ci:s3cret-Pa55").decode() in registry.forms().values()


def test_a_log_without_verbosity_or_the_login_task_proves_nothing():
    missing = scan_log.scan("build", "TASK [Gathering Facts]\nok: [host]\n")[1]
    assert r"ESTABLISH DOCKER CONNECTION FOR USER" in missing
    assert any("Log in to the registry" in pattern for pattern in missing)


def test_every_secret_is_still_where_the_scenarios_use_it():
    assert scan_log.stale_secrets() == []


def test_a_secret_renamed_in_its_scenario_is_reported_stale(tmp_path):
    for secret in scan_log.all_secrets():
        (tmp_path / secret.source).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / secret.source).write_text("nothing here\n")
    assert len(scan_log.stale_secrets(str(tmp_path))) == len(scan_log.all_secrets())


def test_every_molecule_scenario_has_an_entry():
    scenarios = {d for d in os.listdir(os.path.join(REPO, "molecule"))
                 if os.path.isfile(os.path.join(REPO, "molecule", d, "molecule.yml"))}
    assert scenarios == set(scan_log.SCENARIOS)


def test_usage_errors_exit_2(capsys):
    assert scan_log.main(["scan_log.py", "no-such-scenario", "log"]) == 2


def test_main_fails_on_a_leak(tmp_path, capsys):
    log = tmp_path / "molecule-build.log"
    log.write_text(CLEAN_BUILD_LOG + "changed: [h] => {\"cmd\": \"htpasswd -Bbc f ci s3cret-Pa55\"}\n")
    assert scan_log.main(["scan_log.py", "build", str(log)]) == 1
    out = capsys.readouterr().out
    assert "1 leaks" in out and "s3cret-Pa55" not in out


def test_a_task_name_folded_by_molecule_still_proves_the_path_ran():
    folded = CLEAN_BUILD_LOG.replace("Log in to the registry", "Log in to\n  │   the registry").replace("\n", "\n  │ ")
    assert scan_log.scan("build", folded)[1] == []


def test_a_generated_private_key_is_searched_by_its_private_part_only(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = tmp_path / "pki" / "host" / "server.key"
    path.parent.mkdir(parents=True)
    path.write_text(pem)
    secrets = scan_log.key_secrets("pki/**/*.key", repo=str(tmp_path))
    first_line = pem.splitlines()[1]
    assert first_line in [secret.value for secret in secrets]  # the line that carries the private scalar
    assert scan_log.leaks(pem.replace("\n", "\\n"), secrets), "a key printed as JSON must be found"
    assert not scan_log.leaks(public + str(key.public_key().public_numbers().x), secrets), "the public key is no leak"
    assert scan_log.leaks(f"private_value {key.private_numbers().private_value}", secrets)
