# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, attribute-keeping file writes shared by every module that edits a file.

AnsibleModule.atomic_move() widens a *new* file to 0666 & ~umask after the rename, which would
leave a credentials file briefly world-readable; so the temporary file here gets its final owner
and mode before it is renamed into place, and a reader only ever sees the old or the new file.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from dataclasses import dataclass


class FileRefused(Exception):
    """The path is not something we are willing to read or replace."""


@dataclass(frozen=True)
class FileState:
    exists: bool
    content: bytes = b""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


def read_regular_file(path: str) -> FileState:
    """Read PATH if it exists; refuse symlinks, directories and other non-regular files."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return FileState(exists=False)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot be inspected: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        # Replacing a symlink with a regular file would silently break whatever it pointed at.
        raise FileRefused(f"{path} is a symbolic link to {os.readlink(path)}; point the module at the real file")
    if stat.S_ISDIR(st.st_mode):
        raise FileRefused(f"{path} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{path} is not a regular file")
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise FileRefused(f"{path} cannot be read: {exc.strerror}") from exc
    return FileState(True, content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def ensure_directory(path: str, mode: int, uid: int, gid: int) -> bool:
    """Create PATH (one level) with MODE and owner when missing. Returns True when created."""
    if os.path.isdir(path):
        return False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    os.mkdir(path, mode)
    os.chown(path, uid, gid)
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    return True


def write_atomically(path: str, content: bytes, mode: int, uid: int, gid: int) -> None:
    """Replace PATH with CONTENT so that readers see either the old or the new file, never a mix."""
    directory = os.path.dirname(path) or "."
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def exclusive_lock(path: str):
    """Serialise read-merge-write cycles on PATH across processes (two Ansible runs, a hand edit by a script).

    The lock is taken on the directory, so no lock file is left next to the managed file.
    """
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
