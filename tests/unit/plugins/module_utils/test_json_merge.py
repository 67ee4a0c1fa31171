from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import (
    JsonMergeError,
    deep_merge,
    parse_json_object,
    plan_json_update,
    remove_key_paths,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState


def test_deep_merge_merges_objects_and_replaces_everything_else():
    base = {"features": {"buildkit": True}, "registry-mirrors": ["https://a"], "debug": False}
    merged = deep_merge(base, {"features": {"containerd-snapshotter": True}, "registry-mirrors": ["https://b"]})
    assert merged == {
        "features": {"buildkit": True, "containerd-snapshotter": True},
        "registry-mirrors": ["https://b"],
        "debug": False,
    }
    assert base["features"] == {"buildkit": True}, "the input must not be mutated"


def test_remove_key_paths_drops_nested_keys_and_ignores_missing_ones():
    doc = {"features": {"buildkit": True, "x": 1}, "keep": 1}
    assert remove_key_paths(doc, ["features.buildkit", "nope.deeper", "absent"]) == (
        {"features": {"x": 1}, "keep": 1}, ["nope.deeper", "absent"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object at the top level, found list"),
        (b'"text"', "found str"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b"\xff\xfe{}", "not valid UTF-8"),
    ],
)
def test_bad_documents_get_an_error_naming_the_file(content, expected):
    with pytest.raises(JsonMergeError) as caught:
        parse_json_object("/etc/docker/daemon.json", content)
    assert "/etc/docker/daemon.json" in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize(("content", "message"), [(b"  \n", "is empty")])
def test_empty_files_are_refused(content, message):
    with pytest.raises(JsonMergeError) as caught:
        parse_json_object("/x.json", content)
    assert "/x.json" in str(caught.value) and message in str(caught.value)


def test_reformatting_alone_is_not_a_change():
    before = FileState(True, b'{"experimental":true,"debug":false}', 0o644, 0, 0)
    update = plan_json_update("/x.json", before, {"experimental": True}, [])
    assert not update.changed


def test_new_keys_are_appended_and_existing_order_is_kept():
    before = FileState(True, b'{"b": 1, "a": 2}', 0o644, 0, 0)
    update = plan_json_update("/x.json", before, {"c": 3}, [])
    assert update.changed
    assert list(update.details.document) == ["b", "a", "c"]
    assert update.content.endswith(b"}\n")


def test_redaction_hides_credentials_at_any_depth():
    doc = {"auths": {"r.example": {"auth": "c2VjcmV0", "email": "x@y"}}, "credsStore": "pass"}
    assert redact(doc) == ({"auths": {"r.example": {"auth": "********", "email": "x@y"}}, "credsStore": "pass"}, {"c2VjcmV0"})


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_docs = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12
)
json_objects = st.dictionaries(st.text(max_size=4), json_docs, max_size=5)


@settings(max_examples=300)
@given(json_objects, json_objects)
def test_merging_twice_equals_merging_once(base, overlay):
    once = deep_merge(base, overlay)
    assert deep_merge(once, overlay) == once


@settings(max_examples=300)
@given(json_objects, json_objects)
def test_merge_never_drops_a_key(base, overlay):
    merged = deep_merge(base, overlay)
    assert set(base) | set(overlay) == set(merged)
