"""Reading a pushed index back: digests, platforms without attestations, and a missing tag."""
from __future__ import annotations

import hashlib
import json

from ansible_collections.multiarch.buildhost.plugins.module_utils._imagetools import describe_index, image_platform_digests, read_image

INDEX = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:aa", "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bb",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:cc",
         "platform": {"architecture": "unknown", "os": "unknown"}, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
    ],
})


class Cli:
    def __init__(self, rc, out, err=""):
        self.answer = (rc, out, err)

    def run(self, _args, **_kwargs):
        return self.answer


def test_an_index_lists_platforms_without_attestations_and_hashes_the_served_bytes():
    described = describe_index(INDEX)
    assert described["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert described["digest"] == "sha256:" + hashlib.sha256(INDEX.encode()).hexdigest()
    assert len(described["manifests"]) == 3


def test_per_platform_digests_leave_attestations_out():
    assert image_platform_digests(describe_index(INDEX)) == {"linux/amd64": "sha256:aa", "linux/arm/v7": "sha256:bb"}


def test_a_missing_tag_is_exists_false_not_a_failure():
    result = read_image(Cli(1, "", "ERROR: localhost:5000/x:y: not found"), "localhost:5000/x:y")
    assert result == {"exists": False, "digest": None, "media_type": None, "manifests": [], "platforms": []}


def test_an_index_of_the_wrong_shape_is_a_clear_error_not_a_traceback():
    import pytest

    from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

    for raw in ('{"manifests": [1]}', '{"manifests": [{"platform": 5}]}', '{"manifests": "ab"}'):
        with pytest.raises(BuildhostError):
            describe_index(raw)
