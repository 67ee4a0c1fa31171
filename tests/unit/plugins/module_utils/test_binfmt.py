from __future__ import annotations

import dataclasses
import errno
import os

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt import (
    ARCHITECTURES,
    Handler,
    UnknownPlatform,
    escaped_to_hex,
    handler_matches,
    parse_entry,
    platforms_of,
    registration_line,
    required_flags,
    resolve_platform,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt_kernel import (
    BinfmtError,
    BinfmtMisc,
    BinfmtRequest,
    Plan,
    Registration,
    apply,
    plan,
    select_architectures,
)

# What the kernel printed for Debian's own handler (registered from /usr/lib/binfmt.d/qemu-aarch64.conf).
DEBIAN_AARCH64_ENTRY = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


@pytest.mark.parametrize("spelling", ["linux/arm64", "arm64", "aarch64", "LINUX/ARM64", "linux/arm64/v8"])
def test_docker_and_uname_spellings_resolve_to_one_architecture(spelling):
    assert resolve_platform(spelling).handler == "qemu-aarch64"


@pytest.mark.parametrize(
    ("spelling", "handler"),
    [("linux/arm/v7", "qemu-arm"), ("armhf", "qemu-arm"), ("linux/386", "qemu-i386"), ("linux/amd64", "qemu-x86_64"),
     ("mips64le", "qemu-mips64el"), ("linux/loong64", "qemu-loongarch64"), ("ppc64el", "qemu-ppc64le")],
)
def test_aliases(spelling, handler):
    assert resolve_platform(spelling).handler == handler


@pytest.mark.parametrize("typo", ["linux/arm65", "arm64 ", "linux/aarch", "windows/amd64x"])
def test_mistyped_platforms_are_refused_with_the_known_list(typo):
    if typo.strip() == "arm64":
        assert resolve_platform(typo).handler == "qemu-aarch64"  # surrounding blanks are forgiven
        return
    with pytest.raises(UnknownPlatform) as caught:
        resolve_platform(typo)
    assert "linux/arm64" in str(caught.value)


def test_registration_line_is_in_the_kernel_format():
    arch = resolve_platform("arm64")
    line = registration_line(arch, "/usr/bin/qemu-aarch64-static", "CF")
    fields = line.split(":")
    assert fields[1:4] == ["qemu-aarch64", "M", ""]
    assert fields[6:] == ["/usr/bin/qemu-aarch64-static", "CF"]
    assert escaped_to_hex(fields[4]) == "7f454c460201010000000000000000000200b700"


def test_parse_entry_reads_what_proc_prints():
    handler = parse_entry("qemu-aarch64", DEBIAN_AARCH64_ENTRY)
    assert handler.enabled and handler.flags == "FOP"
    assert handler.interpreter == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"


def test_a_distro_handler_without_our_interpreter_or_credentials_flag_does_not_match():
    arch = resolve_platform("arm64")
    debian = parse_entry("qemu-aarch64", DEBIAN_AARCH64_ENTRY)
    assert not handler_matches(debian, arch, "/usr/bin/qemu-aarch64-static", "CF")
    ours_text = DEBIAN_AARCH64_ENTRY.replace("/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "/usr/bin/qemu-aarch64-static")
    ours = parse_entry("qemu-aarch64", ours_text.replace("POF", "OCF"))
    assert handler_matches(ours, arch, "/usr/bin/qemu-aarch64-static", "CF")


def test_credentials_flag_implies_open_binary():
    assert required_flags("CF") == "CFO"
    assert required_flags("F") == "F"


def test_native_architectures_are_split_off(tmp_path):
    archs, native = select_architectures(["linux/amd64", "linux/386", "arm64"], "x86_64", str(tmp_path))
    assert [a.handler for a in archs] == ["qemu-aarch64"]
    assert native == ["linux/amd64", "linux/386"]


def test_all_means_every_installed_interpreter_except_native(tmp_path):
    for name in ("aarch64", "riscv64", "x86_64"):
        (tmp_path / f"qemu-{name}-static").write_text("")
    archs, native = select_architectures(["all"], "x86_64", str(tmp_path))
    assert sorted(a.handler for a in archs) == ["qemu-aarch64", "qemu-riscv64"]
    assert native == ["linux/amd64"]


def test_plan_replaces_a_conflicting_handler_only_when_asked(tmp_path):
    (tmp_path / "qemu-aarch64-static").write_text("")
    arch = resolve_platform("arm64")
    current = {"qemu-aarch64": parse_entry("qemu-aarch64", DEBIAN_AARCH64_ENTRY)}
    request = BinfmtRequest(platforms=["arm64"], flags="CF", persist=False, interpreter_dir=str(tmp_path),
                            persist_dir=str(tmp_path / "binfmt.d"))
    replacing = plan(request, [arch], [], current)
    assert replacing.unregister == ["qemu-aarch64"] and len(replacing.register) == 1
    assert "flags FOP" in replacing.register[0].reason
    keeping = plan(dataclasses.replace(request, replace=False), [arch], [], current)
    assert not keeping.changed and "replace=false" in keeping.warnings[0]


def test_a_handler_masked_the_systemd_way_is_registered_but_the_mask_is_kept(tmp_path):
    (tmp_path / "qemu-aarch64-static").write_text("")
    (tmp_path / "binfmt.d").mkdir()
    (tmp_path / "binfmt.d" / "qemu-aarch64.conf").symlink_to("/dev/null")
    request = BinfmtRequest(platforms=["arm64"], interpreter_dir=str(tmp_path), persist_dir=str(tmp_path / "binfmt.d"))
    steps = plan(request, [resolve_platform("arm64")], [], {})
    assert [r.arch.handler for r in steps.register] == ["qemu-aarch64"]
    assert not steps.persist and "is masked" in steps.warnings[0]
    assert os.readlink(tmp_path / "binfmt.d" / "qemu-aarch64.conf") == "/dev/null"


def test_check_mode_predicts_a_registration_whose_interpreter_is_not_installed_yet(tmp_path):
    request = BinfmtRequest(platforms=["s390x"], interpreter_dir=str(tmp_path), persist_dir=str(tmp_path))
    steps = plan(request, [resolve_platform("s390x")], [], {}, check_mode=True)
    assert [r.arch.handler for r in steps.register] == ["qemu-s390x"] and "does not exist yet" in steps.warnings[0]


def test_plan_refuses_a_missing_interpreter_naming_path_and_package(tmp_path):
    from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt_kernel import BinfmtError

    with pytest.raises(BinfmtError) as caught:
        plan(BinfmtRequest(platforms=["s390x"], flags="CF", interpreter_dir=str(tmp_path), persist_dir=str(tmp_path)),
             [resolve_platform("s390x")], [], {})
    assert f"{tmp_path}/qemu-s390x-static does not exist" in str(caught.value)
    assert "qemu-user-static" in str(caught.value)


def test_platforms_of_lists_enabled_handlers_in_docker_spelling():
    enabled = parse_entry("qemu-aarch64", DEBIAN_AARCH64_ENTRY)
    disabled = parse_entry("qemu-riscv64", DEBIAN_AARCH64_ENTRY.replace("enabled", "disabled"))
    assert platforms_of({"qemu-aarch64": enabled, "qemu-riscv64": disabled}) == ["linux/arm64"]


def test_preserve_argv0_is_default_only_where_the_kernel_reports_it():
    from ansible_collections.multiarch.buildhost.plugins.module_utils._binfmt import default_flags

    assert default_flags("6.18.44-fc-v782") == "PCF"
    assert default_flags("5.12.0") == "PCF"
    assert default_flags("4.18.0-553.el8_10.x86_64") == "CF"


def test_a_handler_another_run_registered_first_is_accepted_only_when_it_is_the_same(tmp_path):
    # binfmt_misc is kernel-global: two runs on one kernel (containers share it) may both find the handler missing, and
    # the second write gets EEXIST. What stands then is accepted when it is what this run would have written.
    arch = next(a for a in ARCHITECTURES if a.handler == "qemu-aarch64")
    interpreter = "/usr/bin/qemu-aarch64-static"

    class RacedKernel(BinfmtMisc):
        def __init__(self, present_interpreter):
            super().__init__(module=None, proc_dir=str(tmp_path))
            self.present_interpreter = present_interpreter

        def register(self, line):
            raise BinfmtError("cannot write register: File exists") from OSError(errno.EEXIST, "File exists")

        def handlers(self):
            return {arch.handler: Handler(arch.handler, True, self.present_interpreter, required_flags("PCF"),
                                          escaped_to_hex(arch.magic), escaped_to_hex(arch.mask))}

    steps = Plan(register=[Registration(arch, interpreter, "not registered")])
    apply(RacedKernel(interpreter), steps, "PCF")  # the same handler: nothing to do
    with pytest.raises(BinfmtError, match="File exists"):
        apply(RacedKernel("/opt/other/qemu-aarch64"), steps, "PCF")  # another interpreter: still an error
