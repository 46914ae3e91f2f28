#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_backup
short_description: Back up one Odoo tenant to object storage, streamed, in Odoo's zip format or pg_dump's custom one
version_added: 0.1.0
description:
  - Writes one tenant's backup - C(dump.sql) (plain C(pg_dump --no-owner)), C(manifest.json) and
    C(filestore/...), the layout Odoo's database manager writes and restores - to an S3-compatible
    bucket, streamed through a multipart upload. Nothing is staged on local disk (Odoo's own dump
    needs about twice the filestore in temporary space).
  - O(format=custom) is for large databases - C(<stem>.dump) (C(pg_dump -Fc)) beside
    C(<stem>.filestore.tar) (C(manifest.json), C(filestore/...)), restored by
    M(sysgenpro.odoo_ops.odoo_tenant) with parallel C(pg_restore). Odoo's database manager
    cannot restore this format.
  - The manifest is read in the snapshot C(pg_dump) dumps, so a tenant that changes during the
    backup is backed up as of one instant.
  - A sidecar object C(<key>.manifest.json) records each object's SHA-256, size and version id
    (where the bucket keeps versions, as it always does with object lock), the creation time, tier,
    format and each member's SHA-256 and size, and is signed with O(backup_signing_key) (HMAC-SHA256),
    so that restores, verification, retention and removals can tell it from one written by anyone
    else who holds the bucket's keys. The object and sidecar carry tags and metadata (tenant, tier,
    kind, created, Odoo version), server-side encryption when asked, and object-lock retention when
    asked (the bucket must have object lock).
  - The database is read by a session role made for the backup, with the tenant owner's rights only
    (dropped at the end), so that what the tenant's database holds never runs with the connecting role's rights.
  - On any failure the multipart upload is aborted - nothing is left under the final key.
  - Each run makes a new backup (C(changed=true)), unless O(if_older_than) finds a recent one.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
  - sysgenpro.odoo_ops.s3
  - sysgenpro.odoo_ops.backup_signing
attributes:
  check_mode:
    details: Checks the tenant, bucket, object lock and signing key, and reports the key, format and estimated size it would write.
  diff_mode:
    support: full
    details: The backup it writes (key, format, size - estimated in check mode) as the after state.
options:
  name:
    description: The tenant (database) to back up.
    type: str
    required: true
  bucket:
    description: The bucket the backup goes to. It must exist.
    type: str
    required: true
  key_prefix:
    description:
      - Prefix of the backup's key; the key is C(<key_prefix><name>/<name>_<UTC time>.zip), or
        C(.dump) for O(format=custom).
    type: str
    default: odoo/
  format:
    description:
      - C(zip) is Odoo's own backup zip, restorable by Odoo's database manager too.
      - C(custom) is C(pg_dump -Fc) beside a filestore tar, for large databases - restored with
        parallel C(pg_restore), which needs the dump (compressed) on the restoring host's disk.
    type: str
    choices: [zip, custom]
    default: zip
  tier:
    description: The tenant's tier, recorded in tags, metadata and the sidecar manifest.
    type: int
    choices: [1, 2, 3]
    default: 1
  filestore_root:
    description: Odoo's filestore folder; the tenant's C(<filestore_root>/<name>) goes into the zip.
    type: path
  compress_level:
    description:
      - Compression level (0-9) of the database dump - deflate of C(dump.sql) for O(format=zip),
        C(pg_dump --compress) for O(format=custom).
      - Defaults to 0 (stored) for C(zip) - deflate in the module runs at about 75 MB/s a core on a
        dump and would pace the whole backup - and to 1 for C(custom), where C(pg_dump) compresses
        in its own process. A SQL dump deflates about 5x, if storage matters more than the window.
    type: int
  compress_filestore:
    description:
      - Deflate the filestore's members of a zip too, at O(compress_level). Off by default -
        attachments are mostly PDFs and images that do not compress, and deflate on them runs at
        about 40 MB/s a core.
    type: bool
    default: false
  part_size_mb:
    description: Size of the multipart upload's parts, 5 (S3's smallest part) to 1024.
    type: int
    default: 16
  upload_concurrency:
    description:
      - Parts uploaded at once while the backup goes on, 1 to 32. Memory is about
        (O(upload_concurrency) + 1) x O(part_size_mb).
    type: int
    default: 4
  server_side_encryption:
    description: Ask the object store to encrypt the objects.
    type: str
    choices: [AES256, "aws:kms"]
  sse_kms_key_id:
    description: KMS key for O(server_side_encryption=aws:kms).
    type: str
  object_lock_mode:
    description: Object-lock retention of the backup and its sidecar (immutability). The bucket must have object lock.
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  object_lock_days:
    description:
      - Days of object-lock retention (with O(object_lock_mode)).
      - Default - the tier policy's (35 days, the daily and weekly retention classes and a week's margin).
    type: int
  if_older_than:
    description:
      - Make a backup only if the newest one of this tenant (by its signed sidecar; one that does not
        authenticate is passed over) is older than this many seconds; otherwise return that one
        with C(changed=false).
    type: int
  odoo_version:
    description:
      - The full version of the Odoo server the tenant runs (as C(odoo-bin --version) prints it, for
        example V(18.0-20250506)), written as the manifest's C(version) like Odoo's own dump does. The
        database does not hold it; without it the base module's major version (V(18.0)) stands in.
    type: str
  pg_bin_dir:
    description:
      - Folder of PostgreSQL's client programs; C(pg_dump)'s major version must not be older than
        the server's. Defaults to the programs on E(PATH), then Debian's folders.
    type: path
