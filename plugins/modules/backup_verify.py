#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: backup_verify
short_description: Prove backups restorable - object, repository and throwaway-restore checks, with evidence
version_added: 0.1.0
description:
  - Verifies a tenant's logical backups (made by M(sysgenpro.odoo_ops.odoo_backup); give O(name) and
    O(bucket)) and/or a cluster's pgBackRest backups (give O(stanza)), at one or more O(level)s.
  - "C(objects) (logical): the backups exist; the chosen ones (O(scope)) have the size and SHA-256
    their sidecar manifest records; the newest is younger than the tier's RPO; the retention
    classes hold (counted back from the newest backup, never before the oldest); object lock
    retention is set where the tier requires immutability (tier 1), server-side encryption where
    O(require_encryption)."
  - "C(repository) (pgBackRest): C(pgbackrest verify), its report parsed (it exits 0 even when it
    reports errors); no backup flagged with page checksum errors; and a scan of the WAL archive for
    gaps from each backup's start to the archive's end (C(pgbackrest verify) does not see those)."
  - "C(restore): a throwaway restore, then checks. Logical - the backup into a temporary database
    on the server of the connection options (its dump stops at the first error) and its filestore
    into a temporary folder of O(work_dir). Physical - the stanza restored beside the live cluster
    (as M(sysgenpro.odoo_ops.pg_pitr_restore) does), promoted, its target proven reached and, for
    C(latest), the archive replayed to its last segment. Then C(pg_amcheck --heapallindexed),
    C(pg_checksums --check) (physical, data checksums on), and Odoo assertions: base installed, an
    active admin user, every C(ir_attachment.store_fname) present in the filestore with the SHA-1 its
    name and C(checksum) say. Everything temporary is removed, whatever the outcome."
  - Never changes what it verifies and always returns C(changed=false); check mode runs the same
    verification. It writes only its evidence - a JSON and a Markdown report in O(report_dir) and a
    Prometheus textfile (C(backup_verify_success), C(backup_age_seconds), C(backup_restore_seconds))
    in O(textfile_dir).
  - A physical restore runs PostgreSQL - run the module as the PostgreSQL OS user then (C(become_user=postgres)).
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
  - sysgenpro.odoo_ops.s3
  - sysgenpro.odoo_ops.backup_signing
  - sysgenpro.odoo_ops.pitr
attributes:
  check_mode:
    support: partial
    details:
      - The read-only levels (C(objects), C(repository)) run; the C(restore) level is skipped, since it
        creates a throwaway database or starts a PostgreSQL server (listed in RV(skipped_levels)).
      - No report or textfile is written; RV(reports) gives the paths a real run would write.
      - RV(verified) is null when a level was skipped (not proven either way).
