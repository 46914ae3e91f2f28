#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pg_pitr_tenant
short_description: Bring one tenant of a shared cluster back to a point in time, the other tenants untouched
version_added: 0.1.0
description:
  - Restores the whole cluster beside the live one with M(sysgenpro.odoo_ops.pg_pitr_restore)'s
    machinery (same target rules, same proof), paused at the target and never promoted into
    service; copies the tenant's database from it into the live cluster under O(restored_name)
    (parallel C(pg_dump -Fd) then C(pg_restore --jobs), owned by the tenant's owner); and always
    stops and removes the side cluster. Other tenants of the live cluster keep everything they
    wrote after the target.
  - With O(swap) (and O(confirm)) the restored database takes the tenant's name, and the damaged
    one is kept as C(<tenant>_pre_pitr_<UTC time>) for forensics; its sessions are cut first.
  - With O(filestore_root), the filestore comes from the tenant's newest verified logical backup
    (M(sysgenpro.odoo_ops.odoo_backup)) made at or before the restored point; attachments the
    restored database names but that backup lacks are listed in RV(filestore) (C(missing)), never
    invented. The module's user must be able to write O(filestore_root).
  - The restored database gets the tenant's isolation (CONNECT revoked from PUBLIC), limits and
    M(sysgenpro.odoo_ops.odoo_tenant) metadata; after a swap a suspended tenant stays suspended
    (resuming it is a decision, M(sysgenpro.odoo_ops.odoo_tenant) C(state=present)).
  - Any failure drops the restored database and its staged filestore; the live tenant is untouched
    unless the swap itself ran.
  - The restored database records the restore (stanza and target) in its metadata, so the same
    request again - after a swap, or while the restored copy exists - is C(changed=false) and
    restores nothing (RV(done_before)); a new target restores again.
  - Run it as the PostgreSQL OS user (C(become_user=postgres)).
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.pitr
  - sysgenpro.odoo_ops.postgres
  - sysgenpro.odoo_ops.s3
  - sysgenpro.odoo_ops.backup_signing
attributes:
  check_mode:
    details: Runs the pre-checks of the cluster restore and of the live side, and reports the plan.
  diff_mode:
    support: full
    details: The tenant's databases on the server before and after (the restored copy beside it, or swapped in).
options:
  tenant:
    description: The tenant (database) to bring back, in the live cluster the login options reach.
    type: str
    required: true
  restored_name:
    description: Name of the restored database in the live cluster. Defaults to C(<tenant>_pitr).
    type: str
  work_dir:
    description:
      - Folder for the side cluster (C(<tenant>_pitr_side)) and the dump, an absolute path that exists;
        it needs room for both.
      - Refused, like M(sysgenpro.odoo_ops.pg_pitr_restore)'s O(sysgenpro.odoo_ops.pg_pitr_restore#module:data_dir) -
        inside or holding a PostgreSQL data directory, inside or holding a local pgBackRest repository or
        spool path, characters a C(restore_command) cannot carry unquoted.
    type: path
    required: true
  port:
    description: Port of the side cluster, 1 to 65535 (its socket is in its data directory).
    type: int
    required: true
  jobs:
    description: Parallel jobs of C(pg_dump) and C(pg_restore), 1 to 64.
    type: int
    default: 2
  swap:
    description: Give the restored database the tenant's name, keeping the old one for forensics. Needs O(confirm).
    type: bool
    default: false
  confirm:
    description: Required with O(swap).
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another run working on the tenant or on O(restored_name) (M(sysgenpro.odoo_ops.odoo_tenant),
        another C(pg_pitr_tenant)) to finish. The tenant's PostgreSQL advisory lock is held from the plan to the end, so
        no other run changes, removes or backs up a tenant while its database is swapped.
    type: int
    default: 120
  filestore_root:
    description: Odoo's filestore folder (an absolute path); the restored database's filestore is built there from a logical backup.
    type: path
  bucket:
    description: Bucket of the tenant's logical backups (needed with O(filestore_root)).
    type: str
  key_prefix:
    description: Prefix the logical backups were written under.
    type: str
    default: odoo/
requirements:
  - pgBackRest and PostgreSQL 15 on the host that runs the module
  - psycopg2
  - boto3 (botocore), with O(filestore_root)
"""

EXAMPLES = r"""
- name: Bring acme back to 09:59:30, beside its damaged database
  sysgenpro.odoo_ops.pg_pitr_tenant:
    tenant: acme
    stanza: shared1
    pgbackrest_config: /etc/pgbackrest/pgbackrest.conf
    target:
      type: time
      value: "2026-11-23T09:59:30+01:00"
    switch_wal_conninfo: "host=/var/run/postgresql dbname=postgres"
    work_dir: /var/lib/postgresql/pitr
    port: 5499
    login_unix_socket: /var/run/postgresql
    filestore_root: /var/lib/odoo/filestore
    bucket: erp-backups-tier1
    swap: true
    confirm: true
  become: true
  become_user: postgres
"""

RETURN = r"""
steps:
  description: The phases of the tenant's recovery; empty when it was done before.
  returned: always
  type: list
  elements: str
  sample: ["restore the cluster beside, paused at the target", "copy acme back as acme_pitr"]
diff:
  description: The tenant's databases before and after (the restored copy beside it, or swapped in).
  returned: always
  type: dict
  sample: {before: {databases: [acme]}, after: {databases: [acme, acme_pitr]}}
tenant:
  description: The tenant.
  returned: always
  type: str
restored_database:
  description: The restored database's name (the tenant's own after a swap).
  returned: always
  type: str
