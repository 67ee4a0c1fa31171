"""cosign's command lines and environment (the password never in argv), its verdicts, and provenance parsing."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils import _cosign
from ansible_collections.multiarch.buildhost.plugins.module_utils._cosign import (
    Cosign, CosignError, cosign_reason, digest_reference, key_fingerprint, repository_of, verdict)
from ansible_collections.multiarch.buildhost.plugins.module_utils._provenance import (
    attested_digests, describe_provenance, is_single_image, provenance_by_platform)

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
PASSWORD = "hunter2-correct-horse"


@pytest.mark.parametrize("image, repository", [
    ("127.0.0.1:5000/it-sign/app:latest", "127.0.0.1:5000/it-sign/app"),
    ("127.0.0.1:5000/it-sign/app", "127.0.0.1:5000/it-sign/app"),
    ("registry:5000/team/app:1.2@sha256:" + "c" * 64, "registry:5000/team/app"),
    ("debian:12", "debian"),
    ("localhost:5000/app", "localhost:5000/app"),
])
def test_the_repository_of_a_reference_drops_tag_and_digest_but_keeps_the_port(image, repository):
    assert repository_of(image) == repository


def test_a_digest_reference_is_repository_at_digest_and_refuses_anything_else():
    assert digest_reference("r:5000/a/b:tag", DIGEST) == f"r:5000/a/b@{DIGEST}"
    for bad in ("latest", "sha256:abc", None):
        with pytest.raises(CosignError):
            digest_reference("r:5000/a/b", bad)


def test_the_password_is_in_the_environment_only_and_no_inherited_one_leaks_into_verify(monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", "inherited-password")
    cosign = Cosign("/usr/bin/cosign", allow_http_registry=True)
    sign = cosign.sign_argv(f"r/a@{DIGEST}", "/keys/cosign.key")
    assert sign == ["/usr/bin/cosign", "sign", "--key", "/keys/cosign.key", "--tlog-upload=false", "--yes",
                    "--allow-http-registry", f"r/a@{DIGEST}"]
    assert PASSWORD not in " ".join(sign)
    assert cosign.environment(PASSWORD)["COSIGN_PASSWORD"] == PASSWORD
    assert "COSIGN_PASSWORD" not in cosign.environment()
    verify = cosign.verify_argv(f"r/a@{DIGEST}", "/keys/cosign.pub")
    assert "--insecure-ignore-tlog=true" in verify and "--allow-http-registry" in verify
    assert "--allow-http-registry" not in Cosign("/usr/bin/cosign").verify_argv(f"r/a@{DIGEST}", "/k.pub")


def test_a_run_passes_the_password_by_environment_and_masks_it_in_what_cosign_prints(monkeypatch):
    seen = {}

    class Done:
        returncode = 1
        stdout = ""
        stderr = f"Error: decrypt failed for {PASSWORD}\n"

    def fake_run(argv, **kwargs):
        seen.update(argv=argv, env=kwargs["env"])
        return Done()

    monkeypatch.setattr(_cosign.subprocess, "run", fake_run)
    cosign = Cosign("/usr/bin/cosign", secrets={PASSWORD})
    with pytest.raises(CosignError) as caught:
        cosign.sign(f"r/a@{DIGEST}", "/keys/cosign.key", PASSWORD)
    assert PASSWORD not in " ".join(seen["argv"])
    assert seen["env"]["COSIGN_PASSWORD"] == PASSWORD
    assert PASSWORD not in str(caught.value) and "********" in str(caught.value)


def test_verified_only_when_cosign_succeeds_and_its_payload_names_the_digest():
    payload = json.dumps([{"critical": {"image": {"docker-manifest-digest": DIGEST}, "type": "cosign container image signature"}}])
    assert verdict(DIGEST, 0, payload, "") == {"verified": True, "error": None}
    other = verdict(OTHER, 0, payload, "")
    assert other["verified"] is False and OTHER in other["error"]
    assert verdict(DIGEST, 0, "not json", "")["verified"] is False


@pytest.mark.parametrize("err, reason", [
    ("WARNING: Skipping tlog verification is an insecure practice\nError: no signatures found\n"
     "error during command execution: no signatures found\n", "no signatures found"),
    ("WARNING: x\nError: no matching signatures: invalid signature when validating ASN.1 encoded signature\n",
     "no matching signatures: invalid signature when validating ASN.1 encoded signature"),
    ("error during command execution: GET http://r/v2/: connection refused\n", "GET http://r/v2/: connection refused"),
    ("", "cosign gave no reason"),
])
def test_a_failed_verify_is_a_verdict_with_cosigns_reason(err, reason):
    assert cosign_reason("", err) == reason
    assert verdict(DIGEST, 10, "", err) == {"verified": False, "error": reason}


def test_the_fingerprint_is_the_sha256_of_the_public_keys_der():
    der = b"\x30\x59" + bytes(range(89))
    body = base64.b64encode(der).decode()
    pem = f"-----BEGIN PUBLIC KEY-----\n{body[:64]}\n{body[64:]}\n-----END PUBLIC KEY-----\n"
    assert key_fingerprint(pem) == "sha256:" + hashlib.sha256(der).hexdigest()
    with pytest.raises(CosignError):
        key_fingerprint("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")


INDEX = json.dumps({"manifests": [
    {"digest": DIGEST, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": OTHER, "platform": {"os": "linux", "architecture": "arm64"}},
    {"digest": "sha256:" + "d" * 64, "platform": {"os": "unknown", "architecture": "unknown"},
     "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": DIGEST}},
]})


def test_only_digests_an_attestation_manifest_refers_to_are_attested():
    assert attested_digests(INDEX) == {DIGEST}


def test_provenance_gives_builder_materials_and_masked_build_args():
    slsa = {"builder": {"id": "https://ci.example/builders/amd64"},
            "materials": [{"uri": "pkg:docker/127.0.0.1:5000/base@sha256:x?platform=linux%2Famd64", "digest": {"sha256": "e" * 64}}],
            "invocation": {"parameters": {"args": {"build-arg:VERSION": "1.2", "build-arg:API_TOKEN": "glpat-abcdefgh",
                                                   "build-arg:PROXY": "http://u:pw1234@proxy:3128", "target": "app"}}}}
    described = describe_provenance(slsa)
    assert described["builder_id"] == "https://ci.example/builders/amd64"
    assert described["materials"] == [{"uri": slsa["materials"][0]["uri"], "digest": "sha256:" + "e" * 64}]
    assert described["build_args"]["VERSION"] == "1.2" and "target" not in described["build_args"]
    assert "glpat-abcdefgh" not in json.dumps(described) and "pw1234" not in json.dumps(described)
    assert describe_provenance(None) == {"provenance": False, "builder_id": None, "materials": [], "build_args": {}}
    assert describe_provenance({"builder": {"id": ""}})["builder_id"] is None


def test_provenance_of_an_index_is_per_platform_and_of_a_single_image_its_own():
    assert provenance_by_platform({"linux/amd64": {"SLSA": {"a": 1}}, "linux/arm64": {"SLSA": {"b": 2}}},
                                  ["linux/amd64", "linux/arm64"]) == {"linux/amd64": {"a": 1}, "linux/arm64": {"b": 2}}
    assert provenance_by_platform({"SLSA": {"a": 1}}, ["linux/amd64"]) == {"linux/amd64": {"a": 1}}
    assert provenance_by_platform(None, []) == {}


def test_a_single_image_manifest_is_told_from_an_index():
    assert not is_single_image(INDEX)
    assert is_single_image(json.dumps({"schemaVersion": 2, "config": {"digest": DIGEST}, "layers": []}))
