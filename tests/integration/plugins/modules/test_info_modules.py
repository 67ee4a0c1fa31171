"""The read-only modules behind playbooks/report.yml, against the lab's real kernel and engine."""
from __future__ import annotations


def test_binfmt_info_reports_the_kernels_handlers_with_their_qemu_version(run_module):
    # binfmt_misc is kernel-global and a test host's systemd flushes it: register what is read here first.
    assert not run_module("binfmt", {"platforms": ["linux/arm64"]}).failed
    result = run_module("binfmt_info", {})
    assert result["changed"] is False and result["mounted"] is True
    aarch64 = result["handlers"]["qemu-aarch64"]
    assert aarch64["platform"] == "linux/arm64" and "F" in aarch64["flags"]
    assert aarch64["qemu_version"] and aarch64["qemu_version"][0].isdigit()
    assert "linux/arm64" in result["emulated_platforms"]


def test_buildx_builder_info_lists_the_builders_with_their_cache(run_module):
    result = run_module("buildx_builder_info", {})
    assert result["changed"] is False
    default = next(b for b in result["builders"] if b["name"] == "default")
    assert default["driver"] == "docker" and default["nodes"][0]["status"] == "running"
    assert default["cache"]["total"].endswith("B")
    assert result["current"] in [b["name"] for b in result["builders"]]


def test_the_lab_engine_is_reported_as_not_installed_by_a_package(run_module):
    # The lab unpacks trixie's docker.io by hand (LAB.md): no package manager owns its dockerd.
    assert run_module("docker_engine_info", {})["engine_package"] == {"name": "", "version": "", "manager": "none"}
