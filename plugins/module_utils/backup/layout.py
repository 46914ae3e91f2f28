# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How tenant backups lie in a bucket: keys by tenant and UTC time, the two formats by suffix, the
signed sidecar manifest beside each backup, the hashing reader every download and upload passes
through, and the paginated listing of a tenant's backups. Writer, restore, retention and
verification all read the layout from here.

Anyone holding the bucket's keys can replace an object or its sidecar, so a sidecar is trusted only
when its HMAC-SHA256 (keyed by `backup_signing_key`, a platform secret that never goes into the
bucket) verifies, when it names the tenant and key it sits beside, and when the objects read are
the versions it records (S3 versioning, always on with object lock): a newer version written by
someone else is never what a restore reads.
"""

import datetime
import hashlib
import hmac
import json

from ansible.module_utils.basic import env_fallback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import S3Error

CHUNK = 1024 * 1024
SIDECAR_SUFFIX = ".manifest.json"
FILESTORE_TAR_SUFFIX = ".filestore.tar"
BACKUP_SUFFIXES = {".zip": "zip", ".dump": "custom"}
SIGNATURE_ALGORITHM = "HMAC-SHA256"
MAX_SIDECAR_BYTES = 64 * 1024 * 1024  # a sidecar lists every filestore file: ~150 bytes each


class SidecarRefused(Refused):
    """A sidecar that cannot be trusted: unsigned, altered, or describing another backup."""


def signing_argument_spec():
    """The backup signing options (see the sysgenpro.odoo_ops.backup_signing doc fragment)."""
    return dict(
        backup_signing_key=dict(type="str", no_log=True, fallback=(env_fallback, ["ODOO_OPS_BACKUP_SIGNING_KEY"])),
        backup_previous_signing_keys=dict(type="list", elements="str", no_log=True, default=[]),
    )


def signing_keys(params):
    """[current key, earlier keys ...] as bytes: the first signs, any of them verifies."""
    keys = [params.get("backup_signing_key")] + list(params.get("backup_previous_signing_keys") or [])
    found = [k.encode("utf-8") for k in keys if k]
    for key in found:
        if len(key) < 16:
            raise Refused("a backup signing key must be at least 16 characters (use 32 random ones)")
    return found


def _key_id(key):
    return hashlib.sha256(b"odoo_ops key id|" + key).hexdigest()[:16]


def _signed_bytes(sidecar):
    body = {k: v for k, v in sidecar.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign_sidecar(sidecar, key):
    """The sidecar with its signature (over every other field, canonical JSON)."""
    digest = hmac.new(key, _signed_bytes(sidecar), hashlib.sha256).hexdigest()
    return dict(sidecar, signature={"algorithm": SIGNATURE_ALGORITHM, "key_id": _key_id(key), "value": digest})


def authenticate_sidecar(sidecar, keys, bucket, key, tenant=None):
    """Return the sidecar when its signature verifies with one of keys and it describes s3://bucket/key
    (of tenant); raise SidecarRefused naming what is wrong otherwise."""
    where = "s3://%s/%s" % (bucket, key)
    if not isinstance(sidecar, dict):
        raise SidecarRefused("the sidecar of %s is not a JSON object" % where)
    signature = sidecar.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise SidecarRefused("the sidecar of %s is not signed: it cannot be told from one anyone with the bucket's keys wrote" % where)
    if not keys:
        raise SidecarRefused("no backup_signing_key is set, so the sidecar of %s cannot be authenticated" % where)
    expected = [hmac.new(k, _signed_bytes(sidecar), hashlib.sha256).hexdigest() for k in keys]
    if not any(hmac.compare_digest(str(signature.get("value")), e) for e in expected):
        raise SidecarRefused(
            "the signature of the sidecar of %s does not verify: the sidecar was altered, or signed "
            "with a key that is not among backup_signing_key and backup_previous_signing_keys" % where
        )
    if sidecar.get("key") != key or sidecar.get("bucket") != bucket:
        raise SidecarRefused(
            "the sidecar beside %s describes s3://%s/%s: it was copied from another backup" % (where, sidecar.get("bucket"), sidecar.get("key"))
        )
    if tenant is not None and sidecar.get("tenant") != tenant:
        raise SidecarRefused("%s is a backup of %r, not of tenant %s" % (where, sidecar.get("tenant"), tenant))
    return sidecar


def recorded_objects(sidecar):
    """[{key, size, sha256, version_id}] of the objects a sidecar records (a zip: one; custom: two)."""
    found = sidecar.get("objects") or [{"key": sidecar.get("key"), "size": sidecar.get("size"), "sha256": sidecar.get("sha256")}]
    return [dict({"version_id": None}, **entry) for entry in found]


def backup_key(prefix, tenant, now, backup_format="zip"):
    suffix = {v: k for k, v in BACKUP_SUFFIXES.items()}[backup_format]
    return "%s%s/%s_%s%s" % (prefix, tenant, tenant, now.strftime("%Y%m%dT%H%M%SZ"), suffix)


def format_of(key):
    """The backup format a key names by its suffix (zip or custom), or None for any other object."""
    return next((f for suffix, f in BACKUP_SUFFIXES.items() if key.endswith(suffix)), None)


def filestore_tar_key(dump_key):
    """The filestore object beside a custom-format backup's dump."""
    return dump_key[: -len(".dump")] + FILESTORE_TAR_SUFFIX


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


