# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How tenant backups lie in a bucket: keys by tenant and UTC time, the two formats by suffix, the
sidecar manifest beside each backup, the hashing reader every download and upload passes through,
and the paginated listing of a tenant's backups. Writer, restore, retention and verification all
read the layout from here."""

import datetime
import hashlib
import json

CHUNK = 1024 * 1024
SIDECAR_SUFFIX = ".manifest.json"
FILESTORE_TAR_SUFFIX = ".filestore.tar"
BACKUP_SUFFIXES = {".zip": "zip", ".dump": "custom"}


def backup_key(prefix, tenant, now, backup_format="zip"):
    suffix = {v: k for k, v in BACKUP_SUFFIXES.items()}[backup_format]
    return "%s%s/%s_%s%s" % (prefix, tenant, tenant, now.strftime("%Y%m%dT%H%M%SZ"), suffix)


def format_of(key):
    """The backup format a key names by its suffix (zip or custom), or None for any other object."""
    return next((f for suffix, f in BACKUP_SUFFIXES.items() if key.endswith(suffix)), None)


def filestore_tar_key(dump_key):
    """The filestore object beside a custom-format backup's dump."""
    return dump_key[:-len(".dump")] + FILESTORE_TAR_SUFFIX


class HashingReader:
    """A read-only stream that records the SHA-256 and size of what passes through it."""

    def __init__(self, source):
        self.source, self.digest, self.size = source, hashlib.sha256(), 0

    def read(self, size=-1):
        data = self.source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    @property
    def record(self):
        return {"sha256": self.digest.hexdigest(), "size": self.size}

    def drain(self):
        """Read (and hash) what is left; returns the record."""
        for _chunk in iter(lambda: self.read(CHUNK), b""):
            pass
        return self.record


def list_objects(store, bucket, prefix, tenant):
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
    sidecars = sorted(key for key in list_objects(store, bucket, prefix, tenant) if key.endswith(SIDECAR_SUFFIX))
    return _read_json(store, bucket, sidecars[-1]) if sidecars else None


def list_backups(store, bucket, prefix, tenant, objects=None):
    """The tenant's backups: key, format, created (aware datetime), size, verified (its sidecar
    exists and records the object's actual size), its sidecar manifest, and every object that
    belongs to it. objects: the listing of list_objects, when the caller has it already."""
    objects = list_objects(store, bucket, prefix, tenant) if objects is None else objects
    found = []
    for key, obj in sorted(objects.items()):
        backup_format = format_of(key)
        if not backup_format:
            continue
        sidecar = _read_json(store, bucket, key + SIDECAR_SUFFIX) if key + SIDECAR_SUFFIX in objects else None
        created = datetime.datetime.fromisoformat(sidecar["created"]) if sidecar else obj["LastModified"]
        belongs = [key] + ([filestore_tar_key(key)] if backup_format == "custom" else [])
        found.append({"key": key, "format": backup_format, "created": created, "size": obj["Size"],
                      "verified": bool(sidecar) and sidecar.get("size") == obj["Size"],
                      "sidecar": key + SIDECAR_SUFFIX if sidecar else None, "manifest": sidecar,
                      "objects": [k for k in belongs if k in objects] + ([key + SIDECAR_SUFFIX] if sidecar else [])})
    return found
