# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file operations the modules share: read with mode, atomic replace, checked directories."""

import os
import stat
import tempfile


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
        raise ValueError("%s %s does not exist or is not a directory" % (what, path))
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError("%s %s is not writable by this user" % (what, path))


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
