"""The canary's root filesystems: apt with a private state that leaves the host's apt alone, root's directories with
_apt's download directories inside them, and the apt state gone afterwards whatever happened."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_plan import CanaryRequest, canary_targets
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_rootfs import (
    DirectorySpec,
    Owners,
    apt_options,
    apt_state_directories,
    build_root_filesystems,
    deb_architecture,
    download_argv,
    ensure_directory,
    remove_path,
    sources_list,
    update_argv,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import CanaryError

A = "/var/cache/c/apt-state"
MARKER = "multiarch-buildhost-canary.json"
MIRROR = "http://deb.debian.org/debian"
ME = Owners(os.geteuid(), os.getegid(), os.geteuid())


def test_apt_gets_a_state_sources_and_preferences_of_its_own_and_only_the_canary_architectures():
    assert apt_options(A, ["arm64", "riscv64"]) == [
        f"-oDir::State={A}", f"-oDir::State::lists={A}/lists", f"-oDir::State::status={A}/status",
        f"-oDir::Cache={A}", f"-oDir::Cache::archives={A}/archives", "-oDir::Cache::pkgcache=",
        "-oDir::Cache::srcpkgcache=", f"-oDir::Etc::SourceList={A}/canary.sources",
        f"-oDir::Etc::SourceParts={A}/parts",
        f"-oDir::Etc::Preferences={A}/preferences", f"-oDir::Etc::PreferencesParts={A}/parts",
        "-oAcquire::Languages=none", "-oAcquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false",
        "-oAPT::Architectures::=arm64", "-oAPT::Architectures::=riscv64"]


def test_apt_reads_the_lists_strictly_and_downloads_every_package_for_every_architecture():
    options = ["-oX=1"]
    assert update_argv(options) == ["apt-get", "-q", "-oX=1", "update", "--error-on=any"]
    assert download_argv(options, ["libc6", "libc-bin"], ["arm64", "armhf"]) == [
        "apt-get", "-q", "-oX=1", "download", "libc6:arm64", "libc6:armhf", "libc-bin:arm64", "libc-bin:armhf"]


def test_the_private_sources_name_only_the_suite_the_architectures_and_the_keyring():
    assert sources_list(MIRROR, "bullseye", ["arm64", "riscv64"], "/usr/share/keyrings/k.gpg") == (
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bullseye\nComponents: main\n"
        "Architectures: arm64 riscv64\nSigned-By: /usr/share/keyrings/k.gpg\n")


def test_apt_owns_only_its_download_directories_and_parents_come_first():
    specs = apt_state_directories("/var/cache/c", A, Owners(0, 0, 42))
    assert [(spec.path, spec.uid, spec.gid, spec.mode) for spec in specs] == [
        ("/var/cache/c", 0, 0, 0o755), (A, 0, 0, 0o755), (f"{A}/lists", 0, 0, 0o755),
        (f"{A}/archives", 0, 0, 0o755), (f"{A}/lists/partial", 42, -1, 0o700), (f"{A}/archives/partial", 42, -1, 0o700),
        (f"{A}/debs", 42, -1, 0o755), (f"{A}/parts", 0, 0, 0o755)]


@pytest.mark.parametrize("name, arch", [("libc6_2.31-13+deb11u11_arm64.deb", "arm64"),
                                        ("libc-bin_1%3a2.31_ppc64el.deb", "ppc64el")])
def test_a_package_goes_to_the_root_filesystem_its_file_name_names(name, arch):
    assert deb_architecture(name) == arch


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_directory_gets_its_mode_whether_new_or_there_already_and_missing_parents_are_made(tmp_path):
    leaf = tmp_path / "a" / "b" / "c"
    ensure_directory(DirectorySpec(str(leaf), ME.root_uid, ME.root_gid, 0o700), ME)
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(leaf)) == (0o755, 0o755, 0o700)
    os.chmod(leaf, 0o777)
    ensure_directory(DirectorySpec(str(leaf), ME.root_uid, -1, 0o755), ME)
    assert mode(leaf) == 0o755


def test_a_file_where_a_directory_belongs_is_refused_naming_it(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(CanaryError, match=f"{tmp_path}/plain as a directory, but something else is there"):
        ensure_directory(DirectorySpec(str(tmp_path / "plain"), ME.root_uid, ME.root_gid, 0o755), ME)


def test_removing_a_link_never_touches_what_it_points_at(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "file").write_text("keep")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "precious", tmp_path / "tree" / "sub" / "link")
    os.symlink(tmp_path / "precious", tmp_path / "toplink")
    assert remove_path(str(tmp_path / "tree")) is True and remove_path(str(tmp_path / "toplink")) is True
    assert (tmp_path / "precious" / "file").read_text() == "keep"
    assert not os.path.lexists(tmp_path / "tree") and not os.path.lexists(tmp_path / "toplink")
    assert remove_path(str(tmp_path / "tree")) is False


class FakeApt:
    """apt-get and dpkg-deb as far as the build sees them: what they were asked, and the files they would leave."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail
        self.seen = {}

    def __call__(self, argv, cwd=None):
        self.calls.append((argv, cwd))
        if argv[0] == "apt-get" and "update" in argv:
            apt_dir = next(arg for arg in argv if arg.startswith("-oDir::State=")).split("=", 1)[1]
            self.seen = {name: (mode(f"{apt_dir}/{name}"), os.stat(f"{apt_dir}/{name}").st_uid)
                         for name in ("", "lists", "lists/partial", "archives/partial", "debs", "parts")}
            self.seen["sources"] = open(f"{apt_dir}/canary.sources", encoding="utf-8").read()
            self.seen["status"] = open(f"{apt_dir}/status", "rb").read()
            if self.fail == "update":
                return 100, "", "Hit:1 http://m bullseye InRelease\nE: Failed to fetch a\nE: Failed to fetch b\n" \
                                "E: Some index files failed to download.\n"
        if argv[0] == "apt-get" and "download" in argv:
            if self.fail == "download":
                return 100, "", "E: Can't select candidate version from package libc6:riscv64\n"
            for wanted in argv[argv.index("download") + 1:]:
                package, arch = wanted.split(":")
                open(os.path.join(cwd, f"{package}_2.31-13_{arch}.deb"), "w", encoding="utf-8").close()
            open(os.path.join(cwd, ".hidden.deb"), "w", encoding="utf-8").close()
            os.mkdir(os.path.join(cwd, "dir.deb"))
        if argv[0] == "dpkg-deb":
            deb, destination = argv[2], argv[3]
            os.makedirs(f"{destination}/sbin", exist_ok=True)
            os.makedirs(f"{destination}/usr/share/doc", exist_ok=True)
            open(f"{destination}/usr/share/doc/{os.path.basename(deb)}", "w", encoding="utf-8").close()
        return 0, "", ""


