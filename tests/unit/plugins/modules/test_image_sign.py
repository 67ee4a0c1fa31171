"""What image_sign signs (never attestations) and how image_verify_info names what did not verify."""
from __future__ import annotations

import json

from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import describe_index
from ansible_collections.multiarch.buildhost.plugins.modules.image_sign import signing_targets
from ansible_collections.multiarch.buildhost.plugins.modules.image_verify_info import unverified

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
ATT = "sha256:" + "d" * 64
INDEX = describe_index(json.dumps({"manifests": [
    {"digest": A, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": B, "platform": {"os": "linux", "architecture": "arm64"}},
    {"digest": ATT, "platform": {"os": "unknown", "architecture": "unknown"}},
]}))


def test_the_index_and_each_platform_are_signed_never_an_attestation():
    targets = signing_targets("r:5000/a/app:latest", INDEX, platforms=True)
    assert [t["platform"] for t in targets] == [None, "linux/amd64", "linux/arm64"]
    assert [t["reference"] for t in targets] == [f"r:5000/a/app@{INDEX['digest']}", f"r:5000/a/app@{A}", f"r:5000/a/app@{B}"]
    assert [t["platform"] for t in signing_targets("r:5000/a/app", INDEX, platforms=False)] == [None]


def test_unverified_names_each_platform_and_digest_with_its_reason():
    good = {"verified": True, "error": None}
    result = {"digest": "sha256:i", "signature": good, "platforms": [
        {"platform": "linux/amd64", "digest": A, "signature": good},
        {"platform": "linux/arm64", "digest": B, "signature": {"verified": False, "error": "no signatures found"}}]}
    assert unverified(result) == [f"linux/arm64 ({B}): no signatures found"]
    result["signature"] = None
    assert unverified(result)[0] == "the index (sha256:i): not checked"
