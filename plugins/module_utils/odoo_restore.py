# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring an Odoo backup zip (ours or one Odoo's database manager made) into a new database.

Unlike Odoo's own restore (psql without ON_ERROR_STOP, which can look successful after a failed
statement), the dump runs in one transaction that stops at the first error.
"""

import hashlib
import json
import os
import subprocess
import tempfile
import zipfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo_backup import SIDECAR_SUFFIX

CHUNK = 1024 * 1024


class BackupSource:
    """A backup object in a bucket: checked at plan time, downloaded and verified at apply time."""

    def __init__(self, store, spec):
        self.store, self.bucket, self.key = store, spec.get("bucket"), spec.get("key")
        if not self.bucket or not self.key:
            raise ValueError("from_backup needs bucket and key")
        self.path = None

    def check(self):
        """Raise ValueError naming the object when it is missing; return the sidecar (or None)."""
        self.store.check_bucket(self.bucket)
        try:
            self.store.call("backup %s" % self.key, "head_object", Bucket=self.bucket, Key=self.key)
        except Exception as exc:  # pylint: disable=broad-except  # S3Error: reported as bad input
            raise ValueError("backup s3://%s/%s does not exist or cannot be read: %s" % (self.bucket, self.key, exc))
        try:
            body = self.store.call("sidecar", "get_object", Bucket=self.bucket, Key=self.key + SIDECAR_SUFFIX)
            return json.loads(body["Body"].read())
        except Exception:  # pylint: disable=broad-except  # a zip Odoo made has no sidecar
            return None

    def download(self, directory, expected_sha256=None):
        fd, self.path = tempfile.mkstemp(prefix=".odoo-restore-", suffix=".zip", dir=directory)
        digest = hashlib.sha256()
        body = self.store.call("download %s" % self.key, "get_object", Bucket=self.bucket, Key=self.key)["Body"]
        with os.fdopen(fd, "wb") as handle:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                digest.update(chunk)
                handle.write(chunk)
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ValueError("backup s3://%s/%s has SHA-256 %s, its manifest records %s: refusing to restore it"
                             % (self.bucket, self.key, digest.hexdigest(), expected_sha256))
        return self.path

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