def request(tmp_path, **changes):
    values = dict(binfmt={}, probes={}, platforms=[], dir=str(tmp_path / "cache" / "qemu-canary"), suite="bullseye",
                  mirror=MIRROR, keyring="/k.gpg", packages=["libc6", "libc-bin"], programs=[], repeat=1, timeout=1,
                  max_crash_percent=20, marker=MARKER)
    return CanaryRequest(**dict(values, **changes))


def unbuilt(req, *archs):
    probes = {f"qemu-{arch}": {"platform": f"linux/{arch}", "debian_arch": arch} for arch in archs}
    binfmt = {"requested_handlers": list(probes), "handlers": {
        name: {"enabled": True, "interpreter": f"/usr/bin/{name}-static", "flags": "F"} for name in probes}}
    return canary_targets(probes, binfmt, [f"linux/{arch}" for arch in archs], req.dir, req.suite, req.mirror,
                          req.marker)


def test_a_build_unpacks_each_package_into_its_architecture_and_marks_the_tree_last(tmp_path):
    req = request(tmp_path)
    targets = unbuilt(req, "arm64", "riscv64")
    apt = FakeApt()
    assert build_root_filesystems(targets, req, apt, ME) == ["arm64", "riscv64"]
    apt_dir = f"{req.dir}/apt-state"
    options = apt_options(apt_dir, ["arm64", "riscv64"])
    assert apt.calls[:2] == [
        (["apt-get", "-q", *options, "update", "--error-on=any"], None),
        (["apt-get", "-q", *options, "download", "libc6:arm64", "libc6:riscv64", "libc-bin:arm64", "libc-bin:riscv64"],
         f"{apt_dir}/debs")]
    # While apt ran: root's directories 0755, _apt's partial directories 0700, the private sources, an empty status.
    assert apt.seen[""] == (0o755, ME.root_uid) and apt.seen["lists/partial"] == (0o700, ME.apt_uid)
    assert apt.seen["archives/partial"][0] == 0o700 and apt.seen["debs"][0] == 0o755 and apt.seen["parts"][0] == 0o755
    assert apt.seen["sources"] == sources_list(MIRROR, "bullseye", ["arm64", "riscv64"], "/k.gpg")
    assert apt.seen["status"] == b""
    extracted = sorted((argv[2].rsplit("/", 1)[1], argv[3]) for argv, cwd in apt.calls if argv[0] == "dpkg-deb")
    assert extracted == [(f"libc-bin_2.31-13_{arch}.deb", f"{req.dir}/bullseye-{arch}/rootfs") for arch in
                         ("arm64", "riscv64")] + [(f"libc6_2.31-13_{arch}.deb", f"{req.dir}/bullseye-{arch}/rootfs")
                                                  for arch in ("arm64", "riscv64")]
    rootfs = f"{req.dir}/bullseye-arm64/rootfs"
    # dpkg-deb made /sbin; /bin and /lib are links into /usr as in a merged-/usr system.
    assert os.readlink(f"{rootfs}/bin") == "usr/bin" and os.readlink(f"{rootfs}/lib") == "usr/lib"
    assert not os.path.islink(f"{rootfs}/sbin") and mode(f"{rootfs}/tmp") == 0o700
    assert mode(req.dir) == 0o755 and mode(os.path.dirname(req.dir)) == 0o755 and mode(rootfs) == 0o755
    with open(f"{req.dir}/bullseye-arm64/{MARKER}", "rb") as handle:
        assert handle.read() == (b'{\n    "architecture": "arm64",\n    "mirror": "http://deb.debian.org/debian",\n'
                                 b'    "packages": [\n        "libc-bin_2.31-13_arm64",\n'
                                 b'        "libc6_2.31-13_arm64"\n    ],\n    "suite": "bullseye"\n}\n')
    assert mode(f"{req.dir}/bullseye-arm64/{MARKER}") == 0o644
    assert not os.path.exists(apt_dir)


