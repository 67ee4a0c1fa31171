# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reach, read and replace a file as root without letting another user redirect us.

The modules run as root on files in trees that other users control (``~alice/.docker``). A path is therefore
never used by name once it has been checked: the directories are opened one at a time from ``/`` with
``O_NOFOLLOW``, each opened descriptor is checked with ``fstat`` (what we hold is what we checked, whatever is
renamed afterwards), and the file is read, written and renamed relative to its parent's descriptor.

Rules (the threat model is in docs/reliability.md):
- every directory on the path belongs to a trusted user: root, or the user whose file this is;
- no directory on the path may be writable by others (sticky directories such as /tmp excepted), nor by a group
  other than root's or the owner's;
- a symbolic link is followed only where root alone could have made it (in a directory of root's that nobody else
  can write); anywhere else it is refused, and the last component is never followed;
- the file itself must be a regular file; in a directory the user controls it must belong to that user and have a
  single link (a hard link, even one left behind after root replaced the original, could smuggle in root's file).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import secrets
import stat
import time
from dataclasses import dataclass, field
from typing import Iterator

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

MAX_SYMLINK_HOPS = 16
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class FileRefused(BuildhostError):
    """The path is not something we are willing to read or replace; the message says why."""


@dataclass(frozen=True)
class FileState:
    exists: bool
    content: bytes = b""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    # True when the file sits in a directory that only root controls.
    root_only_parent: bool = True


@dataclass(frozen=True)
class Trust:
    """Who may own the directories (and, in a user's tree, the file) on the way to a managed file.

    Root, and the user the module runs as (a module run without become can already write whatever that user owns).
    """

    uids: frozenset[int] = field(default_factory=lambda: frozenset({0, os.geteuid()}))
    gids: frozenset[int] = field(default_factory=lambda: frozenset({0, os.getegid()}))

    @classmethod
    def root_and(cls, uid: int, gid: int) -> "Trust":
        """Root, the module's own user, and the user whose file this is."""
        return cls(frozenset({0, os.geteuid(), uid}), frozenset({0, os.getegid(), gid}))


@dataclass(frozen=True)
class NewDirectory:
    """How a missing directory on the path is created."""

    mode: int
    uid: int
    gid: int


ROOT_DIRECTORY = NewDirectory(0o755, 0, 0)


def _who(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _split(path: str) -> list[str]:
    if not path or not os.path.isabs(path):
        raise FileRefused(f"{path!r} is not an absolute path")
    if "\0" in path:
        raise FileRefused(f"{path!r} holds a NUL byte, which no file name can")
    if path.endswith("/"):
        raise FileRefused(f"{path} ends with '/', so it names a directory, not a file")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise FileRefused(f"{path} must name a file without '..' components")
    return parts


def _root_only(st: os.stat_result) -> bool:
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _check_directory(path: str, shown: str, st: os.stat_result, trust: Trust) -> None:
    if st.st_uid not in trust.uids:
        raise FileRefused(f"{path}: the directory {shown} belongs to {_who(st.st_uid)}, who may not steer where this"
                          " module reads and writes; refusing to use it")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise FileRefused(f"{path}: the directory {shown} is writable by every user (mode {stat.S_IMODE(st.st_mode):04o});"
                          " refusing to use it")
    if st.st_mode & stat.S_IWGRP and st.st_gid not in trust.gids and not st.st_mode & stat.S_ISVTX:
        raise FileRefused(f"{path}: the directory {shown} is writable by group {st.st_gid} (mode"
                          f" {stat.S_IMODE(st.st_mode):04o}); refusing to use it")


class _Walk:
    """Opens the directories of a path one by one; holds at most one descriptor besides the stack it keeps for '..'."""

    def __init__(self, path: str, trust: Trust, create: NewDirectory | None):
        self.path = path
        self.trust = trust
        self.create = create
        self.hops = 0

    def parent(self) -> tuple[int, str, bool] | None:
        """(descriptor, shown path, root-only) of the directory holding the file; None when a directory is missing."""
        parts = _split(self.path)
        pending = parts[:-1]
        stack: list[tuple[int, str, os.stat_result]] = []
        fd = os.open("/", _DIR_FLAGS)
        shown = "/"
        try:
            st = os.fstat(fd)
            while pending:
                name = pending.pop(0)
                if name == "..":  # only ever from a link root made
                    if stack:
                        os.close(fd)
                        fd, shown, st = stack.pop()
                    continue
                child_shown = os.path.join(shown, name)
                child = self._open_child(fd, name, child_shown, st)
                if child is None:
                    return None
                if isinstance(child, list):  # a trusted symbolic link: continue along its target
                    if child and child[0] == "/":
                        for held, _shown, _st in stack:
                            os.close(held)
                        stack.clear()
                        os.close(fd)
                        fd, shown = os.open("/", _DIR_FLAGS), "/"
                        st = os.fstat(fd)
                        child = child[1:]
                    pending[:0] = child
                    continue
                child_st = os.fstat(child)
                try:
                    _check_directory(self.path, child_shown, child_st, self.trust)
                except BaseException:
                    os.close(child)
                    raise
                stack.append((fd, shown, st))
                fd, shown, st = child, child_shown, child_st
            for held, _shown, _st in stack:
                os.close(held)
            stack.clear()
            return fd, shown, _root_only(st)
        except BaseException:
            for held, _shown, _st in stack:
                os.close(held)
            os.close(fd)
            raise

    def _open_child(self, fd: int, name: str, shown: str, parent_st: os.stat_result):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if self.create is None:
                return None
            self._mkdir(fd, name, shown)
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise FileRefused(f"{self.path}: {shown} cannot be opened: {exc.strerror}") from exc
        entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISLNK(entry.st_mode):
            raise FileRefused(f"{self.path}: {shown} is not a directory, so the file cannot be reached")
        if not _root_only(parent_st) or entry.st_uid != 0:
            raise FileRefused(f"{self.path}: {shown} is a symbolic link in a directory that {_who(parent_st.st_uid)} or"
                              " others can change; refusing to follow it")
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise FileRefused(f"{self.path}: more than {MAX_SYMLINK_HOPS} symbolic links on the way")
        target = os.readlink(name, dir_fd=fd)
        parts = [part for part in target.split("/") if part not in ("", ".")]
        return (["/"] + parts) if target.startswith("/") else parts

    def _mkdir(self, fd: int, name: str, shown: str) -> None:
        spec = self.create or ROOT_DIRECTORY  # only called with create set
        try:
            os.mkdir(name, spec.mode, dir_fd=fd)
        except FileExistsError:
            return  # another run made it first; it is checked like any other directory
        except OSError as exc:
            raise FileRefused(f"{self.path}: the directory {shown} cannot be created: {exc.strerror}") from exc
        made = os.open(name, _DIR_FLAGS, dir_fd=fd)
        try:
            os.fchown(made, spec.uid, spec.gid)
            os.fchmod(made, spec.mode)  # mkdir's mode went through the umask
        finally:
            os.close(made)


@dataclass
class OpenedParent:
    """The directory that holds a managed file, held open; every operation on the file goes through it."""

    path: str
    name: str
    fd: int | None  # None: the directory does not exist (yet)
    trust: Trust
    root_only: bool = True

    def read(self, max_bytes: int) -> FileState:
        if self.fd is None:
            return FileState(exists=False)
        try:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return FileState(exists=False, root_only_parent=self.root_only)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                try:
                    target = " to " + os.readlink(self.name, dir_fd=self.fd)
                except OSError:
                    target = ""  # swapped back meanwhile: it was a link when we opened it, and that is what counts
                raise FileRefused(f"{self.path} is a symbolic link{target}; point the module at the real file") from exc
            if exc.errno == errno.EISDIR:
                raise FileRefused(f"{self.path} is a directory, not a file") from exc
            raise FileRefused(f"{self.path} cannot be opened: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise FileRefused(f"{self.path} is a directory, not a file")
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"{self.path} is not a regular file")
            if not self.root_only:
                if st.st_nlink != 1:
                    raise FileRefused(f"{self.path} has {st.st_nlink} hard links; in a directory another user controls"
                                      f" that may be someone else's file, so it is refused")
                # Only the directory's owner's own files: a file of anyone else's (root's included) in a directory
                # the owner controls may be a hard link they kept after the original was replaced.
                directory_owner = os.fstat(self.fd).st_uid
                if st.st_uid != directory_owner:
                    raise FileRefused(f"{self.path} belongs to {_who(st.st_uid)} but sits in a directory of"
                                      f" {_who(directory_owner)}'s, who could have linked it there; refusing to read"
                                      f" it (if it is theirs: chown {_who(directory_owner)} {self.path})")
            if st.st_size > max_bytes:
                raise FileRefused(f"{self.path} is {st.st_size} bytes, larger than the {max_bytes} bytes such a"
                                  f" configuration file can reasonably be; check what it holds")
            chunks = []
            remaining = max_bytes + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            content = b"".join(chunks)
            if len(content) > max_bytes:
                raise FileRefused(f"{self.path} grew past {max_bytes} bytes while it was read")
        except OSError as exc:
            raise FileRefused(f"{self.path} cannot be read: {exc.strerror}") from exc
        finally:
            os.close(fd)
        return FileState(True, content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, self.root_only)

    def write(self, content: bytes, mode: int, uid: int, gid: int, name: str | None = None, replace: bool = True) -> str:
        """Write CONTENT to NAME (default: the managed file) atomically: a reader sees the old or the new file.

        The temporary file gets its final owner and mode before any byte is written and before the rename, so a
        credentials file is never readable by others, not even for a moment. Returns the path written.
        """
        if self.fd is None:
            raise FileRefused(f"{os.path.dirname(self.path)} does not exist")
        target = name or self.name
        shown = os.path.join(os.path.dirname(self.path), target)
        tmp = f".{target}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd)
        except OSError as exc:
            raise FileRefused(f"{shown} could not be written, it is unchanged: {exc.strerror}") from exc
        try:
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if replace:
                os.rename(tmp, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            else:
                os.link(tmp, target, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
                os.unlink(tmp, dir_fd=self.fd)
            os.fsync(self.fd)  # make the rename itself durable
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)
            raise FileRefused(f"{shown} could not be written, it is unchanged: {exc.strerror}") from exc
        return shown

    def backup(self, content: bytes, mode: int, uid: int, gid: int) -> str:
        """Keep CONTENT beside the file under Ansible's backup name, with the file's new mode (a copy of a
        credentials file is as secret as the file)."""
        stamp = time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime())
        return self.write(content, mode, uid, gid, name=f"{self.name}.{os.getpid()}.{stamp}", replace=False)

    def remove(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.name, dir_fd=self.fd)
            os.fsync(self.fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FileRefused(f"{self.path} could not be removed: {exc.strerror}") from exc


# Another run of the module holds the lock for well under a second; anyone who can open the directory can take it too.
LOCK_TIMEOUT_SECONDS = 60


def _lock(fd: int, path: str) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise FileRefused(f"{path}: its directory stayed locked for {LOCK_TIMEOUT_SECONDS} s (flock); another"
                                  " process holds it, look for it with `fuser` on the directory") from None
            time.sleep(0.05)


@contextlib.contextmanager
def open_parent(path: str, trust: Trust = Trust(), create: NewDirectory | None = None, lock: bool = True) -> Iterator[OpenedParent]:
    """Open the directory holding PATH under the rules above, locked for a read-merge-write cycle.

    The lock (flock on the directory) serialises two runs on the same file; no lock file is left behind.
    With CREATE, missing directories are made; without it a missing directory yields a parent with fd=None.
    """
    try:
        found = _Walk(path, trust, create).parent()
    except FileRefused:
        raise
    except OSError as exc:
        raise FileRefused(f"{path} cannot be reached: {exc.strerror}") from exc
    name = _split(path)[-1]
    if found is None:
        yield OpenedParent(path, name, None, trust)
        return
    fd, _shown, root_only = found
    try:
        if lock:
            _lock(fd, path)
        yield OpenedParent(path, name, fd, trust, root_only)
    finally:
        os.close(fd)  # closing drops the lock


@contextlib.contextmanager
def open_directory(path: str, trust: Trust) -> Iterator[int | None]:
    """PATH itself as an opened directory, under the rules above; None when it does not exist."""
    with open_parent(path, trust, lock=False) as parent:
        if parent.fd is None:
            yield None
            return
        try:
            fd = os.open(parent.name, _DIR_FLAGS, dir_fd=parent.fd)
        except FileNotFoundError:
            yield None
            return
        except OSError as exc:
            raise FileRefused(f"{path} is not a directory this module may use: {exc.strerror}") from exc
        try:
            _check_directory(path, path, os.fstat(fd), trust)
            yield fd
        finally:
            os.close(fd)


def read_file(path: str, max_bytes: int, trust: Trust = Trust()) -> FileState:
    """Read PATH under the rules above, without taking a lock."""
    with open_parent(path, trust, lock=False) as parent:
        return parent.read(max_bytes)


def write_file(path: str, content: bytes, mode: int, uid: int, gid: int, trust: Trust = Trust(),
               create: NewDirectory | None = ROOT_DIRECTORY) -> None:
    """Replace PATH atomically under the rules above, creating missing directories as CREATE says."""
    with open_parent(path, trust, create) as parent:
        parent.write(content, mode, uid, gid)
