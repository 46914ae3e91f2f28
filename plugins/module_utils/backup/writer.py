# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant's backup, streamed to object storage, in one of two formats.

`zip` is the layout Odoo's database manager writes and restores: `dump.sql` first (plain
`pg_dump --no-owner`), then `manifest.json`, then `filestore/...` (the tenant's filestore, without a
database folder level). `custom` is for large databases: `<stem>.dump` (`pg_dump -Fc`, restored with
parallel `pg_restore`) beside `<stem>.filestore.tar` (`manifest.json`, then `filestore/...`).

Nothing is written to local disk: pg_dump's output and the filestore's files go straight into
multipart uploads. The manifest is read in the same exported snapshot that pg_dump dumps, so both
describe one instant. A sidecar `<key>.manifest.json` records each object's SHA-256 and each
member's. Zip members are stored, not deflated, unless asked: deflate runs at ~75 MB/s a core on
a dump and ~40 MB/s on attachments (mostly PDFs and images, which do not compress), so it would
pace the whole backup; `custom` compresses in pg_dump's own process instead.
"""

import contextlib
import concurrent.futures
import datetime
import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.parse
import zipfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError, psycopg2
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.programs import program, program_env
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import MultipartWriter
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import LOCK_DAYS
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import (
    CHUNK,
    SIDECAR_SUFFIX,
    HashingReader,
    backup_key,
    filestore_tar_key,
    sign_sidecar,
)


def odoo_manifest(cur, dbname, server_version=None):
    """Odoo's manifest.json for the database the cursor reads (see Odoo's dump_db_manifest). Odoo
    writes its server's full version (`18.0-20250506`), which the database does not hold: given as
    server_version, else the base module's major version stands in."""
    server = cur.connection.server_version
    cur.execute("SELECT to_regclass('public.ir_module_module')")
    if cur.fetchone()[0] is None:
        raise Refused("database %s is not an Odoo database (it has no ir_module_module table): nothing to back up in Odoo's format" % dbname)
    try:
        cur.execute("SELECT name, latest_version FROM public.ir_module_module WHERE state = 'installed' ORDER BY name")
    except psycopg2.Error as exc:
        raise PostgresError("reading the installed modules of %s: %s" % (dbname, str(exc).strip())) from None
    modules = dict(cur.fetchall())
    base = modules.get("base") or ""
    major = ".".join(base.split(".")[:2]) if base else None
    version_info = [int(p) for p in major.split(".")] + [0, "final", 0, ""] if major else None
    return {
        "odoo_dump": "1",
        "db_name": dbname,
        "version": server_version or major,
        "version_info": version_info,
        "major_version": major,
        "pg_version": "%d.%d" % divmod(server // 100, 100),
        "modules": modules,
    }


def write_member(archive, member, source):
    """Copy the stream source into a new zip member (a name, or a ZipInfo that says its
    compression); return its {sha256, size}. A name takes the archive's compression."""
    reader = HashingReader(source)
    with archive.open(member, "w", force_zip64=True) as target:
        for chunk in iter(lambda: reader.read(CHUNK), b""):
            target.write(chunk)
    return reader.record


def filestore_files(root):
    """(member name under filestore/, path) of every file of a tenant's filestore, in a stable order."""
    if not root or not os.path.isdir(root):
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            yield "filestore/" + os.path.relpath(path, root), path


class StreamStopped(OperationFailed):
    """A stream of a backup stopped because another failed: an echo, never the error reported."""


class TenantBackup:
    """One backup run. `pg` is the client the database is read with - a session role with the tenant
    owner's rights (never the admin role: pg_dump and the manifest read run what the database holds)."""

    def __init__(self, pg, store, params, signing_key):
        self.pg, self.store, self.p = pg, store, params
        self.signing_key = signing_key
        self.name = params["name"]
        self._failed = threading.Event()  # set by the first stream that fails, to stop the others
        self.format = params.get("format") or "zip"
        level = params.get("compress_level")
        self.compress_level = (1 if self.format == "custom" else 0) if level is None else level
        root = params.get("filestore_root")
        self.filestore = os.path.join(root, self.name) if root else None

    @staticmethod
    def estimate(pg, params, now=None):
        """What a backup would write, for check mode: the key, the format, and the size estimated from
        the database's and the filestore's (a zip stores both as they are; pg_dump is smaller)."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        backup_format = params.get("format") or "zip"
        root = params.get("filestore_root")
        files = [os.path.getsize(path) for _name, path in filestore_files(os.path.join(root, params["name"]) if root else None)]
        database = pg.query("SELECT pg_database_size(%s)", (params["name"],))[0][0]
        key = backup_key(params["key_prefix"], params["name"], now, backup_format)
        objects = [key] + ([filestore_tar_key(key)] if backup_format == "custom" else []) + [key + SIDECAR_SUFFIX]
        return {
            "key": key,
            "manifest_key": key + SIDECAR_SUFFIX,
            "bucket": params["bucket"],
            "tenant": params["name"],
            "format": backup_format,
            "objects": objects,
            "estimated_size": database + sum(files),
            "filestore_files": len(files),
            "database_bytes": database,
        }

    def _pg_dump(self, snapshot):
        argv = [program(self.p.get("pg_bin_dir"), "pg_dump"), "--no-owner", "--snapshot=%s" % snapshot, "--dbname=%s" % self.name]
        if self.format == "custom":
            argv += ["--format=custom", "--compress=%d" % self.compress_level]
        else:
            argv += ["--format=plain"]
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # pylint: disable=consider-using-with
            env=program_env(self.pg.client_env()),
        )

    def extra_args(self, created, odoo_version, content_type):
        tags = {
            "tenant": self.name,
            "tier": str(self.p["tier"]),
            "kind": "odoo-%s" % self.format,
            "created": created,
            "odoo-version": odoo_version or "unknown",
        }
        extra = {"ContentType": content_type, "Metadata": dict(tags), "Tagging": urllib.parse.urlencode(tags)}
        if self.p.get("server_side_encryption"):
            extra["ServerSideEncryption"] = self.p["server_side_encryption"]
            if self.p.get("sse_kms_key_id"):
                extra["SSEKMSKeyId"] = self.p["sse_kms_key_id"]
        if self.p.get("object_lock_mode"):
            extra["ObjectLockMode"] = self.p["object_lock_mode"]
            extra["ObjectLockRetainUntilDate"] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                days=self.p.get("object_lock_days") or LOCK_DAYS
            )
        return extra

    def _stream(self, key, extra, produce):
        """Upload what produce(writer) writes as the parts of key; returns the writer, every part
        uploaded but the object not completed. On failure the upload is aborted and the other
        streams of the backup are told to stop."""
        writer = None
        try:
            writer = MultipartWriter(self.store, self.p["bucket"], key, self.p["part_size_mb"] * 1024 * 1024, extra, self.p.get("upload_concurrency") or 4)
            produce(writer)
            writer.finish()
        except BaseException:
            self._failed.set()
            if writer:
                writer.abort()
            raise
        return writer

    def _upload_all(self, streams):
        """Run the streams [(key, extra, produce)] at once; complete every object only when all
        succeeded (so a failed backup leaves no object, even under object lock). Returns each
        object's {key, size, sha256}."""
        with concurrent.futures.ThreadPoolExecutor(len(streams), thread_name_prefix="backup") as pool:
            futures = [pool.submit(self._stream, *stream) for stream in streams]
            concurrent.futures.wait(futures)
        failures = [f.exception() for f in futures if f.exception()]
        if failures:
            for future in futures:
                if not future.exception():
                    future.result().abort()
            # The cause, not a stream that stopped because of it (which may come first in the list).
            raise next((failure for failure in failures if not isinstance(failure, StreamStopped)), failures[0])
        objects = []
        for future in futures:
            writer = future.result()
            objects.append({"key": writer.key, "size": writer.size, "sha256": writer.hash.hexdigest(), "version_id": writer.complete()})
        return objects

    def run(self):
        """Stream the backup; returns the result (key, size, sha256, duration, throughput, ...)."""
        started = time.monotonic()
        now = datetime.datetime.now(datetime.timezone.utc)
        created = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        key = backup_key(self.p["key_prefix"], self.name, now, self.format)
        members = {}
        with self.pg.exported_snapshot(self.name) as (cur, snapshot):
            manifest = odoo_manifest(cur, self.name, self.p.get("odoo_version"))
            body = json.dumps(manifest, indent=4).encode()
            members["manifest.json"] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
            if self.format == "zip":
                extra = self.extra_args(created, manifest["version"], "application/zip")
                streams = [(key, extra, lambda w: self._write_zip(w, snapshot, body, members))]
            else:
                # The filestore tar goes up while pg_dump runs: its files are immutable once written
                # (named by their SHA-1), so it needs no snapshot, and the two streams overlap.
                extra = self.extra_args(created, manifest["version"], "application/octet-stream")
                streams = [
                    (key, extra, lambda w: self._write_dump(lambda: contextlib.nullcontext(w), snapshot, members)),
                    (filestore_tar_key(key), self.extra_args(created, manifest["version"], "application/x-tar"), lambda w: self._write_tar(w, body, members)),
                ]
            objects = self._upload_all(streams)
        sidecar = {
            "tenant": self.name,
            "bucket": self.p["bucket"],
            "key": key,
            "created": created,
            "tier": self.p["tier"],
            "format": self.format,
            "size": objects[0]["size"],
            "sha256": objects[0]["sha256"],
            "objects": objects,
            "odoo_version": manifest["version"],
            "pg_version": manifest["pg_version"],
            "members": members,
            "object_lock": {
                "mode": extra.get("ObjectLockMode"),
                "retain_until": extra["ObjectLockRetainUntilDate"].isoformat() if "ObjectLockRetainUntilDate" in extra else None,
            },
        }
        sidecar = sign_sidecar(sidecar, self.signing_key)
        side_extra = {k: v for k, v in extra.items() if k != "ContentType"}
        self.store.call(
            "write %s%s" % (key, SIDECAR_SUFFIX),
            "put_object",
            Bucket=self.p["bucket"],
            Key=key + SIDECAR_SUFFIX,
            Body=json.dumps(sidecar, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            **side_extra,
        )
        duration = time.monotonic() - started
        size = sum(o["size"] for o in objects)
        return dict(
            key=key,
            manifest_key=key + SIDECAR_SUFFIX,
            bucket=self.p["bucket"],
            tenant=self.name,
            format=self.format,
            objects=objects,
            created=created,
            size=size,
            sha256=sidecar["sha256"],
            members=len(members),
            odoo_version=manifest["version"],
            duration=round(duration, 3),
            throughput=int(size / duration) if duration else None,
        )

    def _check_failed(self):
        if self._failed.is_set():
            raise StreamStopped("stopped: another stream of this backup failed")

    def _write_zip(self, writer, snapshot, manifest_body, members):
        level = self.compress_level
        compression = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
        with zipfile.ZipFile(writer, "w", compression=compression, compresslevel=level or None, allowZip64=True) as archive:
            self._write_dump(lambda: archive.open("dump.sql", "w", force_zip64=True), snapshot, members)
            archive.writestr("manifest.json", manifest_body)
            for arcname, path in filestore_files(self.filestore):
                # A bare ZipInfo is stored; a name takes the archive's deflate.
                member = arcname if self.p.get("compress_filestore") else zipfile.ZipInfo.from_file(path, arcname)
                with open(path, "rb") as source:
                    members[arcname] = write_member(archive, member, source)

    def _write_dump(self, open_target, snapshot, members):
        """pg_dump into what open_target() opens (a writable stream's context); a failed dump raises."""
        dump = self._pg_dump(snapshot)
        try:
            reader = HashingReader(dump.stdout)
            with open_target() as out:
                for chunk in iter(lambda: reader.read(CHUNK), b""):
                    self._check_failed()
                    out.write(chunk)
            errors = dump.stderr.read()
            if dump.wait() != 0:
                raise PostgresError("pg_dump of %s failed (exit %d): %s" % (self.name, dump.returncode, self.pg.safe(errors.decode("utf-8", "replace")[-800:])))
        finally:
            if dump.poll() is None:
                dump.kill()
                dump.wait()
        members["dump.sql" if self.format == "zip" else "dump"] = reader.record

    def _write_tar(self, writer, manifest_body, members):
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime, info.mode = len(manifest_body), int(time.time()), 0o644
            archive.addfile(info, io.BytesIO(manifest_body))
            for arcname, path in filestore_files(self.filestore):
                info = archive.gettarinfo(path, arcname)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                self._check_failed()
                with open(path, "rb") as source:
                    reader = HashingReader(source)
                    archive.addfile(info, reader)
                members[arcname] = reader.record
