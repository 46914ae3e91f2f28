# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a tenant backup into a new database: an Odoo backup zip (ours or one Odoo's database
manager made), or our custom format (`pg_dump -Fc` beside a filestore tar).

Unlike Odoo's own restore (psql without ON_ERROR_STOP, which can look successful after a failed
statement), a zip's dump runs in one transaction that stops at the first error; a custom dump is
restored by `pg_restore --exit-on-error`, in parallel when asked (the caller drops the database
if it fails).
"""

import contextlib
import json
import os
import subprocess
import tarfile
import tempfile
import zipfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import (
    stage_files, tar_filestore_files, zip_filestore_files)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import (
    SIDECAR_SUFFIX, HashingReader, filestore_tar_key, format_of)

CHUNK = 1024 * 1024


class BackupSource:
    """A backup object in a bucket: checked at plan time, downloaded and verified at apply time."""

    def __init__(self, store, spec):
        self.store, self.bucket, self.key = store, spec.get("bucket"), spec.get("key")
        if not self.bucket or not self.key:
            raise ValueError("from_backup needs bucket and key")
        self.format = format_of(self.key)
        if not self.format:
            raise ValueError("from_backup key %s is neither a backup zip (.zip) nor a custom-format dump (.dump)"
                             % self.key)
        self.filestore_key = filestore_tar_key(self.key) if self.format == "custom" else None
        self.path = None

    def check(self):
        """Raise ValueError naming the object when it is missing; return the sidecar (or None)."""
        self.store.check_bucket(self.bucket)
        for key in filter(None, (self.key, self.filestore_key)):
            try:
                self.store.call("backup %s" % key, "head_object", Bucket=self.bucket, Key=key)
            except Exception as exc:  # pylint: disable=broad-except  # S3Error: reported as bad input
                raise ValueError("backup s3://%s/%s does not exist or cannot be read: %s" % (self.bucket, key, exc)) from None
        try:
            body = self.store.call("sidecar", "get_object", Bucket=self.bucket, Key=self.key + SIDECAR_SUFFIX)
            return json.loads(body["Body"].read())
        except Exception:  # pylint: disable=broad-except  # a zip Odoo made has no sidecar
            return None

    def download(self, directory, expected_sha256=None):
        """The backup zip (or custom dump) into a temporary file of directory, its SHA-256 checked."""
        fd, self.path = tempfile.mkstemp(prefix=".odoo-restore-", suffix="." + self.format, dir=directory)
        body = self.store.call("download %s" % self.key, "get_object", Bucket=self.bucket, Key=self.key)["Body"]
        reader = HashingReader(body)
        with os.fdopen(fd, "wb") as handle:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                handle.write(chunk)
        self._check_sha256(self.key, reader, expected_sha256)
        return self.path

    @contextlib.contextmanager
    def filestore_tar(self, expected_sha256=None):
        """The custom format's filestore tar, read as a stream (nothing on disk); its SHA-256 is
        checked when the block ends, so a caller commits what it extracted only after that."""
        body = self.store.call("download %s" % self.filestore_key, "get_object", Bucket=self.bucket,
                               Key=self.filestore_key)["Body"]
        reader = HashingReader(body)
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            yield archive
        reader.drain()  # the end-of-archive padding tarfile leaves unread
        self._check_sha256(self.filestore_key, reader, expected_sha256)

    def stage_filestore(self, build, sidecar):
        """Fill a FilestoreBuild's staging from the backup's filestore: the downloaded zip's members,
        or the custom format's tar, streamed and checked against the sidecar's SHA-256."""
        if self.format == "zip":
            with zipfile.ZipFile(self.path) as archive:
                return stage_files(build, zip_filestore_files(archive))
        objects = (sidecar or {}).get("objects") or []
        with self.filestore_tar(objects[1]["sha256"] if len(objects) > 1 else None) as archive:
            return stage_files(build, tar_filestore_files(archive))

    def restore_into(self, pg, dbname, owner, jobs=1, psql_path=None, pg_restore_path=None):
        """The downloaded dump into the empty database dbname as owner, stopping at the first error:
        a zip's dump.sql with psql, a custom dump with pg_restore (jobs in parallel)."""
        if self.format == "zip":
            restore_dump(pg, self.path, dbname, owner, psql_path)
        else:
            restore_custom(pg, self.path, dbname, owner, jobs, pg_restore_path)

    def _check_sha256(self, key, reader, expected):
        if expected and reader.record["sha256"] != expected:
            raise ValueError("backup s3://%s/%s has SHA-256 %s, its manifest records %s: refusing to restore it"
                             % (self.bucket, key, reader.record["sha256"], expected))

    def discard(self):
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
        self.path = None


def restore_dump(pg, archive_path, dbname, owner, psql_path=None):
    """Run the zip's dump.sql into dbname as owner: one transaction, stop at the first error."""
    env = dict(os.environ, **pg.client_env(PGDATABASE=dbname, PGOPTIONS="-c role=%s" % owner))
    argv = [psql_path or "psql", "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1",
            "--file=-"]
    with zipfile.ZipFile(archive_path) as archive:
        if "dump.sql" not in archive.namelist():
            raise ValueError("%s has no dump.sql: not an Odoo backup zip" % archive_path)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # pylint: disable=consider-using-with
                                env=env)
        try:
            with archive.open("dump.sql") as dump:
                for chunk in iter(lambda: dump.read(CHUNK), b""):
                    proc.stdin.write(chunk)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error; its message follows
        errors = proc.stderr.read().decode("utf-8", "replace")
        if proc.wait() != 0:
            raise RuntimeError("dump.sql failed, nothing of it was kept (psql exit %d): %s"
                               % (proc.returncode, pg.safe(errors.strip()[-800:])))


def restore_custom(pg, dump_path, dbname, owner, jobs=1, pg_restore_path=None):
    """Restore a `pg_dump` custom file or directory into dbname as owner, stopping at the first error: in one
    transaction with one job; with several, in parallel (then the caller drops dbname on failure)."""
    env = dict(os.environ, **pg.client_env())
    argv = [pg_restore_path or "pg_restore", "--exit-on-error", "--no-owner", "--role=%s" % owner,
            "--dbname=%s" % dbname]
    argv += ["--jobs=%d" % jobs] if jobs > 1 else ["--single-transaction"]
    proc = subprocess.run(argv + [dump_path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError("pg_restore of the dump into %s failed (exit %d): %s"
                           % (dbname, proc.returncode, pg.safe(proc.stderr.decode("utf-8", "replace").strip()[-800:])))
