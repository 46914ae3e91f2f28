#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_backup_retention
short_description: Apply retention classes to one tenant's backups in object storage
version_added: 0.1.0
description:
  - Keeps the newest backup of each of the last O(keep_daily) days, O(keep_weekly) ISO weeks and
    O(keep_monthly) months that have backups (grandfather-father-son), and the newest verified
    backup whatever its age; deletes the other backups of the tenant made by
    M(sysgenpro.odoo_ops.odoo_backup), with their sidecar manifests.
  - Only authenticated backups count - their sidecar's signature verifies with O(backup_signing_key)
    and it records the object's actual size; others (planted by whoever holds the bucket's keys, or
    imported by hand) are neither counted nor deleted, and reported in RV(untrusted), so that fake
    backups cannot push real ones out of their retention.
  - A deleted backup goes with every version of its objects (the recorded ones and any written
    later), where the bucket keeps versions.
  - Never tries to delete an object under object-lock retention or legal hold (checked on its
    recorded version) - it is reported in RV(locked) and left alone.
  - Check mode reports the same keep, delete and locked sets and deletes nothing.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.s3
  - sysgenpro.odoo_ops.backup_signing
attributes:
  check_mode:
    details: The plan of a real run; nothing is deleted.
  diff_mode:
    support: full
    details: The tenant's authenticated backups before and after the deletions.
options:
  name:
    description: The tenant.
    type: str
    required: true
  bucket:
    description: The bucket holding the tenant's backups.
    type: str
    required: true
  key_prefix:
    description: The prefix the backups were written under (see M(sysgenpro.odoo_ops.odoo_backup)).
    type: str
    default: odoo/
  keep_daily:
    description: Days whose newest backup is kept.
    type: int
    default: 7
  keep_weekly:
    description: ISO weeks whose newest backup is kept.
    type: int
    default: 4
  keep_monthly:
    description: Months whose newest backup is kept.
    type: int
    default: 3
"""

EXAMPLES = r"""
- name: Tier-1 retention for acme (7 daily, 4 weekly, 3 monthly)
  sysgenpro.odoo_ops.odoo_backup_retention:
    name: acme
    bucket: erp-backups-tier1
    s3_endpoint_url: https://s3.example.com
"""

RETURN = r"""
steps:
  description: The deletions, in order (C(delete <key>)); locked backups are never among them.
  returned: always
  type: list
  elements: str
  sample: ["delete odoo/acme/acme_20261001T020000Z.zip"]
diff:
  description: The keys of the tenant's authenticated backups before and after the deletions.
  returned: always
  type: dict
  sample: {before: {backups: [a.zip, b.zip]}, after: {backups: [b.zip]}}
keep:
  description: Backups kept, with why (daily, weekly, monthly, newest verified).
  returned: always
  type: list
  elements: dict
  sample: [{key: odoo/acme/acme_20261123T010000Z.zip, created: "2026-11-23T01:00:00+00:00", reasons: [daily, weekly]}]
delete:
  description: Backups outside every class (deleted, or to be deleted in check mode), locked ones excepted.
  returned: always
  type: list
  elements: str
locked:
  description: Backups outside every class that object lock protects; not deleted.
  returned: always
  type: list
  elements: dict
  sample: [{key: odoo/acme/acme_20260101T010000Z.zip, retain_until: "2026-12-01T00:00:00+00:00", legal_hold: false}]
untrusted:
  description: Backup objects whose sidecar is missing or does not authenticate; neither counted nor deleted.
  returned: always
  type: list
  elements: dict
  sample: [{key: odoo/acme/acme_20261124T010000Z.zip, problem: "s3://b/odoo/acme/acme_20261124T010000Z.zip has no sidecar manifest"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import list_backups, recorded_objects, signing_argument_spec, signing_keys
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.retention import retention_plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import ObjectStore, s3_argument_spec, version_args
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_tenant_name

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    bucket=dict(type="str", required=True),
    key_prefix=dict(type="str", default="odoo/", no_log=False),
    keep_daily=dict(type="int", default=7),
    keep_weekly=dict(type="int", default=4),
    keep_monthly=dict(type="int", default=3),
)
ARGUMENT_SPEC.update(s3_argument_spec())
ARGUMENT_SPEC.update(signing_argument_spec())


def apply_retention(module):
    params = module.params
    check_tenant_name(params["name"])
    keys = signing_keys(params)
    if not keys:
        raise Refused("backup_signing_key (or ODOO_OPS_BACKUP_SIGNING_KEY) is required: retention counts only backups whose signed sidecar authenticates")
    store = ObjectStore(params)
    store.check_bucket(params["bucket"])
    listed = list_backups(store, params["bucket"], params["key_prefix"], params["name"], keys)
    # Only authenticated backups count toward the classes (and are ever deleted): objects planted by
    # someone with the bucket's keys must not push real backups out of their retention.
    backups = {b["key"]: b for b in listed if b["verified"]}
    untrusted = [{"key": b["key"], "problem": b["problem"]} for b in listed if not b["verified"]]
    keep, delete = retention_plan(list(backups.values()), params["keep_daily"], params["keep_weekly"], params["keep_monthly"])
    locked, deletable = [], []
    for key in delete:
        version = {o["key"]: o["version_id"] for o in recorded_objects(backups[key]["manifest"])}.get(key)
        protection = store.protection(params["bucket"], key, version)
        until, hold = protection["retain_until"], protection["legal_hold"]
        if until or hold:
            locked.append({"key": key, "retain_until": until.isoformat() if until else None, "legal_hold": hold})
        else:
            deletable.append(key)
    if deletable and not module.check_mode:
        for key in deletable:
            for obj in backups[key]["objects"]:
                for version in store.versions(params["bucket"], obj) or [{"version_id": None}]:
                    store.call("delete %s" % obj, "delete_object", Bucket=params["bucket"], Key=obj, **version_args(version["version_id"]))
    report = dict(
        delete=deletable,
        locked=locked,
        untrusted=untrusted,
        keep=[{"key": key, "created": backups[key]["created"].isoformat(), "reasons": reasons} for key, reasons in sorted(keep.items())],
    )
    before = {"backups": sorted(backups)}
    after = {"backups": sorted(key for key in backups if key not in deletable)}
    return plan_result(report, bool(deletable), ["delete %s" % key for key in deletable], before, after)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, lambda resources: apply_retention(module), needs=["botocore"])


if __name__ == "__main__":
    main()
