# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU canary's root filesystems: Debian's libc6 and libc-bin of one suite, unpacked with dpkg-deb for each
architecture that has no complete root filesystem yet.

apt runs with a state directory, sources list and preferences of its own, deleted afterwards: the host's sources,
package lists, dpkg database and architectures (no dpkg --add-architecture) stay as they are, and the host's
apt.conf.d still applies (a proxy, for instance). Signatures are checked against the keyring the caller names.
Every directory root works in is root's, 0755, created parents first; apt's download sandbox user, _apt, owns only
its download directories. Were the whole tree _apt's (issue 26), root would unpack and chroot into a tree another
account owns.
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from typing import Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_plan import CanaryRequest, render_manifest
from ansible_collections.multiarch.buildhost.plugins.module_utils._canary_run import CanaryError
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import write_file

APT_STATE = "apt-state"
APT_USER = "_apt"
# dpkg-deb makes no links, and the packages of a merged-/usr suite put their files under /usr only.
MERGED_USR = ("bin", "sbin", "lib")
# apt's error lines worth quoting; the rest is progress.
ERROR_LINES = 3
FILE_MODE = 0o644

# (argv, cwd) -> (rc, stdout, stderr)
Command = Callable[..., tuple]


@dataclass(frozen=True)
class Owners:
    """Who owns the directories: root everywhere, apt's download user in its download directories."""

    root_uid: int
    root_gid: int
    apt_uid: int

    @classmethod
    def of_host(cls) -> "Owners":
        try:
            apt_uid = pwd.getpwnam(APT_USER).pw_uid
        except KeyError:
            raise CanaryError(f"The QEMU canary downloads its packages with apt, whose download user {APT_USER} this"
                              " host does not have; install apt, or leave the canary out with"
                              " qemu_canary_platforms: [].") from None
        return cls(0, 0, apt_uid)


@dataclass(frozen=True)
class DirectorySpec:
    path: str
    uid: int
    gid: int  # -1: left as it is (the role gave _apt's directories no group)
    mode: int


def apt_state_dir(canary_dir: str) -> str:
    return f"{canary_dir}/{APT_STATE}"


def apt_options(apt_dir: str, archs: list) -> list[str]:
    """apt's -o options for a state, sources list and preferences of its own, and only the canary architectures."""
    config = [
        f"Dir::State={apt_dir}",
        f"Dir::State::lists={apt_dir}/lists",
        f"Dir::State::status={apt_dir}/status",
        f"Dir::Cache={apt_dir}",
        f"Dir::Cache::archives={apt_dir}/archives",
        "Dir::Cache::pkgcache=",
        "Dir::Cache::srcpkgcache=",
        f"Dir::Etc::SourceList={apt_dir}/canary.sources",
        f"Dir::Etc::SourceParts={apt_dir}/parts",
        f"Dir::Etc::Preferences={apt_dir}/preferences",
        f"Dir::Etc::PreferencesParts={apt_dir}/parts",
        "Acquire::Languages=none",
        "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false",
    ] + [f"APT::Architectures::={arch}" for arch in archs]
    return [f"-o{option}" for option in config]


def update_argv(options: list) -> list[str]:
    return ["apt-get", "-q", *options, "update", "--error-on=any"]


def download_argv(options: list, packages: list, archs: list) -> list[str]:
    return ["apt-get", "-q", *options, "download", *(f"{package}:{arch}" for package in packages for arch in archs)]


def sources_list(mirror: str, suite: str, archs: list, keyring: str) -> str:
    """The private deb822 sources: only the canary suite, only the canary architectures."""
    return (f"Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\nArchitectures: {' '.join(archs)}\n"
            f"Signed-By: {keyring}\n")


def apt_state_directories(canary_dir: str, apt_dir: str, owners: Owners) -> list[DirectorySpec]:
    """The directories of the private apt state, parents first. The cache directory's parent is not among them: it is
    made root's 0755 only when missing (ensure_directory), never taken from whoever owns it (qemu_canary_dir: /tmp/x)."""
    root = (owners.root_uid, owners.root_gid)
    return [
        DirectorySpec(canary_dir, *root, 0o755),
        DirectorySpec(apt_dir, *root, 0o755),
        DirectorySpec(f"{apt_dir}/lists", *root, 0o755),
        DirectorySpec(f"{apt_dir}/archives", *root, 0o755),
        DirectorySpec(f"{apt_dir}/lists/partial", owners.apt_uid, -1, 0o700),
        DirectorySpec(f"{apt_dir}/archives/partial", owners.apt_uid, -1, 0o700),
        # apt-get download writes into its working directory as _apt.
        DirectorySpec(f"{apt_dir}/debs", owners.apt_uid, -1, 0o755),
        DirectorySpec(f"{apt_dir}/parts", *root, 0o755),
    ]


def last_lines(stderr: str) -> str:
    """The last lines of a failed command's stderr, on one line."""
    return " / ".join(stderr.strip().splitlines()[-ERROR_LINES:])


def deb_architecture(name: str) -> str:
    """The architecture in a .deb's file name (NAME_VERSION_ARCH.deb)."""
    return os.path.splitext(name)[0].rsplit("_", 1)[-1]