"""

EXAMPLES = r"""
- name: Tier-1 backup of acme, immutable for 35 days
  sysgenpro.odoo_ops.odoo_backup:
    name: acme
    bucket: erp-backups-tier1
    tier: 1
    filestore_root: /var/lib/odoo/filestore
    object_lock_mode: COMPLIANCE
    object_lock_days: 35
    server_side_encryption: AES256
    s3_endpoint_url: https://s3.example.com
  register: acme_backup

- name: Nightly backup of a large tenant in pg_dump's custom format (parallel restore)
  sysgenpro.odoo_ops.odoo_backup:
    name: bigco
    bucket: erp-backups-tier2
    tier: 2
    format: custom
    compress_level: 3
    filestore_root: /var/lib/odoo/filestore
    if_older_than: 72000

- name: Remove acme, with that backup as its final one
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme
    state: absent
    final_backup: "{{ acme_backup }}"
"""

RETURN = r"""
steps:
  description: The objects written (or, in check mode, to be written), in order.
  returned: always
  type: list
  elements: str
  sample: ["write s3://backups/odoo/acme/acme_20261123T120000Z.zip", "write s3://backups/odoo/acme/acme_20261123T120000Z.zip.manifest.json"]
diff:
  description: Nothing before; after, the backup's key, format and size (estimated in check mode). Both empty when O(if_older_than) found a recent backup.
  returned: always
  type: dict
  sample: {before: {}, after: {key: odoo/acme/acme_20261123T120000Z.zip, format: zip, size: 73400320}}
key:
  description: The backup's key.
  returned: success
  type: str
  sample: odoo/acme/acme_20261123T120000Z.zip
manifest_key:
  description: The sidecar manifest's key.
  returned: success
  type: str
bucket:
  description: The bucket.
  returned: success
  type: str
tenant:
  description: The tenant backed up.
  returned: success
  type: str
created:
  description: When the backup started (UTC, ISO 8601).
  returned: success
  type: str
size:
  description: Bytes of the backup's objects.
  returned: success
  type: int
sha256:
  description: SHA-256 of the backup object (the dump, for C(custom)).
  returned: success
  type: str
format:
  description: The backup's format.
  returned: success
  type: str
  sample: zip
objects:
  description: The backup's objects (one for C(zip); the dump and the filestore tar for C(custom)).
  returned: success
  type: list
  elements: dict
  sample: [{key: odoo/acme/acme_20261123T120000Z.zip, size: 73400320, sha256: 9f86d081884c7d65...}]
