# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant's backup in Odoo's own zip layout, streamed to object storage.

Layout as Odoo's database manager writes it: `dump.sql` first (plain `pg_dump --no-owner`), then
`manifest.json`, then `filestore/...` (the tenant's filestore, without a database folder level).
Nothing is written to local disk: pg_dump's output and the filestore's files go through the zip
writer straight into a multipart upload. The manifest is read in the same exported snapshot that
pg_dump dumps, so both describe one instant. A sidecar `<key>.manifest.json` records the
object's SHA-256 and each member's.
"""

import datetime
import hashlib
import json
import os
import subprocess
import time
import urllib.parse
import zipfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres import PostgresError
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.s3 import MultipartWriter

CHUNK = 1024 * 1024
SIDECAR_SUFFIX = ".manifest.json"


def odoo_manifest(cur, dbname):
    """Odoo's manifest.json for the database the cursor reads (see Odoo's dump_db_manifest)."""
    server = cur.connection.server_version
    cur.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' ORDER BY name")
    modules = dict(cur.fetchall())
    base = modules.get("base") or ""
    major = ".".join(base.split(".")[:2]) if base else None
    version_info = [int(p) for p in major.split(".")] + [0, "final", 0, ""] if major else None
    return {"odoo_dump": "1", "db_name": dbname, "version": major, "version_info": version_info,
            "major_version": major, "pg_version": "%d.%d" % divmod(server // 100, 100), "modules": modules}


def backup_key(prefix, tenant, now):
    return "%s%s/%s_%s.zip" % (prefix, tenant, tenant, now.strftime("%Y%m%dT%H%M%SZ"))


def write_member(archive, arcname, source):
    """Copy the stream source into a new zip member; return its {sha256, size}.

    Opened by name, the member takes the archive's compression (a bare ZipInfo would be stored)."""
    digest, size = hashlib.sha256(), 0
    with archive.open(arcname, "w", force_zip64=True) as member:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            member.write(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


class TenantBackup:
    def __init__(self, pg, store, params):
        self.pg, self.store, self.p = pg, store, params
        self.name = params["name"]

    def _pg_dump(self, snapshot):
        argv = [self.p.get("pg_dump_path") or "pg_dump", "--no-owner", "--format=plain",
                "--snapshot=%s" % snapshot, "--dbname=%s" % self.name]
        env = dict(os.environ, **self.pg.client_env())
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # pylint: disable=consider-using-with

    def extra_args(self, created, odoo_version):
        tags = {"tenant": self.name, "tier": str(self.p["tier"]), "kind": "odoo-zip",
                "created": created, "odoo-version": odoo_version or "unknown"}
        extra = {"ContentType": "application/zip", "Metadata": dict(tags),
                 "Tagging": urllib.parse.urlencode(tags)}
        if self.p.get("server_side_encryption"):
            extra["ServerSideEncryption"] = self.p["server_side_encryption"]
            if self.p.get("sse_kms_key_id"):
                extra["SSEKMSKeyId"] = self.p["sse_kms_key_id"]
        if self.p.get("object_lock_mode"):
            extra["ObjectLockMode"] = self.p["object_lock_mode"]
            extra["ObjectLockRetainUntilDate"] = (datetime.datetime.now(datetime.timezone.utc)
                                                  + datetime.timedelta(days=self.p["object_lock_days"]))
        return extra

    def run(self):
        """Stream the backup; returns the result (key, size, sha256, duration, throughput, ...)."""
        started = time.monotonic()
        now = datetime.datetime.now(datetime.timezone.utc)
        created = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        key = backup_key(self.p["key_prefix"], self.name, now)
        members = {}
        writer = None
        with self.pg.exported_snapshot(self.name) as (cur, snapshot):
            manifest = odoo_manifest(cur, self.name)
            extra = self.extra_args(created, manifest["version"])
            writer = MultipartWriter(self.store, self.p["bucket"], key, self.p["part_size_mb"] * 1024 * 1024, extra)
            try:
                with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_DEFLATED,
                                     compresslevel=self.p["compress_level"], allowZip64=True) as archive:
                    members["dump.sql"] = self._write_dump(archive, snapshot)
                    body = json.dumps(manifest, indent=4).encode()
                    archive.writestr("manifest.json", body)
                    members["manifest.json"] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                    members.update(self._write_filestore(archive))
                writer.close()
            except BaseException:
                writer.abort()
                raise
        sidecar = {"tenant": self.name, "bucket": self.p["bucket"], "key": key, "created": created,
                   "tier": self.p["tier"], "format": "odoo-zip", "size": writer.size,
                   "sha256": writer.hash.hexdigest(), "odoo_version": manifest["version"],
                   "pg_version": manifest["pg_version"], "members": members,
                   "object_lock": {"mode": extra.get("ObjectLockMode"),
                                   "retain_until": extra["ObjectLockRetainUntilDate"].isoformat()
                                   if "ObjectLockRetainUntilDate" in extra else None}}
        side_extra = {k: v for k, v in extra.items() if k != "ContentType"}
        self.store.call("write %s%s" % (key, SIDECAR_SUFFIX), "put_object", Bucket=self.p["bucket"],
                        Key=key + SIDECAR_SUFFIX, Body=json.dumps(sidecar, indent=2, sort_keys=True).encode(),
                        ContentType="application/json", **side_extra)
        duration = time.monotonic() - started
        return dict(key=key, manifest_key=key + SIDECAR_SUFFIX, bucket=self.p["bucket"], tenant=self.name,
                    created=created, size=writer.size, sha256=sidecar["sha256"], members=len(members),
                    odoo_version=manifest["version"], duration=round(duration, 3),
                    throughput=int(writer.size / duration) if duration else None)

    def _write_dump(self, archive, snapshot):
        dump = self._pg_dump(snapshot)
        try:
            record = write_member(archive, "dump.sql", dump.stdout)
            errors = dump.stderr.read()
            if dump.wait() != 0:
                raise PostgresError("pg_dump of %s failed (exit %d): %s"
                                    % (self.name, dump.returncode, self.pg.safe(errors.decode("utf-8", "replace")[-800:])))
        finally:
            if dump.poll() is None:
                dump.kill()
                dump.wait()
        return record

    def _write_filestore(self, archive):
        root = os.path.join(self.p["filestore_root"], self.name) if self.p.get("filestore_root") else None
        found = {}
        if not root or not os.path.isdir(root):
            return found
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                arcname = "filestore/" + os.path.relpath(path, root)
                with open(path, "rb") as source:
                    found[arcname] = write_member(archive, arcname, source)
        return found


