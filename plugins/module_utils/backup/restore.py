# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a tenant backup into a new database: an Odoo backup zip (ours or one Odoo's database
manager made), or our custom format (`pg_dump -Fc` beside a filestore tar).

A backup is input from a bucket that anyone with its keys can rewrite, so:
- it is trusted only through its signed sidecar (backup/layout.py), and read at the versions the
  sidecar records; a backup without one is restored only when the caller allows unsigned backups;
- its SQL runs as a session role that owns nothing but the new database (postgres/session.py), so
  `SET ROLE`, `RESET SESSION AUTHORIZATION`, `ALTER SYSTEM`, `COPY ... PROGRAM` in it have nothing
  to escalate to;
- no psql meta-command in it ever runs: psql reads the dump behind `\\restrict` with a key of ours,
  after a filter that refuses any backslash line outside COPY data (the dump's own `\\restrict`
  pair, written by pg_dump since 15.14, is the only one let through, and dropped);
- what it writes is bounded: the download to the size recorded for it, the filestore's members to
  the sizes the signed sidecar records (unsigned zips: a compression-ratio bound), each after a
  free-space check with a margin.
Unlike Odoo's own restore (psql without ON_ERROR_STOP, which can look successful after a failed
statement), the dump runs in one transaction that stops at the first error; a custom dump is
restored by `pg_restore --exit-on-error` (the caller drops the database if anything fails).
"""

import contextlib
import os
import re
import secrets
import subprocess
import tarfile
import tempfile
import zipfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_free_space, copy_exact
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import (
    CHUNK,
    HashingReader,
    SidecarRefused,
    authenticate_sidecar,
    filestore_tar_key,
    format_of,
    read_sidecar,
    recorded_objects,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import S3Error, version_args
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import FilestoreError, stage_files, tar_filestore_files, zip_filestore_files
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.programs import program, program_env, supports_restrict

MAX_RATIO = 200  # a zip member's size over its compressed size: SQL and JSON stay far below, bombs do not
COPY_LINE_RE = re.compile(rb"\ACOPY .+ FROM stdin;\r?\n\Z")
COPY_END = (b"\\.\n", b"\\.\r\n")
RESTRICT_RE = re.compile(rb"\A\\(restrict|unrestrict) ([A-Za-z0-9]{1,256})\r?\n\Z")


class RestoreRefused(Refused):
    """A backup refused before (or while) it is restored: nothing of it is kept."""


class BackupSource:
    """A backup object in a bucket: authenticated at plan time, downloaded and checked at apply time."""

    def __init__(self, store, spec, keys, tenant=None, allow_unsigned=False):
        self.store, self.bucket, self.key = store, spec.get("bucket"), spec.get("key")
        if not self.bucket or not self.key:
            raise Refused("from_backup needs bucket and key")
        self.format = format_of(self.key)
        if not self.format:
            raise Refused("from_backup key %s is neither a backup zip (.zip) nor a custom-format dump (.dump)" % self.key)
        self.keys, self.tenant, self.allow_unsigned = keys, tenant, allow_unsigned
        self.filestore_key = filestore_tar_key(self.key) if self.format == "custom" else None
        self.where = "s3://%s/%s" % (self.bucket, self.key)
        self.sidecar, self.objects, self.path, self.unsigned_reason = None, {}, None, None

    def check(self):
        """Authenticate the backup and find its objects; raise Refused naming the problem. Returns
        the sidecar, or None for an unsigned backup the caller allows (the reason in unsigned_reason)."""
        self.store.check_bucket(self.bucket)
        try:
            sidecar = read_sidecar(self.store, self.bucket, self.key)
            if sidecar is None:
                self._head(self.key, {})  # a backup that is not there is named as such
                raise SidecarRefused("%s has no sidecar manifest (a zip made by Odoo's database manager has none)" % self.where)
            self.sidecar = authenticate_sidecar(sidecar, self.keys, self.bucket, self.key, self.tenant)
        except (SidecarRefused, S3Error) as exc:
            if not self.allow_unsigned or not isinstance(exc, SidecarRefused):
                raise RestoreRefused("refusing to restore %s: %s" % (self.where, exc)) from None
            self.unsigned_reason = str(exc)
        if self.sidecar:
            self.objects = {o["key"]: o for o in recorded_objects(self.sidecar)}
            if self.format == "custom" and self.filestore_key not in self.objects:
                raise RestoreRefused("refusing to restore %s: its signed sidecar does not record %s" % (self.where, self.filestore_key))
        for key in filter(None, (self.key, self.filestore_key)):
            recorded = self.objects.get(key) or {}
            head = self._head(key, recorded)
            if recorded and head["ContentLength"] != recorded["size"]:
                raise RestoreRefused(
                    "refusing to restore %s: s3://%s/%s is %d bytes, its signed sidecar records %d"
                    % (self.where, self.bucket, key, head["ContentLength"], recorded["size"])
                )
            self.objects.setdefault(key, {"key": key, "size": head["ContentLength"], "sha256": None, "version_id": None})
        return self.sidecar

    def _head(self, key, recorded):
        try:
            return self.store.call("backup %s" % key, "head_object", Bucket=self.bucket, Key=key, **version_args(recorded.get("version_id")))
        except S3Error as exc:
            raise Refused(
                "backup s3://%s/%s%s does not exist or cannot be read: %s"
                % (self.bucket, key, " at its recorded version %s" % recorded["version_id"] if recorded.get("version_id") else "", exc)
            ) from None

    def _open(self, key):
        recorded = self.objects[key]
        return self.store.call("download %s" % key, "get_object", Bucket=self.bucket, Key=key, **version_args(recorded["version_id"]))["Body"]

    def download(self, directory):
        """The backup zip (or custom dump) into a temporary file of directory, at its recorded version,
        bounded to its recorded size and its SHA-256 checked."""
        recorded = self.objects[self.key]
        check_free_space(directory, recorded["size"], "downloading %s" % self.where)
        fd, self.path = tempfile.mkstemp(prefix=".odoo-restore-", suffix="." + self.format, dir=directory)
        reader = HashingReader(self._open(self.key))
        with os.fdopen(fd, "wb") as handle:
            try:
                copy_exact(reader, handle, recorded["size"], self.where)
            except ValueError as exc:
                raise RestoreRefused(str(exc)) from None
        self._check_sha256(self.key, reader)
        return self.path

    @contextlib.contextmanager
    def filestore_tar(self):
        """The custom format's filestore tar, read as a stream (nothing on disk); its SHA-256 is
        checked when the block ends, so a caller commits what it extracted only after that."""
        reader = HashingReader(self._open(self.filestore_key))
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            yield archive
        reader.drain()  # the end-of-archive padding tarfile leaves unread
        if reader.size != self.objects[self.filestore_key]["size"]:
            raise RestoreRefused(
                "s3://%s/%s held %d bytes, %d are recorded" % (self.bucket, self.filestore_key, reader.size, self.objects[self.filestore_key]["size"])
            )
        self._check_sha256(self.filestore_key, reader)

    def _expected_members(self):
        """{path inside the filestore: size} the signed sidecar records, or None (unsigned)."""
        if not self.sidecar:
            return None
        members = self.sidecar.get("members") or {}
        return {name[len("filestore/") :]: entry.get("size") for name, entry in members.items() if name.startswith("filestore/")}

    def stage_filestore(self, build):
        """Fill a FilestoreBuild's staging from the backup's filestore: the downloaded zip's members,
        or the custom format's tar, streamed; members checked against the signed sidecar."""
        expected = self._expected_members()
        if self.format == "zip":
            with zipfile.ZipFile(self.path) as archive:
                files = list(zip_filestore_files(archive))
                total = sum(size for _name, size, _opener in files)
                check_free_space(build.root, total, "the filestore of %s" % self.where, files=len(files))
                return stage_files(build, files, expected)
        total = sum(expected.values()) if expected else self.objects[self.filestore_key]["size"]
        check_free_space(build.root, total, "the filestore of %s" % self.where, files=len(expected) if expected else 0)
        with self.filestore_tar() as archive:
            return stage_files(build, tar_filestore_files(archive), expected)

    def check_archive(self):
        """Refuse a downloaded zip whose members the sidecar does not record, of another size, or that
        expand beyond MAX_RATIO (signed or not: defence in depth): before anything of it reaches
        PostgreSQL or the disk."""
        if self.format != "zip":
            return
        recorded = (self.sidecar or {}).get("members")
        try:
            with zipfile.ZipFile(self.path) as archive:
                infos = archive.infolist()
        except zipfile.BadZipFile as exc:
            raise RestoreRefused("%s is not a zip archive: %s" % (self.where, exc)) from None
        names = [i.filename for i in infos]
        if "dump.sql" not in names:
            raise RestoreRefused("%s has no dump.sql: not an Odoo backup zip" % self.where)
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise RestoreRefused("%s has members that appear twice: %s" % (self.where, ", ".join(doubles[:5])))
        for info in infos:
            if info.is_dir():
                continue
            if recorded is not None:
                entry = recorded.get(info.filename)
                if not entry or entry.get("size") != info.file_size:
                    raise RestoreRefused(
                        "%s member %s (%d bytes) is %s"
                        % (
                            self.where,
                            info.filename,
                            info.file_size,
                            "not in its signed sidecar" if not entry else "not the %s bytes its signed sidecar records" % entry.get("size"),
                        )
                    )
            if info.file_size > MAX_RATIO * max(info.compress_size, 1024):
                raise RestoreRefused(
                    "%s member %s expands from %d to %d bytes (more than %dx): refused as a zip bomb"
                    % (self.where, info.filename, info.compress_size, info.file_size, MAX_RATIO)
                )

    def restore_into(self, session, dbname, jobs=1, pg_bin_dir=None):
        """The downloaded dump into the empty database dbname, logged in as the session role that owns
        it, stopping at the first error: a zip's dump.sql with psql, a custom dump with pg_restore."""
        self.check_archive()
        if self.format == "zip":
            with zipfile.ZipFile(self.path) as archive:
                info = archive.getinfo("dump.sql")
                with archive.open(info) as dump:
                    restore_plain(session, dump, info.file_size, dbname, pg_bin_dir)
        else:
            restore_custom(session, self.path, dbname, jobs, pg_bin_dir)

    def _check_sha256(self, key, reader):
        expected = self.objects[key].get("sha256")
        if expected and reader.record["sha256"] != expected:
            raise RestoreRefused(
                "backup s3://%s/%s has SHA-256 %s, its signed sidecar records %s: refusing to restore it"
                % (self.bucket, key, reader.record["sha256"], expected)
            )

    def discard(self):
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
        self.path = None


