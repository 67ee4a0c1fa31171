"""Signed images, proven and tampered with (issue 27), against the lab registry with the lab's real cosign.

A two-platform image (linux/amd64, linux/arm64: FROM a pushed base + COPY, no emulation) built with SLSA provenance
(mode=max, a builder-id) by a docker-container builder from the lab's BuildKit image, signed with key A by image_sign,
then read back by image_verify_info. Each tampering case pushes to the same tag and must come out unverified with
cosign's reason, and fail with require_signature: an unsigned image, an image signed with key B, and an index rebuilt
around one signed platform manifest and a new one. Every build carries a fresh nonce, so no digest can already hold a
signature from an earlier run.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

BUILDKIT_IMAGE_FILE = "/var/lib/multiarch-lab/buildkit-image"  # written by tests/lab/buildkit.sh
LAB_COSIGN_DIR = "/opt/multiarch-lab/usr/bin"                  # tests/lab/cosign.sh unpacks it there
REGISTRY = "127.0.0.1:5000"
REPOSITORY = f"{REGISTRY}/it-sign/app"
TAG = f"{REPOSITORY}:latest"
BUILDER_ID = "https://mbh-it.test/builders/sign"
PASSWORDS = {"a": "pw-A-" + uuid.uuid4().hex, "b": "pw-B-" + uuid.uuid4().hex}
BUILD_TOKEN = "tok-" + uuid.uuid4().hex  # a secret build arg: must come back masked
PLATFORMS = ["linux/amd64", "linux/arm64"]


def run(argv: list[str], env: dict | None = None, cwd: str | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd,
                          env=dict(os.environ, **(env or {})))
    assert done.returncode == 0, f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()[-2000:]}"
    return done.stdout


class Lab:
    """The builder, the key pairs and a build helper, for the whole file."""

    def __init__(self, tmp, builder):
        self.tmp = tmp
        self.builder = builder
        self.keys = {}
        self.base = None

    def build(self, ref: str, base: bool = False) -> str:
        """Build and push a fresh two-platform image to REF; returns the index digest."""
        context = self.tmp / uuid.uuid4().hex
        context.mkdir()
        (context / "nonce.txt").write_text(uuid.uuid4().hex + "\n")
        source = "FROM scratch\n" if base else f"FROM {self.base}\nARG API_TOKEN\n"
        (context / "Dockerfile").write_text(source + "COPY nonce.txt /nonce.txt\n")
        metadata = context / "metadata.json"
        run(["docker", "buildx", "build", "--builder", self.builder, "--platform", ",".join(PLATFORMS),
             "--attest", f"type=provenance,mode=max,builder-id={BUILDER_ID}", "--build-arg", f"API_TOKEN={BUILD_TOKEN}",
             "--metadata-file", str(metadata), "-t", ref, "--push", str(context)])
        return json.loads(metadata.read_text())["containerimage.digest"]

    def index(self, ref: str) -> dict:
        return json.loads(run(["docker", "buildx", "imagetools", "inspect", "--raw", ref]))

    def platform_digests(self, ref: str) -> dict:
        return {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
                for m in self.index(ref)["manifests"] if m["platform"]["os"] != "unknown"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not os.path.exists(BUILDKIT_IMAGE_FILE) or not os.access(os.path.join(LAB_COSIGN_DIR, "cosign"), os.X_OK):
        pytest.fail(f"no lab BuildKit image or no {LAB_COSIGN_DIR}/cosign: run `make lab` first")
    with open(BUILDKIT_IMAGE_FILE, encoding="utf-8") as handle:
        image = handle.read().strip()
    tmp = tmp_path_factory.mktemp("sign")
    builder = f"mbh-it-sign-{uuid.uuid4().hex[:8]}"
    # buildx names the node's container buildx_buildkit_<node>; `buildx rm` removes it and its state volume.
    run(["docker", "buildx", "create", "--name", builder, "--node", builder, "--driver", "docker-container",
         "--driver-opt", f"network=host,image={image}", "--bootstrap"])
    try:
        state = Lab(tmp, builder)
        for name, password in PASSWORDS.items():
            run([os.path.join(LAB_COSIGN_DIR, "cosign"), "generate-key-pair", "--output-key-prefix", str(tmp / name)],
                env={"COSIGN_PASSWORD": password})
            state.keys[name] = {"key": str(tmp / f"{name}.key"), "pub": str(tmp / f"{name}.pub"),
                                "private": (tmp / f"{name}.key").read_text(), "password": password}
        base_digest = state.build(f"{REGISTRY}/it-sign/base:latest", base=True)
        state.base = f"{REGISTRY}/it-sign/base@{base_digest}"
        yield state
    finally:
        subprocess.run(["docker", "buildx", "rm", "--force", builder], capture_output=True, check=False)


@pytest.fixture(autouse=True)
def lab_cosign_first(monkeypatch):
    """The modules look cosign up on PATH: the lab's real one."""
    monkeypatch.setenv("PATH", f"{LAB_COSIGN_DIR}:{os.environ['PATH']}")


