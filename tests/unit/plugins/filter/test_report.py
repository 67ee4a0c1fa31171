"""Values other people chose (a user's buildx builder names) stay in their one cell of the fleet report."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.report import markdown_cell

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
                emulated=["linux/arm64"], qemu_versions=["8.2.2"],
                builders=[dict(user="alice", builders=[dict(name=builder, driver="docker-container", current=True,
                                                            nodes=1, platforms=["linux/amd64"], cache="1.2GB")])],
                runners=[dict(name=runner, executor="docker", privileged=True)])


def table_rows(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("|")][2:]


def test_the_report_has_one_row_per_host_whatever_a_builder_is_called():
    forged = "x\n| host-y | 99.0 | forged | classic | - | - | - | - |\n"
    report = render_report([row("build-01", builder=forged, runner="r | shifted"), row("build-02")])
    rows = table_rows(report)
    assert [r.split(" | ", 1)[0] for r in rows] == ["| build-01", "| build-02"]
    assert all(len(CELL_END.findall(r)) == 9 for r in rows), rows
    assert "alice: x\\n\\| host-y \\| 99.0" in rows[0] and "r \\| shifted (True)" in rows[0]
    assert not any(line.startswith("| host-y") for line in report.splitlines())


def test_the_report_of_ordinary_values_reads_as_before():
    report = render_report([row("build-01")])
    assert table_rows(report) == ["| build-01 | 27.3.1 | docker-ce 27.3.1 | containerd | linux/arm64 | 8.2.2 |"
                                  " alice: default*, docker-container, 1, 1.2GB | dind (True) |"]
    assert report.endswith("Written 2026-12-07 12:00 UTC by playbooks/report.yml.")