def plain_dump_lines(dump, size):
    """The lines of a plain SQL dump for psql, at most `size` bytes: a backslash line outside COPY
    data is refused (psql would run it as a meta-command), except the dump's own \\restrict /
    \\unrestrict pair, which is dropped (psql already runs under our own \\restrict); a NUL byte
    anywhere is refused. Lines longer than a chunk come in pieces; only a piece at a line's start is
    looked at for a backslash."""
    left, at_start, in_copy, number = size, True, False, 0
    while True:
        piece = dump.readline(CHUNK)
        if not piece:
            return
        left -= len(piece)
        if left < 0:
            raise RestoreRefused("dump.sql holds more than the %d bytes recorded for it" % size)
        if at_start:
            number += 1
        if b"\0" in piece:
            # psql cuts its input at a NUL: what follows could join the next piece into a line this
            # filter never saw start (and COPY data would silently lose bytes). pg_dump never writes one.
            raise RestoreRefused("dump.sql line %d holds a NUL byte: not SQL pg_dump writes, refused" % number)
        if at_start:
            if in_copy:
                in_copy = piece not in COPY_END
            elif piece.lstrip(b" \t\r\f\v").startswith(b"\\"):
                if not RESTRICT_RE.match(piece):
                    raise RestoreRefused(
                        "dump.sql line %d is a psql meta-command (%r): a backup may hold SQL only" % (number, piece[:60].decode("utf-8", "replace"))
                    )
                at_start = True
                continue
            elif COPY_LINE_RE.match(piece):
                in_copy = True
        at_start = piece.endswith(b"\n")
        yield piece