def assert_no_secrets(lab: Lab, *results) -> None:
    text = json.dumps(results)
    for key in lab.keys.values():
        assert key["password"] not in text
        for line in key["private"].splitlines():
            if len(line) >= 8:
                assert line not in text, "a line of a private key is in a module's result"
    assert BUILD_TOKEN not in text


def sign(run_module, lab, name, check_mode=False, public_key=True):
    key = lab.keys[name]
    args = {"image": TAG, "key": key["key"], "password": key["password"], "allow_http_registry": True}
    if public_key:
        args["public_key"] = key["pub"]
    return run_module("image_sign", args, check_mode=check_mode)


def verify(run_module, lab, name="a", require=False):
    return run_module("image_verify_info", {"image": TAG, "public_key": lab.keys[name]["pub"],
                                            "allow_http_registry": True, "require_signature": require})


def test_a_signed_image_verifies_per_platform_with_its_provenance(lab, run_module):
    digest = lab.build(TAG)
    platform_digests = lab.platform_digests(TAG)

    predicted = sign(run_module, lab, "a", check_mode=True)
    assert not predicted.failed, predicted.get("msg")
    assert predicted["changed"] and len(predicted["signed"]) == 3
    assert not verify(run_module, lab)["verified"], "check mode signed something"

    signed = sign(run_module, lab, "a")
    assert not signed.failed, signed.get("msg")
    assert signed["changed"] and signed["digest"] == digest
    assert {s["digest"] for s in signed["signed"]} == {digest, *platform_digests.values()}
    again = sign(run_module, lab, "a")
    assert not again.failed and not again["changed"] and again["signed"] == []
    assert again["key_fingerprint"] == signed["key_fingerprint"]

    result = verify(run_module, lab, require=True)
    assert not result.failed, result.get("msg")
    assert result["verified"] and result["digest"] == digest and result["signature"]["verified"]
    assert result["provenance_error"] is None
    assert [p["platform"] for p in result["platforms"]] == PLATFORMS  # no unknown/unknown
    base_digest = lab.base.split("@")[1]
    for entry in result["platforms"]:
        assert entry["digest"] == platform_digests[entry["platform"]]
        assert entry["signature"] == {"verified": True, "error": None, "key_fingerprint": signed["key_fingerprint"]}
        assert entry["attestation"] and entry["provenance"] and entry["builder_id"] == BUILDER_ID
        # the base image, pinned by the digest it was built FROM (the uri's registry port is percent-encoded)
        assert {"uri": entry["materials"][0]["uri"], "digest": base_digest} in entry["materials"], entry["materials"]
        assert entry["materials"][0]["uri"].startswith("pkg:docker/") and "it-sign/base" in entry["materials"][0]["uri"]
        assert entry["build_args"]["API_TOKEN"] == "********"
    assert_no_secrets(lab, predicted, signed, again, result)


