"""Against the controller's real binfmt_misc (kernel-global: run these one at a time, as root)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt import parse_entry, registration_line, resolve_platform

PROC = "/proc/sys/fs/binfmt_misc"
ENTRY = f"{PROC}/qemu-riscv64"
PERSISTED = "/etc/binfmt.d/qemu-riscv64.conf"


def unregister_riscv64():
    if os.path.exists(ENTRY):
        with open(ENTRY, "w") as handle:
            handle.write("-1")
    if os.path.exists(PERSISTED):
        os.unlink(PERSISTED)


@pytest.fixture
def riscv64_cleared():
    """binfmt_misc is kernel-global: start from no riscv64 handler, and leave the one that was there before."""
    previous = open(ENTRY).read() if os.path.exists(ENTRY) else None
    persisted = open(PERSISTED).read() if os.path.exists(PERSISTED) else None
    unregister_riscv64()
    yield
    unregister_riscv64()
    if persisted is not None:
        with open(PERSISTED, "w") as handle:
            handle.write(persisted)
    if previous is not None:
        handler = parse_entry("qemu-riscv64", previous)
        arch = resolve_platform("riscv64")
        with open(f"{PROC}/register", "w") as handle:
            handle.write(registration_line(arch, handler.interpreter, "".join(f for f in handler.flags if f != "O")))


def test_registers_with_fix_binary_and_persists_then_absent_removes_both(run_module, riscv64_cleared):
    result = run_module("binfmt", {"platforms": ["linux/riscv64"]})
    assert result["changed"] is True
    assert "flags: POCF" in open(ENTRY).read()
    assert "linux/riscv64" in result["emulated_platforms"]
    assert result["requested_handlers"] == ["qemu-riscv64"]
    assert open(PERSISTED).read().endswith(":/usr/bin/qemu-riscv64-static:PCF\n")

    assert run_module("binfmt", {"platforms": ["riscv64"]})["changed"] is False

    gone = run_module("binfmt", {"platforms": ["riscv64"], "state": "absent"})
    assert gone["changed"] is True
    assert not os.path.exists(ENTRY) and not os.path.exists(PERSISTED)


def test_a_handler_without_fix_binary_is_replaced(run_module, riscv64_cleared):
    # Debian's own line for riscv64 (no F), as systemd-binfmt would register it.
    with open("/usr/lib/binfmt.d/qemu-riscv64.conf") as handle:
        debian_line = handle.read().strip().replace(":OPF", ":OP")
    with open(f"{PROC}/register", "w") as handle:
        handle.write(debian_line)
    assert "flags: PO\n" in open(ENTRY).read()
    result = run_module("binfmt", {"platforms": ["riscv64"], "persist": False})
    assert result["changed"] is True
    assert any(action.startswith("register qemu-riscv64 (registered with interpreter") for action in result["actions"])
    assert "flags: POCF" in open(ENTRY).read()


def test_check_mode_predicts_without_touching_the_kernel(run_module, riscv64_cleared):
    result = run_module("binfmt", {"platforms": ["riscv64"], "persist": False}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert "qemu-riscv64" in result["diff"]["after"] and "qemu-riscv64" not in result["diff"]["before"]
    assert not os.path.exists(ENTRY)


def test_a_foreign_binary_runs_once_registered(run_module, riscv64_cleared):
    run_module("binfmt", {"platforms": ["arm64"], "persist": False})
    busybox = os.environ.get("LAB_ARM64_BUSYBOX", "/var/lib/multiarch-lab/rootfs/arm64/bin/busybox")
    out = subprocess.run([busybox, "uname", "-m"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "aarch64"
    # busybox's shell runs applets by re-executing itself under the applet's name: that needs the P flag.
    out = subprocess.run([busybox, "sh", "-c", "echo $(uname -m)"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "aarch64"


@pytest.mark.parametrize("flags", ["C", "XF"])
def test_flags_without_f_or_with_unknown_letters_are_refused(run_module, flags):
    result = run_module("binfmt", {"platforms": ["riscv64"], "flags": flags})
    assert result.failed and "keep F" in result["msg"]


def test_unprivileged_hosts_get_a_clear_error(tmp_path):
    """Run the module for real inside an unprivileged container, where /proc/sys is read-only."""
    import json as jsonlib
    import uuid

    name = f"mbh-unprivileged-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "localhost/multiarch-lab-debian:13", "sleep", "120"],
                   check=True, capture_output=True)
    try:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(repo, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                   ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, ".collection"))
        ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
        out = subprocess.run([ansible, "all", "-i", f"{name},", "-c", "community.docker.docker", "-m", "multiarch.buildhost.binfmt",
                              "-a", "platforms=arm64 persist=false"], capture_output=True, text=True, env=env, cwd=repo,
                             check=False).stdout
        result = jsonlib.loads(out)["plays"][0]["tasks"][0]["hosts"][name]
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    assert result["failed"] is True
    assert "privileged container" in result["msg"]


def test_report_versions_gives_what_binfmt_info_reads_in_the_same_run(run_module, riscv64_cleared):
    quiet = run_module("binfmt", {"platforms": ["linux/riscv64"]})
    reported = run_module("binfmt", {"platforms": ["linux/riscv64"], "report_versions": True})
    info = run_module("binfmt_info", {})
    assert quiet["qemu_versions"] is None
    assert reported["changed"] is False
    assert reported["qemu_versions"]["qemu-riscv64"] == info["handlers"]["qemu-riscv64"]["qemu_version"]
    assert reported["qemu_versions"]["qemu-riscv64"][0].isdigit()