members:
  description: Number of members (database dump, manifest, filestore files).
  returned: success
  type: int
odoo_version:
  description: Odoo's major version, from the base module.
  returned: success
  type: str
duration:
  description: Seconds the backup took.
  returned: success
  type: float
throughput:
  description: Bytes of backup per second.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import newest_backup, signing_argument_spec, signing_keys
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.programs import program
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.session import SessionRole
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.writer import TenantBackup
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import ObjectStore, s3_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import parse_timestamp, utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_tenant_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import observe_database

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    bucket=dict(type="str", required=True),
    key_prefix=dict(type="str", default="odoo/", no_log=False),
    tier=dict(type="int", choices=[1, 2, 3], default=1),
    filestore_root=dict(type="path"),
    format=dict(type="str", choices=["zip", "custom"], default="zip"),
    compress_level=dict(type="int"),
    compress_filestore=dict(type="bool", default=False),
    part_size_mb=dict(type="int", default=16),
    upload_concurrency=dict(type="int", default=4),
    server_side_encryption=dict(type="str", choices=["AES256", "aws:kms"]),
    sse_kms_key_id=dict(type="str", no_log=False),
    object_lock_mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"]),
    object_lock_days=dict(type="int"),
    if_older_than=dict(type="int"),
    odoo_version=dict(type="str"),
    pg_bin_dir=dict(type="path"),
)
ARGUMENT_SPEC.update(postgres_argument_spec())
ARGUMENT_SPEC.update(s3_argument_spec())
ARGUMENT_SPEC.update(signing_argument_spec())


def backup(module, pg):
    params = module.params
    check_tenant_name(params["name"])
    keys = signing_keys(params)
    if not keys:
        raise Refused(
            "backup_signing_key (or ODOO_OPS_BACKUP_SIGNING_KEY) is required: a backup whose sidecar is "
            "not signed cannot be told from one anyone with the bucket's keys wrote"
        )
    found = observe_database(pg, params["name"])
    if not found["exists"]:
        raise Refused("tenant %s does not exist on %s" % (params["name"], pg.where))
    if not found["allow_connections"]:
        raise Refused("tenant %s is suspended (it accepts no connections): resume it to back it up" % params["name"])
    store = ObjectStore(params)
    store.check_bucket(params["bucket"])
    if params.get("object_lock_mode") and not (store.object_lock(params["bucket"]) or {}).get("ObjectLockEnabled"):
        raise Refused("object_lock_mode is set but bucket %s has no object lock" % params["bucket"])
    program(params.get("pg_bin_dir"), "pg_dump")
    if params.get("if_older_than"):
        newest = newest_backup(store, params["bucket"], params["key_prefix"], params["name"], keys)
        if newest and (utc_now() - parse_timestamp(newest["created"], "created")).total_seconds() < params["if_older_than"]:
            return plan_result(newest, False, [], {}, {})
    if module.check_mode:  # the plan: what the real run would write, its size estimated
        planned = TenantBackup.estimate(pg, params)
        return backup_result(params["bucket"], planned, planned["objects"], planned["estimated_size"])
    # The owner is checked before the session role exists, so a refusal leaves nothing behind.
    with SessionRole(pg, [found["owner"]]) as session:
        written = TenantBackup(session.client(), store, params, keys[0]).run()
    return backup_result(params["bucket"], written, [o["key"] for o in written["objects"]] + [written["manifest_key"]], written["size"])


def backup_result(bucket, report, keys, size):
    """The plan of a backup (check mode) or what it wrote (a real run): the same keys."""
    after = {"key": report["key"], "format": report["format"], "size": size}
    return plan_result(report, True, ["write s3://%s/%s" % (bucket, key) for key in keys], {}, after)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, lambda resources: backup(module, resources.enter_context(Postgres(module.params))), needs=["psycopg2", "botocore"])


if __name__ == "__main__":
    main()
