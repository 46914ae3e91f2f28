# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odoo filestores: <root>/<db>/<2 hex>/<sha1>, plus the checklist/ tree.

Files are content-addressed and never modified in place, so a new tenant may share them with
its template through hard links. A copy is built in a hidden temporary directory beside the
target and renamed into place at the end: a failure never leaves a partial filestore.
"""

import grp
import os
import pwd
import shutil
import tempfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import copy_exact


class FilestoreError(OdooOpsError):
    pass


def owner_ids(user, group):
    """(uid, gid) for names or numeric ids (None: leave as is); ValueError naming an unknown user or
    group. Numeric ids serve containers, whose users the host does not know."""
    try:
        uid = -1 if not user else int(user) if str(user).isdigit() else pwd.getpwnam(user).pw_uid
    except KeyError:
        raise Refused("filestore_owner %r is not a user on this host" % user) from None
    try:
        gid = -1 if not group else int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise Refused("filestore_group %r is not a group on this host" % group) from None
    return uid, gid


def tree_size(path):
    """Bytes of the regular files under path (each inode once), 0 when it does not exist."""
    total, seen = 0, set()
    for folder, _dirs, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def check_root(root):
    if not os.path.isdir(root):
        raise Refused("filestore_root %s does not exist or is not a directory" % root)
    if not os.access(root, os.W_OK | os.X_OK):
        raise Refused("filestore_root %s is not writable by this user" % root)


def check_hardlink(source, root, uid):
    """Hard links share owner and mode with the source: refuse where that cannot be right."""
    if os.stat(source).st_dev != os.stat(root).st_dev:
        raise Refused("filestore_copy=hardlink needs %s and %s on one filesystem; use copy" % (source, root))
    if uid != -1 and os.stat(source).st_uid != uid:
        raise Refused("filestore_copy=hardlink would leave the files owned by uid %d, not filestore_owner; use copy" % os.stat(source).st_uid)


class FilestoreBuild:
    """A filestore being built for one tenant: stage(), then commit() or discard()."""

    def __init__(self, root, name, uid=-1, gid=-1):
        self.root, self.name, self.uid, self.gid = root, name, uid, gid
        self.target = os.path.join(root, name)
        self.staging = None

    def stage(self, source=None, mode="copy"):
        """Fill a temporary directory from source (None: an empty filestore)."""
        self.staging = tempfile.mkdtemp(prefix=".%s." % self.name, suffix=".tmp", dir=self.root)
        self._own(self.staging)
        if not source or not os.path.isdir(source):
            return 0
        count = 0
        for folder, dirs, files in os.walk(source):
            relative = os.path.relpath(folder, source)
            destination = os.path.normpath(os.path.join(self.staging, relative))
            for name in dirs:
                os.mkdir(os.path.join(destination, name), 0o700)
                self._own(os.path.join(destination, name))
            for name in files:
                src, dst = os.path.join(folder, name), os.path.join(destination, name)
                if mode == "hardlink":
                    os.link(src, dst)
                else:
                    shutil.copy2(src, dst)
                    self._own(dst)
                count += 1
        return count

    def _own(self, path):
        if os.path.isdir(path):
            os.chmod(path, 0o700)
        if self.uid != -1 or self.gid != -1:
            os.chown(path, self.uid, self.gid)

    def commit(self):
        if os.path.exists(self.target):
            raise FilestoreError("filestore %s appeared while it was being built" % self.target)
        os.rename(self.staging, self.target)
        self.staging = None

    def discard(self):
        if self.staging and os.path.exists(self.staging):
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None


def zip_filestore_files(archive, prefix="filestore/"):
    """(path inside the filestore, size, opener) of an Odoo backup zip's filestore members."""
    for info in archive.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            yield info.filename[len(prefix) :], info.file_size, lambda info=info: archive.open(info)


def tar_filestore_files(archive, prefix="filestore/"):
    """(path inside the filestore, size, opener) of a filestore tar's members, read as a stream;
    anything but a regular file or a folder under filestore/ (a link, a device) is refused."""
    for member in archive:
        if not member.name.startswith(prefix) or member.isdir():
            continue
        if not member.isfile():
            raise FilestoreError("backup member %r is not a regular file" % member.name)
        yield member.name[len(prefix) :], member.size, lambda member=member: archive.extractfile(member)


def check_member_path(relative):
    """A path inside a filestore: relative, no '..', no empty or over-long part, no control characters."""
    parts = relative.split("/") if relative else []
    if not parts or relative.startswith("/") or any(p in ("", ".", "..") or len(p) > 255 for p in parts) or any(ord(c) < 32 or c in "\x7f\\" for c in relative):
        raise FilestoreError("backup member %r points outside the filestore or is not a plain path" % relative)
    return relative


def stage_files(build, files, expected=None):
    """Fill a FilestoreBuild's staging directory from (path inside the filestore, size, opener)
    triples. expected: {path: size} a trusted record (the signed sidecar) gives - then a member it
    does not list, or of another size, is refused before a byte of it is written. Each copy stops at
    the size recorded for it, so a member cannot write more than it says."""
    build.staging = tempfile.mkdtemp(prefix=".%s." % build.name, suffix=".tmp", dir=build.root)
    build._own(build.staging)  # pylint: disable=protected-access  # same module's helper
    count, seen = 0, set()
    for relative, size, opener in files:
        check_member_path(relative)
        if relative in seen:
            raise FilestoreError("backup member %r appears twice" % relative)
        seen.add(relative)
        if expected is not None and expected.get(relative) != size:
            raise FilestoreError(
                "backup member filestore/%s (%d bytes) is %s"
                % (
                    relative,
                    size,
                    "not in the backup's signed manifest" if relative not in expected else "not the %d bytes its signed manifest records" % expected[relative],
                )
            )
        target = os.path.join(build.staging, relative)
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
            for path in _parents(build.staging, folder):
                build._own(path)  # pylint: disable=protected-access
        with opener() as source, open(target, "xb") as handle:
            try:
                copy_exact(source, handle, size, "backup member filestore/%s" % relative)
            except ValueError as exc:
                raise FilestoreError(str(exc)) from None
        build._own(target)  # pylint: disable=protected-access
        count += 1
    return count


def _parents(top, folder):
    """Folders from just below top down to folder."""
    found = []
    while os.path.normpath(folder) != os.path.normpath(top):
        found.append(folder)
        folder = os.path.dirname(folder)
    return reversed(found)


def files_missing(source, target):
    """The files (relative paths) of source's tree that target lacks or holds with another size.
    Odoo writes an attachment once under its checksum and never rewrites it, so a file of the same
    size under the same name is the same file."""
    missing = []
    for folder, _dirs, files in os.walk(source):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), source)
            there = os.path.join(target, relative)
            if not os.path.isfile(there) or os.path.getsize(there) != os.path.getsize(os.path.join(folder, name)):
                missing.append(relative)
    return sorted(missing)


def copy_missing(source, target, uid=-1, gid=-1):
    """Copy into target (made when absent, mode 0700) the files of source it lacks; returns how many.
    Never deletes: a move copies before the switch and again after it (the files the old fleet wrote
    in between), then compares."""
    count = 0
    for relative in files_missing(source, target):
        destination = os.path.join(target, relative)
        parents = []
        folder = os.path.dirname(destination)
        while not os.path.isdir(folder):
            parents.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(parents):
            os.mkdir(folder, 0o700)
            if uid != -1 or gid != -1:
                os.chown(folder, uid, gid)
        shutil.copy2(os.path.join(source, relative), destination)
        if uid != -1 or gid != -1:
            os.chown(destination, uid, gid)
        count += 1
    return count