def ensure_directory(spec: DirectorySpec, owners: Owners) -> None:
    """SPEC's directory with its owner and mode, whether it existed or not; missing parents are made root's, 0755."""
    missing = []
    path = spec.path
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    try:
        for parent in reversed(missing):
            _make(spec if parent == spec.path else DirectorySpec(parent, owners.root_uid, owners.root_gid, 0o755))
        if not missing:
            _own(spec)
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not make {spec.path} a directory with mode {spec.mode:04o}:"
                          f" {exc.strerror}") from exc


def _make(spec: DirectorySpec) -> None:
    if os.path.lexists(spec.path) and not os.path.isdir(spec.path):
        raise CanaryError(f"The QEMU canary needs {spec.path} as a directory, but something else is there; remove it"
                          " and re-run.")
    with contextlib.suppress(FileExistsError):
        os.mkdir(spec.path, spec.mode)
    _own(spec)


def _own(spec: DirectorySpec) -> None:
    os.chown(spec.path, spec.uid, spec.gid)
    os.chmod(spec.path, spec.mode)  # mkdir's mode went through the umask, and an existing directory keeps its own


def remove_path(path: str) -> bool:
    """Remove PATH, a directory with everything in it or anything else; links are removed, never followed.
    False when there was nothing to remove."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not remove {path}: {exc.strerror}") from exc
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not remove {exc.filename or path}: {exc.strerror}") from exc
    return True


def _symlink(target: str, link: str) -> None:
    try:
        os.symlink(target, link)
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not link {link} to {target}: {exc.strerror}") from exc


def write_owned_file(path: str, content: bytes) -> None:
    """Replace PATH atomically with CONTENT, mode 0644, owned by the module's user, as the role's copy tasks did."""
    write_file(path, content, FILE_MODE, os.geteuid(), os.getegid(), create=None)


def _downloaded(debs_dir: str) -> list[str]:
    """The .deb files apt downloaded (regular files, not hidden), as the role's find task listed them."""
    try:
        entries = list(os.scandir(debs_dir))
    except OSError as exc:
        raise CanaryError(f"The QEMU canary could not list {debs_dir}: {exc.strerror}") from exc
    return sorted(entry.name for entry in entries
                  if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".")
                  and fnmatch.fnmatchcase(entry.name, "*.deb"))


def build_root_filesystems(unbuilt: list, request: CanaryRequest, command: Command, owners: Owners) -> list[str]:
    """Build the UNBUILT targets' root filesystems with a private apt state, deleted afterwards whatever happens.
    Returns the architectures built."""
    archs = [target["arch"] for target in unbuilt]
    apt_dir = apt_state_dir(request.dir)
    options = apt_options(apt_dir, archs)
    root = (owners.root_uid, owners.root_gid)
    # Start from an empty private apt state, and from nothing where a root filesystem is incomplete.
    for path in [apt_dir, *(target["dir"] for target in unbuilt)]:
        remove_path(path)
    try:
        for spec in apt_state_directories(request.dir, apt_dir, owners):
            ensure_directory(spec, owners)
        write_owned_file(f"{apt_dir}/canary.sources",
                         sources_list(request.mirror, request.suite, archs, request.keyring).encode("utf-8"))
        write_owned_file(f"{apt_dir}/status", b"")

        rc, _out, err = command(update_argv(options))
        if rc != 0:
            raise CanaryError(
                f"The QEMU canary could not read {request.mirror} {request.suite} (main, {', '.join(archs)}):"
                f" {last_lines(err)}. Point qemu_canary_mirror and qemu_canary_suite at a reachable Debian mirror that"
                " carries these architectures, or leave the canary out with qemu_canary_platforms: [].")
        rc, _out, err = command(download_argv(options, request.packages, archs), cwd=f"{apt_dir}/debs")
        if rc != 0:
            raise CanaryError(
                f"The QEMU canary could not download {', '.join(request.packages)} for {', '.join(archs)} from"
                f" {request.mirror} {request.suite}: {last_lines(err)}. Choose a mirror that carries these"
                " architectures (qemu_canary_mirror), or fewer canary platforms (qemu_canary_platforms).")
        debs = _downloaded(f"{apt_dir}/debs")

        for target in unbuilt:
            ensure_directory(DirectorySpec(target["dir"], *root, 0o755), owners)
            ensure_directory(DirectorySpec(target["rootfs"], *root, 0o755), owners)
        for name in debs:
            deb = f"{apt_dir}/debs/{name}"
            destination = f"{request.dir}/{request.suite}-{deb_architecture(name)}/rootfs"
            rc, _out, err = command(["dpkg-deb", "--extract", deb, destination])
            if rc != 0:
                raise CanaryError(f"The QEMU canary could not unpack {deb} into {destination} with dpkg-deb:"
                                  f" {last_lines(err)}")
        for target in unbuilt:
            for name in MERGED_USR:
                link = f"{target['rootfs']}/{name}"
                if not os.path.lexists(link):
                    _symlink(f"usr/{name}", link)
            # Only root runs the canary: a world-writable /tmp would let any local user plant links where root's
            # chrooted ldconfig writes its cache.
            ensure_directory(DirectorySpec(f"{target['rootfs']}/tmp", *root, 0o700), owners)
        # The marker goes last: a directory without it is rebuilt from nothing.
        for target in unbuilt:
            write_owned_file(target["marker"], render_manifest(request.suite, request.mirror, target["arch"], debs))
    except BaseException:
        # Removing the apt state must not hide the error that got us here.
        with contextlib.suppress(CanaryError):
            remove_path(apt_dir)
        raise
    remove_path(apt_dir)
    return archs
