"""BuilderManager against a recorded docker CLI: which commands converge a builder, and that nothing else runs."""
from __future__ import annotations

import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import BuildxError
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx_manager import BuilderManager
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "buildx")
MUTATING = ("create", "rm", "use")


class RecordedCli:
    """Answers `docker ...` from a table of recorded outputs and keeps every command it was asked to run."""

    def __init__(self, docker_config: str, answers: dict[tuple, tuple[int, str]]):
        self.docker_config = docker_config
        self.docker_host = None
        self.answers = answers
        self.ran: list[list[str]] = []

    def run(self, args, **_kwargs):
        self.ran.append(list(args))
        rc, out = self.answers.get(tuple(args), (1, ""))
        return rc, out, "" if rc == 0 else "not found"

    def checked(self, args, **kwargs):
        rc, out, err = self.run(args, **kwargs)
        if rc != 0 and args[1:2] not in (["create"], ["rm"], ["use"]):
            raise AssertionError(f"unexpected failure of {args}: {err}")
        return out

    def mutations(self) -> list[list[str]]:
        return [argv for argv in self.ran if len(argv) > 1 and argv[0] == "buildx" and argv[1] in MUTATING]


def fixture(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def params(**overrides):
    base = dict(name="rec", state="present", driver="docker-container", driver_opts={"image": "moby/buildkit:v0.13.2"},
                buildkitd_flags="--debug", buildkitd_config={}, platforms=["linux/arm64"], endpoint=None, nodes=[],
                use=False, bootstrap=False, keep_state=True)
    base.update(overrides)
    return base


@pytest.fixture
def owner(tmp_path):
    return Owner("builder", os.getuid(), os.getgid(), str(tmp_path))


@pytest.fixture
def recorded(tmp_path):
    """A user whose `rec` builder exists, as buildx 0.13 recorded it (ls output and the stored instance file)."""
    instances = tmp_path / ".docker" / "buildx" / "instances"
    instances.mkdir(parents=True)
    (instances / "rec").write_text(fixture("instance-0.13.json"))
    ls_line = fixture("ls-0.13.ndjson").splitlines()[0]
    return {("buildx", "ls", "--format", "json"): (0, ls_line + "\n")}


def manager(owner, answers):
    cli = RecordedCli(os.path.join(owner.home, ".docker"), answers)
    return BuilderManager(module=None, cli=cli, owner=owner), cli


def test_a_builder_that_matches_is_left_alone(owner, recorded):
    mgr, cli = manager(owner, recorded)
    assert mgr.converge(params(), check_mode=False) == (False, [])
    assert cli.mutations() == []


def test_drift_re_creates_with_keep_state_and_says_why(owner, recorded):
    mgr, cli = manager(owner, recorded)
    changed, actions = mgr.converge(params(platforms=["linux/arm64", "linux/riscv64"]), check_mode=False)
    assert changed and "platforms" in actions[0]
    assert cli.mutations()[0] == ["buildx", "rm", "rec", "--keep-state"]
    create = cli.mutations()[1]
    assert create[:3] == ["buildx", "create", "--name"] and "linux/arm64,linux/riscv64" in create


def test_check_mode_predicts_and_runs_nothing_that_changes(owner, recorded):
    mgr, cli = manager(owner, recorded)
    changed, actions = mgr.converge(params(driver_opts={"image": "moby/buildkit:v0.16.0"}), check_mode=True)
    assert changed and "image" in actions[0]
    assert cli.mutations() == []


def test_a_missing_builder_is_created(owner):
    mgr, cli = manager(owner, {("buildx", "ls", "--format", "json"): (0, "")})
    changed, actions = mgr.converge(params(name="fresh"), check_mode=False)
    assert changed and actions == ["create builder fresh (docker-container)"]
    assert [argv[:4] for argv in cli.mutations()] == [["buildx", "create", "--name", "fresh"]]


def test_removal_of_an_absent_builder_changes_nothing(owner):
    mgr, cli = manager(owner, {("buildx", "ls", "--format", "json"): (0, "")})
    assert mgr.converge(params(state="absent"), check_mode=False) == (False, [])
    assert cli.mutations() == []


def test_the_default_docker_context_cannot_be_removed(owner):
    mgr, _cli = manager(owner, {})
    with pytest.raises(BuildxError):
        mgr.converge(params(name="default", driver="docker", state="absent"), check_mode=False)


def test_unparseable_buildx_output_is_a_clear_error(owner):
    mgr, _cli = manager(owner, {("buildx", "ls", "--format", "json"): (0, "{not json\n")})
    with pytest.raises(BuildhostError) as caught:  # what every module's main() turns into fail_json
        mgr.read("rec")
    assert "is not JSON" in str(caught.value)


def test_cache_usage_reads_the_totals_buildx_du_prints(owner):
    du = "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\nabc\ttrue\t12MB\t2 hours ago\nShared:\t0B\nPrivate:\t245.5MB\nReclaimable:\t361.2MB\nTotal:\t\t361.2MB\n"
    mgr, _cli = manager(owner, {("buildx", "du", "--builder", "rec"): (0, du)})
    assert mgr.cache_usage("rec") == {"reclaimable": "361.2MB", "total": "361.2MB"}
    assert mgr.cache_usage("absent") is None


def test_list_builders_returns_every_builder_buildx_lists(owner, recorded):
    mgr, _cli = manager(owner, recorded)
    assert [b.name for b in mgr.list_builders()] == ["rec"]


@pytest.mark.parametrize(("change", "message"), [
    ({"nodes": [{"name": "", "endpoint": "tcp://arm:1234", "platforms": [], "driver_opts": {}}]}, "node name ''"),
    ({"nodes": [{"name": "10.0.0.5", "endpoint": "tcp://10.0.0.5:1234", "platforms": [], "driver_opts": {}}]},
     "node name '10.0.0.5' is not one buildx accepts"),
    ({"nodes": [{"name": "arm 1", "endpoint": "tcp://arm:1234", "platforms": [], "driver_opts": {}}]}, "node name 'arm 1'"),
    ({"nodes": [{"name": "REC0", "endpoint": "tcp://arm:1234", "platforms": [], "driver_opts": {}}]},
     "node name 'REC0' is already used by node 'rec0'"),
    ({"platforms": ["linux/amd46"]}, "platforms: platform 'linux/amd46': unknown architecture"),
    ({"nodes": [{"name": "arm", "endpoint": "tcp://arm:1234", "platforms": ["linux/arm64", "linux"], "driver_opts": {}}]},
     "node arm: platforms: platform 'linux' names an operating system only"),
])
def test_a_node_name_or_platform_buildx_would_take_but_not_build_with_fails_before_anything_runs(owner, recorded, change, message):
    # buildx takes an empty node name (and makes one up), any os/arch word, and a second node of the same name (it
    # updates the first): the builder then cannot build what was asked, or drifts on every run.
    mgr, cli = manager(owner, recorded)
    with pytest.raises(BuildxError, match=message):
        mgr.converge(params(**change), check_mode=True)
    assert cli.ran == []


@pytest.mark.parametrize("spelling", ["linux/aarch64", "linux/arm64/v8", "arm64"])
def test_a_platform_buildx_normalised_is_not_drift(owner, recorded, spelling):
    # The stored builder has linux/arm64: buildx wrote what it parsed, not what it was given.
    mgr, cli = manager(owner, recorded)
    assert mgr.converge(params(platforms=[spelling]), check_mode=False) == (False, [])
    assert cli.mutations() == []


def test_an_unchanged_builder_is_listed_once_and_a_forgotten_one_again(owner, recorded):
    mgr, cli = manager(owner, recorded)
    before = mgr.read("rec")
    assert mgr.converge(params(), check_mode=False) == (False, [])
    assert mgr.read("rec") is before
    assert [argv for argv in cli.ran if argv[:2] == ["buildx", "ls"]] == [["buildx", "ls", "--format", "json"]]
    mgr.forget()
    mgr.read("rec")
    assert len([argv for argv in cli.ran if argv[:2] == ["buildx", "ls"]]) == 2