options:
  level:
    description: What to verify; several at once are run cheapest first.
    type: list
    elements: str
    choices: [objects, repository, restore]
    default: [objects]
  name:
    description: The tenant whose logical backups are verified (C(objects), and C(restore) of its backup).
    type: str
  bucket:
    description: The bucket holding the tenant's backups.
    type: str
  key_prefix:
    description: The prefix the tenant's backups were written under.
    type: str
    default: odoo/
  key:
    description: One backup to verify (its object key); the newest by default.
    type: str
  scope:
    description: Whose objects are read and hashed at the C(objects) level - the C(newest) backup or C(all).
    type: str
    choices: [newest, all]
    default: newest
  tier:
    description:
      - The tier whose objectives apply. 1 - RPO 26 h for logical backups, 7 daily / 4 weekly /
        3 monthly, object lock required. 2 - 26 h, 7 / 4 / 0. 3 - 8 days, 0 / 2 / 0.
    type: int
    choices: [1, 2, 3]
    default: 1
  max_age:
    description: RPO in seconds for the newest logical backup, instead of the tier's.
    type: int
  retention:
    description: Retention classes instead of the tier's.
    type: dict
    suboptions:
      daily:
        description: Days, counted back from the newest backup's, that must each have a backup.
        type: int
      weekly:
        description: ISO weeks that must each have a backup.
        type: int
      monthly:
        description: Months that must each have a backup.
        type: int
  require_object_lock:
    description: Require object lock retention on the backups, instead of the tier's rule (tier 1 requires it).
    type: bool
  require_encryption:
    description: Require server-side encryption on the backups.
    type: bool
    default: false
  target:
    description: The physical restore's target (see M(sysgenpro.odoo_ops.pg_pitr_restore)); the end of the archive by default.
    type: dict
    required: false
    default: {type: latest}
    suboptions:
      type:
        description: What the target is.
        type: str
        required: true
        choices: [time, lsn, xid, name, immediate, latest]
      value:
        description: The time (with a zone), LSN, transaction id or restore point name.
        type: str
      inclusive:
        description: Stop just after the target or just before it.
        type: bool
        default: true
      timeline:
        description: C(current), C(latest) or a number.
        type: str
        default: current
  databases:
    description: Databases of a physical restore that get the Odoo assertions; every database with Odoo's tables by default.
    type: list
    elements: str
  port:
    description: Port of the physical restore's throwaway server (its socket is in O(work_dir)); a free one by default.
    type: int
  work_dir:
    description: Where throwaway restores go (a physical one needs the backup's size; keep the path short).
    type: path
    default: /var/tmp
  jobs:
    description: Parallel jobs restoring a custom-format logical backup, 1 to 64.
    type: int
    default: 1
  report_dir:
    description: Folder for the JSON and Markdown reports (audit evidence); none written when unset.
    type: path
  textfile_dir:
    description: node_exporter's textfile collector folder for the Prometheus metrics; none written when unset.
    type: path
  fail_on_error:
    description: Fail the task, with a paragraph naming each failed check, when a check fails; V(false) lets a workflow branch on RV(verified).
    type: bool
    default: true
requirements:
  - boto3 (logical backups), psycopg2, pgBackRest and PostgreSQL 15 client programs (pg_amcheck, pg_checksums)
"""

EXAMPLES = r"""
- name: Nightly - the newest backup of acme, its objects and a throwaway restore
  sysgenpro.odoo_ops.backup_verify:
    name: acme
    bucket: erp-backups-tier1
    tier: 1
    level: [objects, restore]
    login_host: pg-verify.internal
    login_user: odoo_ops_admin
    report_dir: /var/lib/odoo_ops/reports
    textfile_dir: /var/lib/node_exporter/textfile_collector

- name: Weekly - the production cluster's repository and a full restore to the archive's end
  sysgenpro.odoo_ops.backup_verify:
    stanza: prod
    pgbackrest_config: /etc/pgbackrest/pgbackrest.conf
    level: [repository, restore]
    work_dir: /srv/verify
    fail_on_error: false
  become: true
  become_user: postgres
  register: verification
"""

RETURN = r"""
steps:
  description: The levels run per subject (C(verify <subject>) and the level) and the reports written; it changes nothing.
  returned: always
  type: list
  elements: str
  sample: ["verify acme: objects", "write /var/lib/odoo-ops/reports/acme-20261123T120000Z.json"]
diff:
  description: Empty (before and after alike) - verification changes nothing.
  returned: always
  type: dict
  sample: {before: {}, after: {}}
verified:
  description: Whether every check passed; null in check mode when a level was skipped.
  returned: always
  type: bool
skipped_levels:
  description: Levels asked for but not run (in check mode, C(restore)).
  returned: always
  type: list
  elements: str
checks:
  description: Every check run, in order.
  returned: always
  type: list
  elements: dict
  sample: [{name: objects.integrity, subject: acme, ok: true, seconds: 0.41,
            detail: "1 backup(s): every object has the size and SHA-256 its sidecar records"}]
figures:
  description: Per subject - the backup verified, its data age (RPO, seconds) and the measured restore time (RTO, seconds).
  returned: always
  type: dict
  sample: {acme: {backup: odoo/acme/acme_20261123T010000Z.zip, backup_age_seconds: 3600, restore_seconds: 41.2}}
restore_seconds:
  description: The longest measured restore of this run (RTO evidence); null without the restore level.
  returned: always
  type: float
reports:
  description: Paths of the files written (json, markdown, textfile); in check mode, the paths a real run would write.
  returned: always
  type: dict
msg:
  description: One paragraph - the verdict, naming each failed check.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import reporting, run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.run import ARGUMENT_SPEC, verify


def verify_backups(params, check_mode):
    """The verification's result; what it did as steps (it changes nothing: changed is false)."""
    with reporting(lambda: {"verified": False}):
        result = verify(params, check_mode)
    steps = ["verify %s: %s" % (subject, level) for subject in result["subjects"] for level in result["levels"]]
    result = plan_result(result, False, steps + ["write %s" % path for path in sorted(result["reports"].values())], {}, {})
    if result["verified"] is False and params["fail_on_error"]:
        raise OdooOpsError(result["msg"], result=result)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, required_by={"name": ["bucket"]})
    run_module(module, lambda resources: verify_backups(module.params, module.check_mode))


if __name__ == "__main__":
    main()