swapped:
  description: Whether the names were swapped.
  returned: always
  type: bool
done_before:
  description: The record of an identical earlier restore (stanza, target, backup set, point reached) when nothing was done.
  returned: when the same restore was done before
  type: dict
forensic_database:
  description: The damaged database's new name, after a swap.
  returned: when swapped
  type: str
cluster:
  description: The side cluster's restore (what M(sysgenpro.odoo_ops.pg_pitr_restore) returns - target, backup, proof, durations).
  returned: always
  type: dict
filestore:
  description: The logical backup the filestore came from, its time, the files it lacked (C(missing)) and the filestore's path.
  returned: with filestore_root
  type: dict
rows_after_target:
  description:
    - Per table with an integer C(id), the rows of the damaged database above the restored one's
      highest id - what the restore gives up (the incident report's lost rows). A suspended
      tenant's database is opened for the count and closed again.
  returned: success
  type: dict
  sample: {account_move: 42, account_move_line: 168}
side_cluster_removed:
  description: The side cluster was stopped and its directory removed.
  returned: success
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import require_library, run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import signing_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import PgBackRest
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.restore import pitr_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.tenant import TenantPitr
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import ObjectStore, s3_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import tenant_locks

ARGUMENT_SPEC = dict(
    tenant=dict(type="str", required=True),
    restored_name=dict(type="str"),
    work_dir=dict(type="path", required=True),
    port=dict(type="int", required=True),
    jobs=dict(type="int", default=2),
    swap=dict(type="bool", default=False),
    confirm=dict(type="bool", default=False),
    lock_timeout=dict(type="int", default=120),
    filestore_root=dict(type="path"),
    bucket=dict(type="str"),
    key_prefix=dict(type="str", default="odoo/", no_log=False),
)
ARGUMENT_SPEC.update(pitr_argument_spec())
ARGUMENT_SPEC.update(postgres_argument_spec())
ARGUMENT_SPEC.update(s3_argument_spec())
ARGUMENT_SPEC.update(signing_argument_spec())


def bring_back(module, pg):
    if module.params.get("filestore_root"):
        require_library("botocore", "filestore_root")
    store = ObjectStore(module.params) if module.params.get("filestore_root") else None
    work = TenantPitr(pg, PgBackRest(module.params), store, module.params)
    # The same per-tenant lock odoo_tenant holds: a removal, a clone or a URL change never runs while
    # the tenant's database is being swapped.
    with tenant_locks(pg, [work.tenant, work.restored], module.params["lock_timeout"]):
        plan = work.plan()
        if plan.get("done_before"):
            return plan_result(plan, False, [], {}, {})
        steps = ["restore the cluster beside, paused at the target", "copy %s back as %s" % (work.tenant, work.restored)]
        steps += ["restore its filestore from the newest backup before the target"] if module.params.get("filestore_root") else []
        steps += ["swap %s in, keep the damaged database" % work.restored] if module.params["swap"] else []
        before = {"databases": [work.tenant]}
        after = {"databases": [work.tenant] if module.params["swap"] else [work.tenant, work.restored]}
        return plan_result(plan if module.check_mode else work.apply(), True, steps, before, after)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(
        module, lambda resources: bring_back(module, resources.enter_context(Postgres(module.params))), needs=["psycopg2"], not_as_root=("pg_pitr_tenant", None)
    )


if __name__ == "__main__":
    main()