def read_sidecar(store, bucket, key):
    """The sidecar object beside backup key, parsed (not yet authenticated); None when there is none.
    Raises SidecarRefused for one too large or not JSON."""
    try:
        answer = store.call("read %s%s" % (key, SIDECAR_SUFFIX), "get_object", Bucket=bucket, Key=key + SIDECAR_SUFFIX)
    except S3Error as exc:
        if exc.not_found:
            return None
        raise
    if answer.get("ContentLength", 0) > MAX_SIDECAR_BYTES:
        raise SidecarRefused(
            "the sidecar of s3://%s/%s is %d bytes, more than a sidecar can be (%d)" % (bucket, key, answer["ContentLength"], MAX_SIDECAR_BYTES)
        )
    body = answer["Body"].read(MAX_SIDECAR_BYTES + 1)
    try:
        return json.loads(body)
    except ValueError:
        raise SidecarRefused("the sidecar of s3://%s/%s is not valid JSON" % (bucket, key)) from None


def trusted_sidecar(store, bucket, key, keys, tenant=None):
    """(sidecar, None) when the sidecar beside key authenticates, else (None, the reason)."""
    try:
        sidecar = read_sidecar(store, bucket, key)
        if sidecar is None:
            return None, "s3://%s/%s has no sidecar manifest" % (bucket, key)
        return authenticate_sidecar(sidecar, keys, bucket, key, tenant), None
    except SidecarRefused as exc:
        return None, str(exc)


def newest_backup(store, bucket, prefix, tenant, keys):
    """The newest authenticated sidecar under the tenant's prefix (dict), or None. Keys carry the UTC
    time, so the newest sorts last; a sidecar that does not authenticate is passed over (a planted
    'newer backup' must not make a scheduled backup skip its turn)."""
    objects = list_objects(store, bucket, prefix, tenant)
    for key in sorted((k[: -len(SIDECAR_SUFFIX)] for k in objects if k.endswith(SIDECAR_SUFFIX)), reverse=True):
        sidecar, _reason = trusted_sidecar(store, bucket, key, keys, tenant)
        if sidecar:
            return sidecar
    return None


def list_backups(store, bucket, prefix, tenant, keys, objects=None):
    """The tenant's backups: key, format, created (aware datetime: the sidecar's when it authenticates,
    else the store's LastModified), size, verified (the sidecar authenticates and records the
    object's actual size), problem (why not, when not), its sidecar manifest (only an authenticated
    one), and every object that belongs to it. objects: the listing of list_objects, when the
    caller has it already."""
    objects = list_objects(store, bucket, prefix, tenant) if objects is None else objects
    found = []
    for key, obj in sorted(objects.items()):
        backup_format = format_of(key)
        if not backup_format:
            continue
        has_sidecar = key + SIDECAR_SUFFIX in objects
        sidecar, problem = trusted_sidecar(store, bucket, key, keys, tenant) if has_sidecar else (None, "s3://%s/%s has no sidecar manifest" % (bucket, key))
        if sidecar and sidecar.get("size") != obj["Size"]:
            problem = "s3://%s/%s is %d bytes, its sidecar records %s" % (bucket, key, obj["Size"], sidecar.get("size"))
        created = datetime.datetime.fromisoformat(sidecar["created"]) if sidecar else obj["LastModified"]
        belongs = [key] + ([filestore_tar_key(key)] if backup_format == "custom" else [])
        found.append(
            {
                "key": key,
                "format": backup_format,
                "created": created,
                "size": obj["Size"],
                "verified": bool(sidecar) and not problem,
                "problem": problem,
                "sidecar": key + SIDECAR_SUFFIX if has_sidecar else None,
                "manifest": sidecar,
                "objects": [k for k in belongs if k in objects] + ([key + SIDECAR_SUFFIX] if has_sidecar else []),
            }
        )
    return found