def _list_objects(store, bucket, prefix, tenant):
    """{key: object} of every object under the tenant's prefix, all pages."""
    objects, token = {}, None
    for _page in range(10000):  # bounded: 10 million objects at 1000 a page
        kwargs = {"Bucket": bucket, "Prefix": "%s%s/" % (prefix, tenant)}
        if token:
            kwargs["ContinuationToken"] = token
        answer = store.call("list backups of %s" % tenant, "list_objects_v2", **kwargs)
        objects.update((o["Key"], o) for o in answer.get("Contents", []))
        token = answer.get("NextContinuationToken")
        if not token:
            break
    return objects


def _read_json(store, bucket, key):
    return json.loads(store.call("read %s" % key, "get_object", Bucket=bucket, Key=key)["Body"].read())


def newest_backup(store, bucket, prefix, tenant):
    """The newest sidecar manifest under the tenant's prefix (dict), or None. Keys carry the UTC
    time, so the newest sorts last."""
    sidecars = sorted(key for key in _list_objects(store, bucket, prefix, tenant) if key.endswith(SIDECAR_SUFFIX))
    return _read_json(store, bucket, sidecars[-1]) if sidecars else None


def list_backups(store, bucket, prefix, tenant):
    """The tenant's backups: key, created (aware datetime), size, and verified (its sidecar
    exists and records the object's actual size)."""
    objects = _list_objects(store, bucket, prefix, tenant)
    found = []
    for key, obj in sorted(objects.items()):
        if not key.endswith(".zip"):
            continue
        sidecar = _read_json(store, bucket, key + SIDECAR_SUFFIX) if key + SIDECAR_SUFFIX in objects else None
        created = datetime.datetime.fromisoformat(sidecar["created"]) if sidecar else obj["LastModified"]
        found.append({"key": key, "created": created, "size": obj["Size"],
                      "verified": bool(sidecar) and sidecar.get("size") == obj["Size"],
                      "sidecar": key + SIDECAR_SUFFIX if sidecar else None})
    return found
