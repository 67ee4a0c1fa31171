"""Values other people chose (a user's buildx builder names) stay in their one cell of the fleet report."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.qemu import qemu_known_bad_findings
from ansible_collections.multiarch.buildhost.plugins.filter.report import markdown_cell, report_warnings

TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "playbooks", "templates")
# A cell ends at a `|` that no backslash escapes.
CELL_END = re.compile(r"(?<!\\)\|")


def test_a_line_break_and_a_pipe_can_neither_end_the_row_nor_the_cell():
    assert markdown_cell("x\n| host-y | 27.0 |") == "x\\n\\| host-y \\| 27.0 \\|"
    assert markdown_cell("a\r\nb\tc") == "a\\r\\nb\\tc"


@pytest.mark.parametrize("value, shown", [
    ("\x1b[31mred", "\\x1b\\[31mred"),              # a terminal escape
    ("evil\u202egnp.exe", "evil\\u202egnp.exe"),   # a bidirectional override that reverses what follows
    ("line\u2028sep\x85nel", "line\\u2028sep\\x85nel"),
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("nul\x00", "nul\\x00"),
])
def test_control_and_invisible_characters_are_shown_as_escapes(value, shown):
    assert markdown_cell(value) == shown


@pytest.mark.parametrize("value, shown", [
    ("<!-- hide the rest", "\\<!-- hide the rest"),
    ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)\\>"),
    ("![x](https://tracker.example/p.png)", "!\\[x\\](https://tracker.example/p.png)"),
    ("`code | span`", "\\`code \\| span\\`"),
    ("fake-current*", "fake-current\\*"),
    ("a\\|b", "a\\\\\\|b"),
])
def test_markdown_that_could_reach_out_of_the_cell_is_escaped(value, shown):
    assert markdown_cell(value) == shown


@pytest.mark.parametrize("value", ["multiarch-builder_1.x", "docker-ce 5:27.3.1-1~ubuntu.24.04", "linux/arm64, linux/riscv64",
                                   "tcp://10.0.0.5:1234", "árvíztűrő tükörfúrógép"])
def test_ordinary_names_are_left_as_they_are(value):
    assert markdown_cell(value) == value


@pytest.mark.parametrize("value, shown", [(3, "3"), (1.5, "1.5"), (True, "True"), (None, "None")])
def test_numbers_booleans_and_null_are_printed_as_jinja_prints_them(value, shown):
    assert markdown_cell(value) == shown


@pytest.mark.parametrize("value", [["a", "b"], {"a": 1}, b"bytes", ("a",)])
def test_more_than_one_value_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="join a list first"):
        markdown_cell(value)


def render_report(rows: list[dict]) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                                     undefined=jinja2.StrictUndefined)
    environment.filters["multiarch.buildhost.markdown_cell"] = markdown_cell
    template = environment.get_template("fleet-report.md.j2")
    return template.render(report_rows=rows, now=lambda utc=False: datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc))


def row(host: str, builder: str = "default", runner: str = "dind") -> dict:
    return dict(host=host, engine="27.3.1", package="docker-ce 27.3.1", image_store="containerd",
                data_root_free="60.0 of 100.0 GiB, 5000000 inodes", emulated=["linux/arm64"], qemu_versions=["8.2.2"], warnings=[],
                builders=[dict(user="alice", builders=[dict(name=builder, driver="docker-container", current=True,
                                                            nodes=1, platforms=["linux/amd64"], cache="1.2GB")])],
                runners=[dict(name=runner, executor="docker", privileged=True)])


def table_rows(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("|")][2:]


def test_the_report_has_one_row_per_host_whatever_a_builder_is_called():
    forged = "x\n| host-y | 99.0 | forged | classic | - | - | - | - | - |\n"
    report = render_report([row("build-01", builder=forged, runner="r | shifted"), row("build-02")])
    rows = table_rows(report)
    assert [r.split(" | ", 1)[0] for r in rows] == ["| build-01", "| build-02"]
    assert all(len(CELL_END.findall(r)) == 10 for r in rows), rows
    assert "alice: x\\n\\| host-y \\| 99.0" in rows[0] and "r \\| shifted (True)" in rows[0]
    assert not any(line.startswith("| host-y") for line in report.splitlines())


def test_the_report_of_ordinary_values_reads_as_before():
    report = render_report([row("build-01")])
    assert table_rows(report) == ["| build-01 | 27.3.1 | docker-ce 27.3.1 | containerd | 60.0 of 100.0 GiB, 5000000 inodes |"
                                  " linux/arm64 | 8.2.2 | alice: default*, docker-container, 1, 1.2GB | dind (True) |"]
    assert "No warning stands." in report
    assert report.endswith("Written 2026-12-07 12:00 UTC by playbooks/report.yml.")


def test_the_warnings_are_listed_by_host_below_the_table_and_cannot_forge_a_line():
    warned = dict(row("build-02"), warnings=["the server certificate /x ends in 3 days", "forged\n- WARNING: none"])
    report = render_report([row("build-01"), warned])
    lines = report.splitlines()
    assert "- WARNING: build-02: the server certificate /x ends in 3 days" in lines
    assert "- WARNING: build-02: forged\\n- WARNING: none" in lines
    assert len([line for line in lines if line.startswith("- WARNING")]) == 2 and "No warning stands." not in report


# ---------------------------------------------------------------- warnings

NOW = "2026-12-07T12:00:00Z"
GIB = 1024 ** 3
HEALTHY_ENGINE = {"data_root": "/var/lib/docker", "data_root_size_bytes": 100 * GIB, "data_root_free_bytes": 60 * GIB,
                  "data_root_free_inodes": 5000000}


def fleet_builder(*nodes):
    return [{"user": "builder", "builders": [{"name": "multiarch", "driver": "remote", "nodes": list(nodes)}]}]


def node(name, status="running", platforms=("linux/amd64",)):
    return {"name": name, "endpoint": f"tcp://{name}:1234", "status": status, "platforms": list(platforms)}


def test_a_healthy_host_has_no_warning():
    readings = {"now": NOW, "engine": HEALTHY_ENGINE,
                "certificates": [{"path": "/etc/mbh/server/cert.pem", "kind": "server", "not_after": "20270301000000Z"},
                                 {"path": "/etc/mbh/client/cert.pem", "kind": "client", "not_after": "20261212000000Z"}],
                "builders": fleet_builder(node("multiarch0"), node("arm-01", platforms=["linux/arm64"])),
                "fleet_plan": {"builder": "multiarch", "remote": [{"name": "arm-01", "platforms": ["linux/arm64"]}]}}
    assert report_warnings(readings) == []


def test_certificates_near_their_end_or_past_it_are_warned_with_the_days_left():
    readings = {"now": NOW, "certificates": [
        {"path": "/s/cert.pem", "kind": "server", "not_after": "20261217120000Z"},   # 10 days, under 14
        {"path": "/c/cert.pem", "kind": "client", "not_after": "20261208000000Z"},   # 0.5 day, under 2
        {"path": "/old/cert.pem", "kind": "server", "not_after": "20261201000000Z"},  # expired
        {"path": "/fine/cert.pem", "kind": "client", "not_after": "20261211000000Z"},  # 3.5 days: fine
    ]}
    warnings = report_warnings(readings)
    assert warnings == [
        "the server certificate /s/cert.pem ends in 10 days (2026-12-17), under 14: setup-builders.yml has not renewed it",
        "the client certificate /c/cert.pem ends in 0 days (2026-12-08), under 2: setup-builders.yml has not renewed it",
        "the server certificate /old/cert.pem expired on 2026-12-01: run setup-builders.yml",
    ]
    # The threshold is the caller's: a wider one warns of the fine certificate too.
    assert len(report_warnings(readings, {"client_certificate_days": 5})) == 4


def test_a_node_that_does_not_answer_and_a_planned_node_left_out_are_warned():
    stopped = fleet_builder(node("multiarch0"), node("riscv-01", status="inactive", platforms=["linux/riscv64"]))
    plan = {"builder": "multiarch", "remote": [
        {"name": "riscv-01", "platforms": ["linux/riscv64"]},
        {"name": "arm-01", "platforms": ["linux/arm64", "linux/arm/v7"]},
    ]}
    warnings = report_warnings({"now": NOW, "builders": stopped, "fleet_plan": plan})
    assert warnings == [
        "builder's builder multiarch: node riscv-01 (tcp://riscv-01:1234) does not answer (inactive); linux/riscv64"
        " cannot build there",
        "builder's builder multiarch runs without the fleet's node arm-01: linux/arm64, linux/arm/v7 are built under"
        " QEMU until it answers and setup-builders.yml runs",
    ]
    # Another builder of the same user is not held to the fleet's plan.
    other = [{"user": "builder", "builders": [{"name": "mine", "driver": "docker-container", "nodes": [node("mine0")]}]}]
    assert report_warnings({"now": NOW, "builders": other, "fleet_plan": plan}) == []


def test_a_data_root_near_full_in_bytes_or_inodes_is_warned():
    low_bytes = dict(HEALTHY_ENGINE, data_root_free_bytes=2 * GIB)
    low_share = dict(HEALTHY_ENGINE, data_root_size_bytes=1000 * GIB, data_root_free_bytes=60 * GIB)  # 6% < 10%
    low_inodes = dict(HEALTHY_ENGINE, data_root_free_inodes=1200)
    assert "2.0 GiB free of 100.0 GiB" in report_warnings({"now": NOW, "engine": low_bytes})[0]
    assert len(report_warnings({"now": NOW, "engine": low_share})) == 1
    assert report_warnings({"now": NOW, "engine": low_inodes}) == [
        "Docker's data root /var/lib/docker has 1200 inodes free, under 100000: a cache of many small files fills it"
        " before its bytes"]
    # A remote daemon's data root is not on this host: nothing to say.
    assert report_warnings({"now": NOW, "engine": {"data_root_size_bytes": None, "data_root_free_bytes": None}}) == []


def test_now_as_ansible_writes_it_counts_as_utc():
    # now(utc=true).isoformat(): microseconds, no zone.
    readings = {"now": "2026-12-07T16:31:33.248500",
                "certificates": [{"path": "/s/cert.pem", "kind": "server", "not_after": "20261217163133Z"}]}
    assert report_warnings(readings)[0].startswith("the server certificate /s/cert.pem ends in 9 days (2026-12-17)")


def test_an_unreadable_end_time_is_an_error_not_a_silent_pass():
    with pytest.raises(AnsibleFilterError, match="is not a time"):
        report_warnings({"now": NOW, "certificates": [{"path": "/x", "kind": "server", "not_after": "soon"}]})


def test_thresholds_from_the_command_line_are_strings_and_unset_ones_are_empty():
    low_bytes = {"now": NOW, "engine": dict(HEALTHY_ENGINE, data_root_free_bytes=2 * GIB)}
    # -e report_warn_free_bytes=1073741824 and -e report_warn_free_fraction=0.01: strings; '' is unset.
    assert report_warnings(low_bytes, {"free_bytes": str(GIB), "free_fraction": "0.01", "free_inodes": ""}) == []
    assert len(report_warnings(low_bytes, {"free_bytes": None, "free_fraction": None})) == 1
    with pytest.raises(AnsibleFilterError, match="not a number"):
        report_warnings(low_bytes, {"free_bytes": "lots"})
    with pytest.raises(AnsibleFilterError, match="unknown threshold"):
        report_warnings(low_bytes, {"free_gigabytes": 1})


def test_a_known_bad_qemu_and_a_canary_without_a_pass_are_warned_and_an_accepted_entry_is_not():
    binfmt = {"requested_handlers": ["qemu-aarch64", "qemu-riscv64"],
              "handlers": {"qemu-aarch64": {"interpreter": "/usr/bin/qemu-aarch64-static"},
                           "qemu-riscv64": {"interpreter": "/usr/bin/qemu-riscv64-static"}},
              "qemu_versions": {"qemu-aarch64": "9.2.0 (Debian 1:9.2.0+ds-1)", "qemu-riscv64": "10.0.6"}}
    known_bad = [{"id": "qemu-issue-1913", "introduced": "8.1.1", "fixed": "9.2.2", "summary": "ldconfig segfaults"}]
    due = [{"platform": "linux/arm64", "interpreter": "/usr/bin/qemu-aarch64-static", "qemu_version": "9.2.0"}]
    emulation = {"known_bad": qemu_known_bad_findings(binfmt, known_bad), "canary": {"due": due}}
    assert report_warnings({"now": NOW, "emulation": emulation}) == [
        "QEMU known-bad (qemu-issue-1913, 8.1.1 <= version < 9.2.2): /usr/bin/qemu-aarch64-static (9.2.0 (Debian"
        " 1:9.2.0+ds-1)); image builds crash: install another QEMU, or list qemu-issue-1913 in qemu_known_bad_accept"
        " for a build your distribution patched",
        "the QEMU canary has no pass for linux/arm64 with /usr/bin/qemu-aarch64-static (QEMU 9.2.0): it failed, or"
        " setup-builders.yml has not run since QEMU or the handler changed"]
    accepted = {"known_bad": qemu_known_bad_findings(binfmt, known_bad, ["qemu-issue-1913"]), "canary": {"due": []}}
    assert report_warnings({"now": NOW, "emulation": accepted}) == []
    # A host whose QEMU is outside every range, with every canary platform passed: nothing to say.
    fixed = dict(binfmt, qemu_versions={"qemu-aarch64": "9.2.2", "qemu-riscv64": "10.0.6"})
    assert report_warnings({"now": NOW, "emulation": {"known_bad": qemu_known_bad_findings(fixed, known_bad)}}) == []
