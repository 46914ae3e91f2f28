# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file operations the modules share: read with mode, atomic replace, checked directories,
free space before a write, and copies bounded to the size a trusted record gives."""

import os
import shutil
import stat
import tempfile
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

COPY_CHUNK = 1024 * 1024
FREE_SPACE_MARGIN = 256 * 1024 * 1024  # plus 5 % of what is written: the file system must not fill up
FREE_INODES_MARGIN = 1000  # likewise for files (plus 5 %)


def human_bytes(count):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return ("%d %s" if unit == "bytes" else "%.1f %s") % (count, unit)
        count /= 1024.0
    return str(count)


def check_free_space(path, needed, what, files=0):
    """Raise ValueError unless the file system of path has room for `needed` bytes in `files` files
    and the margin. Each file may take a block more than its bytes, and an inode: a million one-byte
    files fill a disk (or its inode table) that their byte count says they fit in."""
    info = os.statvfs(path)
    needed += files * info.f_frsize
    free = shutil.disk_usage(path).free
    margin = FREE_SPACE_MARGIN + needed // 20
    if free < needed + margin:
        raise Refused(
            "%s needs %s in %s (and a margin of %s), but only %s are free: nothing was written"
            % (what, human_bytes(needed), path, human_bytes(margin), human_bytes(free))
        )
    inodes_margin = FREE_INODES_MARGIN + files // 20
    if files and info.f_files and info.f_favail < files + inodes_margin:  # f_files 0: no inode limit (btrfs)
        raise Refused(
            "%s needs %d files in %s (and a margin of %d), but only %d inodes are free: nothing was written" % (what, files, path, inodes_margin, info.f_favail)
        )


def copy_exact(source, target, size, what):
    """Copy a stream into a file object: exactly `size` bytes, or ValueError (a source that holds more
    than its record says is not read beyond it)."""
    left = size
    while True:
        chunk = source.read(min(COPY_CHUNK, left + 1))
        if not chunk:
            break
        if len(chunk) > left:
            raise Refused("%s holds more than the %d bytes recorded for it" % (what, size))
        target.write(chunk)
        left -= len(chunk)
    if left:
        raise Refused("%s holds %d bytes, %d are recorded for it" % (what, size - left, size))


def read_file(path):
    """(content bytes, permission bits) of path, or (None, None) when it does not exist."""
    try:
        with open(path, "rb") as handle:
            content = handle.read()
            return content, stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None


def check_writable_dir(path, what):
    """Raise ValueError unless path is an existing directory this process may create files in."""
    if not os.path.isdir(path):
        raise Refused("%s %s does not exist or is not a directory" % (what, path))
    if not os.access(path, os.W_OK | os.X_OK):
        raise Refused("%s %s is not writable by this user" % (what, path))


def write_atomic(path, content, mode):
    """Replace path with content: a temp file in the same directory, fsync, chmod, rename.

    Readers (Traefik's file watcher) see the old file or the new one, never a partial one.
    The temp name is hidden and ends in .tmp, which Traefik's file provider ignores.
    """
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % base, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
