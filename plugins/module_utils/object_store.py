# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one object-storage client of the collection (S3-compatible): settings, errors, multipart writes."""

import base64
import collections
import concurrent.futures
import datetime
import hashlib
import importlib.util
import zlib

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.warnings import warn

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused

# botocore is boto3's engine; using it directly saves boto3's and s3transfer's import. It is imported
# when the first ObjectStore is made, not with this file: its import (~0.1-0.2 s) would otherwise be
# paid by every run of a module that only may talk to S3 (odoo_tenant creating from a template never does).
botocore = None
try:
    HAS_BOTO3 = importlib.util.find_spec("botocore") is not None
except ValueError:  # botocore in sys.modules without a spec: imported already
    HAS_BOTO3 = True
BOTO3_IMPORT_ERROR = None if HAS_BOTO3 else "ImportError: No module named 'botocore' (in %s)" % __name__


def _load_botocore():
    global botocore  # pylint: disable=global-statement  # bound once, on first use
    if botocore is None:
        import botocore.config  # pylint: disable=import-outside-toplevel,redefined-outer-name
        import botocore.exceptions  # pylint: disable=import-outside-toplevel
        import botocore.session  # pylint: disable=import-outside-toplevel


def s3_argument_spec():
    """The object-storage options (see the sysgenpro.odoo_ops.s3 doc fragment)."""
    return dict(
        s3_endpoint_url=dict(type="str", fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
        s3_region=dict(type="str", fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
        s3_access_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"])),
        s3_secret_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
        s3_ca_bundle=dict(type="path", fallback=(env_fallback, ["AWS_CA_BUNDLE"])),
        s3_validate_certs=dict(type="bool", default=True),
        s3_retries=dict(type="int", default=5),
    )


class S3Error(OdooOpsError):
    """An object-storage failure, with a message naming the endpoint and never a key; `code` is the
    store's error code (NoSuchKey, AccessDenied, ...) when it answered."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code

    @property
    def not_found(self):
        return self.code in ("NoSuchKey", "404", "NotFound", "NoSuchVersion")


class ObjectStore:
    def __init__(self, params):
        self.endpoint = params.get("s3_endpoint_url") or "AWS S3"
        verify = False
        if params.get("s3_validate_certs", True):
            verify = params.get("s3_ca_bundle") or True
        else:
            # Said in every result: whoever sits between this host and the store can then read the
            # backups and the keys' signatures, and answer in the store's place.
            warn(
                "s3_validate_certs is false: the certificate of %s is not checked, so anyone on the network path can read "
                "backups in transit or answer in the object store's place; give s3_ca_bundle instead" % self.endpoint
            )
        endpoint = params.get("s3_endpoint_url") or "https://"
        s3_options = {"addressing_style": "path"}
        if endpoint.startswith("https://"):
            # TLS authenticates every byte in transit, and each part carries its CRC-32 in a
            # header (MultipartWriter): a SHA-256 of the payload for the signature would be a
            # third pass over the data. Over plain HTTP the payload stays signed.
            s3_options["payload_signing_enabled"] = False
        _load_botocore()
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": params.get("s3_retries") or 5}, s3=s3_options, connect_timeout=10, read_timeout=60
        )
        self.client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=params.get("s3_endpoint_url"),
            region_name=params.get("s3_region") or "us-east-1",
            aws_access_key_id=params.get("s3_access_key"),
            aws_secret_access_key=params.get("s3_secret_key"),
            verify=verify,
            config=config,
        )

    def call(self, what, method, **kwargs):
        """Run one S3 call; failures become S3Error('<what> at <endpoint>: <reason>')."""
        try:
            return getattr(self.client, method)(**kwargs)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            raise S3Error("%s at %s: %s %s" % (what, self.endpoint, error.get("Code"), error.get("Message") or ""), error.get("Code")) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise S3Error("%s at %s: %s" % (what, self.endpoint, exc)) from None

    def check_bucket(self, bucket):
        """Raise ValueError naming the bucket when it does not exist or cannot be reached."""
        try:
            self.call("bucket %s" % bucket, "head_bucket", Bucket=bucket)
        except S3Error as exc:
            raise Refused("bucket %s is missing or unreachable: %s" % (bucket, exc)) from None

    def protection(self, bucket, key, version_id=None):
        """An object's (or one version's) protection: retain_until (object lock retention still in
        force, else None), legal_hold, encryption (its server-side encryption, or None)."""
        head = self.call("read %s" % key, "head_object", Bucket=bucket, Key=key, **version_args(version_id))
        until = head.get("ObjectLockRetainUntilDate")
        if until and until <= datetime.datetime.now(datetime.timezone.utc):
            until = None  # retention in the past does not protect
        return {"retain_until": until, "legal_hold": head.get("ObjectLockLegalHoldStatus") == "ON", "encryption": head.get("ServerSideEncryption")}

    def versions(self, bucket, key):
        """[{version_id, latest, size, delete_marker}] of one key, newest first (empty without versioning
        support; a single entry with version_id None where the bucket never had versioning)."""
        found, marker = [], {}
        for _page in range(1000):  # bounded: 1000 pages of versions of one key
            answer = self.call("list versions of %s" % key, "list_object_versions", Bucket=bucket, Prefix=key, **marker)
            found += [
                {
                    "version_id": v.get("VersionId") if v.get("VersionId") != "null" else None,
                    "latest": v.get("IsLatest", False),
                    "size": v.get("Size"),
                    "delete_marker": False,
                    "modified": v.get("LastModified"),
                }
                for v in answer.get("Versions", [])
                if v["Key"] == key
            ]
            found += [
                {"version_id": v.get("VersionId"), "latest": v.get("IsLatest", False), "size": None, "delete_marker": True, "modified": v.get("LastModified")}
                for v in answer.get("DeleteMarkers", [])
                if v["Key"] == key
            ]
            if not answer.get("IsTruncated"):
                break
            marker = {"KeyMarker": answer.get("NextKeyMarker"), "VersionIdMarker": answer.get("NextVersionIdMarker")}
        return sorted(found, key=lambda v: (not v["latest"], -(v["modified"].timestamp() if v["modified"] else 0)))

    def object_lock(self, bucket):
        """The bucket's object-lock configuration, or None when it has none."""
        try:
            answer = self.client.get_object_lock_configuration(Bucket=bucket)
        except botocore.exceptions.ClientError:
            return None
        return answer.get("ObjectLockConfiguration")


def version_args(version_id):
    """The VersionId argument of an S3 read pinned to a version (nothing when there is none)."""
    return {"VersionId": version_id} if version_id else {}


class MultipartWriter:
    """A write-only stream into one S3 object, uploaded in parts as it fills; nothing on disk.

    Parts go up on `concurrency` background threads while the caller keeps producing, so a backup
    is not paced by one request at a time; memory stays bounded at about (concurrency + 1) parts.
    Call close() (or finish() then complete()) to make the object, abort() on failure: an aborted
    upload leaves nothing under the key. `hash` (SHA-256) and `size` cover every byte written.
    """

    def __init__(self, store, bucket, key, part_size, extra, concurrency=4):
        self.store, self.bucket, self.key, self.part_size = store, bucket, key, part_size
        self.upload_id = store.call("start upload of %s" % key, "create_multipart_upload", Bucket=bucket, Key=key, **extra)["UploadId"]
        # Parts are filled in place in reused buffers: each byte is copied once, and a fresh
        # part-sized allocation per part (page faults, zeroing) would cost more than the copy.
        self.spare, self.buffer, self.filled = [], bytearray(part_size), 0
        self.pending, self.parts = collections.deque(), []
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-part")
        # One thread hashes the parts in order, off the producer's thread (hashlib releases the GIL).
        self.hasher = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-hash")
        self.concurrency = concurrency
        self.hash, self.size = hashlib.sha256(), 0
        self.version_id = None

    def write(self, data):
        view = memoryview(data).cast("B")
        written = len(view)
        self.size += written
        while view:
            count = min(len(view), self.part_size - self.filled)
            self.buffer[self.filled : self.filled + count] = view[:count]
            self.filled += count
            view = view[count:]
            if self.filled == self.part_size:
                self._submit(self.buffer)
                self.buffer, self.filled = self.spare.pop() if self.spare else bytearray(self.part_size), 0
        return written

    def flush(self):
        pass

    def _submit(self, body):
        while len(self.pending) >= self.concurrency:  # back-pressure: at most `concurrency` parts in flight
            self._finish_oldest()
        number = len(self.parts) + len(self.pending) + 1
        self.pending.append((body, self.hasher.submit(self.hash.update, body), self.pool.submit(self._upload, number, body)))

    def _finish_oldest(self):
        body, hashed, uploaded = self.pending.popleft()
        hashed.result()
        self.parts.append(uploaded.result())
        if len(body) == self.part_size:
            self.spare.append(body)  # both threads are done with it

    def _upload(self, number, body):
        # The part's CRC-32 goes in a header: botocore would otherwise compute it into an
        # aws-chunked trailer, which sends the body through a reader in small copies.
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        answer = self.store.call(
            "upload part %d of %s" % (number, self.key),
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
            ChecksumCRC32=crc,
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def finish(self):
        """Upload what is left and wait for every part; the object exists only after complete()."""
        if self.filled or not (self.parts or self.pending):
            self._submit(bytes(self.buffer[: self.filled]))
            self.buffer, self.filled = None, 0
        while self.pending:
            self._finish_oldest()
        self.pool.shutdown()
        self.hasher.shutdown()

    def close(self):
        self.finish()
        self.complete()

    def complete(self):
        """Make the object; returns its version id (None where the bucket has no versioning)."""
        answer = self.store.call(
            "complete upload of %s" % self.key,
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self.version_id = answer.get("VersionId")
        return self.version_id

    def abort(self):
        for _body, hashed, uploaded in self.pending:
            hashed.cancel()
            uploaded.cancel()
        self.pool.shutdown(wait=True)  # a part still uploading would otherwise land after the abort
        self.hasher.shutdown(wait=True)
        self.pending.clear()
        try:
            self.store.call("abort upload of %s" % self.key, "abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except S3Error:
            pass  # the store is unreachable: its lifecycle rules must reap the parts