def unverified_everywhere(result, reason):
    assert not result.failed, result.get("msg")
    assert result["verified"] is False
    for entry in [result] + result["platforms"]:
        signature = entry["signature"]
        assert signature["verified"] is False and reason in signature["error"], signature


def test_an_unsigned_image_pushed_to_the_same_tag_does_not_verify(lab, run_module):
    lab.build(TAG)
    result = verify(run_module, lab)
    unverified_everywhere(result, "no signatures found")
    assert [p["platform"] for p in result["platforms"]] == PLATFORMS
    required = verify(run_module, lab, require=True)
    assert required.failed
    for entry in result["platforms"]:
        assert f"{entry['platform']} ({entry['digest']}): no signatures found" in required["msg"]
    assert_no_secrets(lab, result, required)


def test_an_image_signed_with_another_key_does_not_verify(lab, run_module):
    lab.build(TAG)
    signed_b = sign(run_module, lab, "b")
    assert not signed_b.failed and signed_b["changed"], signed_b.get("msg")
    result = verify(run_module, lab, "a")
    unverified_everywhere(result, "no matching signatures")
    assert verify(run_module, lab, "b")["verified"]
    required = verify(run_module, lab, "a", require=True)
    assert required.failed and "linux/arm64" in required["msg"] and "no matching signatures" in required["msg"]
    # key A's public key and B's private key are no pair: signing says so instead of reporting success
    mismatched = run_module("image_sign", {"image": TAG, "key": lab.keys["b"]["key"], "password": lab.keys["b"]["password"],
                                           "public_key": lab.keys["a"]["pub"], "allow_http_registry": True})
    assert mismatched.failed and "does not verify against" in mismatched["msg"]
    wrong_password = run_module("image_sign", {"image": TAG, "key": lab.keys["a"]["key"], "password": "not-the-password",
                                               "allow_http_registry": True})
    assert wrong_password.failed and "cannot open the private key" in wrong_password["msg"]
    assert_no_secrets(lab, signed_b, result, required, mismatched, wrong_password)


def test_an_index_whose_platform_manifest_was_replaced_after_signing_does_not_verify(lab, run_module):
    lab.build(TAG)
    assert not sign(run_module, lab, "a").failed
    signed = lab.platform_digests(TAG)
    assert verify(run_module, lab)["verified"]
    other = lab.platform_digests(f"{REPOSITORY}@{lab.build(f'{REPOSITORY}:other')}")
    # the same signed amd64 manifest, an arm64 one that nobody signed, in a new index under the same tag
    run(["docker", "buildx", "imagetools", "create", "--builder", lab.builder, "-t", TAG,
         f"{REPOSITORY}@{signed['linux/amd64']}", f"{REPOSITORY}@{other['linux/arm64']}"])
    result = verify(run_module, lab)
    assert not result.failed, result.get("msg")
    assert result["verified"] is False
    assert result["signature"]["verified"] is False and "no signatures found" in result["signature"]["error"]
    by_platform = {p["platform"]: p for p in result["platforms"]}
    assert sorted(by_platform) == PLATFORMS
    assert by_platform["linux/amd64"]["digest"] == signed["linux/amd64"] and by_platform["linux/amd64"]["signature"]["verified"]
    assert by_platform["linux/arm64"]["digest"] == other["linux/arm64"]
    assert by_platform["linux/arm64"]["signature"]["verified"] is False
    assert "no signatures found" in by_platform["linux/arm64"]["signature"]["error"]
    required = verify(run_module, lab, require=True)
    assert required.failed
    assert f"linux/arm64 ({other['linux/arm64']}): no signatures found" in required["msg"]
    assert "the index (" in required["msg"] and "linux/amd64" not in required["msg"]
    assert_no_secrets(lab, result, required)