def restore_plain(session, dump, size, dbname, pg_bin_dir=None):
    """Run a plain dump (a stream of `size` bytes) into dbname as the session role: psql behind our
    own \\restrict key, one transaction, stop at the first error. A refused line kills psql before it
    can commit anything."""
    psql = program(pg_bin_dir, "psql")
    if not supports_restrict(psql):
        raise RestoreRefused(
            "%s has no \\restrict (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 or later): it could "
            "run psql meta-commands a backup carries; upgrade the client programs" % psql
        )
    argv = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse", "--file=-"]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # pylint: disable=consider-using-with
        env=program_env(session.env(dbname)),
    )
    refused = None
    try:
        proc.stdin.write(b"\\restrict " + secrets.token_hex(24).encode() + b"\n")
        for piece in plain_dump_lines(dump, size):
            proc.stdin.write(piece)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # psql stopped at an error; its message follows
    except (RestoreRefused, OSError, zipfile.BadZipFile) as exc:
        refused = exc
        proc.kill()  # before psql reads an end of input and commits what it ran so far
    errors = proc.stderr.read().decode("utf-8", "replace")
    proc.wait()
    if refused is not None:
        raise RestoreRefused(str(refused)) from None
    if proc.returncode != 0:
        raise OperationFailed("dump.sql failed, nothing of it was kept (psql exit %d): %s" % (proc.returncode, session.client().safe(errors.strip()[-800:])))


def restore_custom(session, dump_path, dbname, jobs=1, pg_bin_dir=None):
    """Restore a `pg_dump` custom file or directory into dbname as the session role, stopping at the
    first error: in one transaction with one job; with several, in parallel (then the caller drops
    dbname on failure). Ownership and privileges in the dump are ignored (--no-owner --no-acl)."""
    argv = [program(pg_bin_dir, "pg_restore"), "--exit-on-error", "--no-owner", "--no-acl", "--dbname=%s" % dbname]
    argv += ["--jobs=%d" % jobs] if jobs > 1 else ["--single-transaction"]
    done = subprocess.run(argv + [dump_path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=program_env(session.env(dbname)), check=False)
    if done.returncode != 0:
        raise OperationFailed(
            "pg_restore of the dump into %s failed (exit %d): %s"
            % (dbname, done.returncode, session.client().safe(done.stderr.decode("utf-8", "replace").strip()[-800:]))
        )


__all__ = ["BackupSource", "FilestoreError", "RestoreRefused", "restore_custom", "restore_plain"]