def test_an_incomplete_tree_is_rebuilt_from_nothing(tmp_path):
    req = request(tmp_path)
    targets = unbuilt(req, "arm64")
    os.makedirs(f"{targets[0]['rootfs']}/leftover")
    build_root_filesystems(targets, req, FakeApt(), ME)
    assert not os.path.exists(f"{targets[0]['rootfs']}/leftover")
    assert os.path.exists(targets[0]["marker"])


@pytest.mark.parametrize("step, message", [
    ("update", "The QEMU canary could not read http://deb.debian.org/debian bullseye (main, arm64): E: Failed to fetch"
               " a / E: Failed to fetch b / E: Some index files failed to download.. Point qemu_canary_mirror and"
               " qemu_canary_suite at a reachable Debian mirror that carries these architectures, or leave the canary"
               " out with qemu_canary_platforms: []."),
    ("download", "The QEMU canary could not download libc6, libc-bin for arm64 from http://deb.debian.org/debian"
                 " bullseye: E: Can't select candidate version from package libc6:riscv64. Choose a mirror that"
                 " carries these architectures (qemu_canary_mirror), or fewer canary platforms"
                 " (qemu_canary_platforms)."),
])
def test_apt_failing_says_what_to_change_and_leaves_no_apt_state_and_no_marker(tmp_path, step, message):
    req = request(tmp_path)
    targets = unbuilt(req, "arm64")
    with pytest.raises(CanaryError) as raised:
        build_root_filesystems(targets, req, FakeApt(fail=step), ME)
    assert str(raised.value) == message
    assert not os.path.exists(f"{req.dir}/apt-state") and not os.path.exists(targets[0]["marker"])
