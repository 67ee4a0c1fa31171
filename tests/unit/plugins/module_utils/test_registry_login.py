"""Whether config.json already stores a registry login (the build role's changed_when for docker login)."""
from __future__ import annotations

import base64

from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import plan_json_update
from ansible_collections.multiarch.buildhost.plugins.module_utils._registry_login import login_is_stored
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_same_login_is_stored():
    document = {"auths": {"localhost:5000": {"auth": auth("ci", "s3cret/with@odd:chars")}}}
    assert login_is_stored(document, "localhost:5000", "ci", "s3cret/with@odd:chars")


def test_another_password_another_user_or_registry_is_not_stored():
    document = {"auths": {"localhost:5000": {"auth": auth("ci", "old")}}}
    assert not login_is_stored(document, "localhost:5000", "ci", "new")
    assert not login_is_stored(document, "localhost:5000", "other", "old")
    assert not login_is_stored(document, "registry.example.com", "ci", "old")


def test_an_empty_or_odd_file_stores_nothing():
    assert not login_is_stored({}, "r", "u", "p")
    assert not login_is_stored({"auths": {"r": "not-a-table"}}, "r", "u", "p")
    assert not login_is_stored({"auths": {"r": {"auth": 42}}}, "r", "u", "p")
    assert not login_is_stored({"auths": None}, "r", "u", "p")


def test_a_credential_store_counts_as_stored_because_it_cannot_be_compared():
    assert login_is_stored({"credsStore": "pass"}, "r", "u", "p")
    assert login_is_stored({"credHelpers": {"r": "pass"}}, "r", "u", "p")
    assert not login_is_stored({"credHelpers": {"other": "pass"}}, "r", "u", "p")


def test_the_planner_shows_the_merged_document_unmasked_to_its_observer_only():
    content = ('{"auths": {"r": {"auth": "%s"}}}' % auth("u", "p")).encode()
    seen = []
    plan = plan_json_update("/home/alice/.docker/config.json", FileState(exists=True, content=content),
                            {"experimental": "enabled"}, [], observe=seen.append)
    assert seen[0]["auths"]["r"]["auth"] == auth("u", "p")
    assert seen[0]["experimental"] == "enabled"
    assert auth("u", "p") not in plan.shown_after and auth("u", "p") not in str(plan.details.document)
