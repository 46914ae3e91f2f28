#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_tenant
short_description: Create, clone, suspend, resume and remove an Odoo tenant (database, role, filestore)
version_added: 0.1.0
description:
  - Manages one tenant of an Odoo platform - its PostgreSQL database (the tenant id is the database
    name), the role that owns it, and its filestore - the way Odoo's own database tools do, and
    more safely where they are not.
  - O(state=present) creates the tenant from a O(template) (a golden database no Odoo process
    connects to) or clones a live tenant O(source), then applies isolation (C(CONNECT) revoked from
    C(PUBLIC)), limits and metadata. On an existing tenant it resumes it and converges limits,
    metadata, O(base_url) and neutralization, each change shown in the diff.
  - A copy (O(template), or O(source) with O(copy=true)) gets what Odoo's duplicate does - a new
    C(database.uuid) and C(database.secret), C(database.create_date), C(web.base.url) and the login
    cooldown defaults - the enterprise code removed and C(database.expiration_reason=copy). A move
    (O(copy=false)) keeps the uuid, secret and enterprise code, and suspends the source so that one
    identity never runs twice.
  - O(state=suspended) refuses new connections and cuts open sessions; O(state=present) resumes.
  - O(state=absent) drops the database, the role created for the tenant and the filestore, after a
    final backup newer than O(final_backup_max_age) (or O(force=true)), and reports what was removed.
  - Creation is all or nothing - on any failure the new database is dropped, the staged filestore
    removed and the source reopened.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.postgres
  - sysgenpro.odoo_ops.s3
  - sysgenpro.odoo_ops.backup_signing
attributes:
  check_mode:
    details: The same plan as a real run (every check included) is reported; nothing is changed.
  diff_mode:
    support: full
    details: The tenant's state (existence, owner, connections, limits, isolation, metadata) before and after.
options:
  name:
    description:
      - The tenant id, which is the database name - 1-63 lower-case letters, digits, C(_) or C(-) (not last), a
        letter first. On a shared fleet (C(dbfilter ^%d$)) it is also its hosts' first label, so C(-), not C(_).
      - One of O(name) or O(tenants) is required.
    type: str
  tenants:
    description:
      - Several tenants in one task (a fleet's worth), each entry with its own O(name) and any of
        the options below that differ from the task's, which are the defaults. One connection
        serves them all, so a re-run of hundreds of tenants costs one task, not hundreds.
      - Every entry is planned before any is applied, so a refusal anywhere changes nothing; a
        batch cannot clone a tenant it creates itself. The first failure stops the batch and
        names what was already applied.
    type: list
    elements: dict
    suboptions:
      name:
        description: The tenant id.
        type: str
        required: true
      state:
        description: See O(state).
        type: str
        choices: [present, suspended, absent]
      template:
        description: See O(template).
        type: str
      source:
        description: See O(source).
        type: str
      copy:
        description: See O(copy).
        type: bool
      base_url:
        description: See O(base_url).
        type: str
      freeze_base_url:
        description: See O(freeze_base_url).
        type: bool
      neutralize:
        description: See O(neutralize).
        type: bool
      pattern:
        description: See O(pattern).
        type: str
        choices: [shared, dedicated]
      tier:
        description: See O(tier).
        type: int
        choices: [1, 2, 3]
      owner:
        description: See O(owner).
        type: str
      owner_password_file:
        description: See O(owner_password_file).
        type: path
      admin_password_file:
        description: See O(admin_password_file).
        type: path
      filestore_root:
        description: See O(filestore_root) (tenants of several fleets in one task).
        type: path
      filestore_owner:
        description: See O(filestore_owner).
        type: str
      connection_limit:
        description: See O(connection_limit).
        type: int
      statement_timeout:
        description: See O(statement_timeout).
        type: int
      final_backup:
        description: See O(final_backup).
        type: dict
      strategy:
        description: See O(strategy).
        type: str
        choices: [dump, file_copy, wal_log]
  state:
    description:
      - What the tenant should be.
      - V(template) seals O(name) as a golden template instead - C(IS_TEMPLATE), no connections
        allowed (no Odoo process can serve it or hold a session on it), no rights for C(PUBLIC),
        template metadata, its filestore under O(filestore_root) mode 0700. Its owner must own no
        other database (a role no fleet uses). A template is never removed by O(state=absent).
    type: str
    choices: [present, suspended, absent, template]
    default: present
  template:
    description:
      - Golden database to create the tenant from (C(CREATE DATABASE ... TEMPLATE)). A template that
        is not sealed (see O(state=template)) gets a warning.
    type: str
  source:
    description:
      - Live tenant to clone (a tenant this collection manages). See O(copy), O(strategy) and O(terminate_connections).
    type: str
  from_backup:
    description:
      - Restore the tenant from a backup in an S3-compatible bucket (see the C(s3_*) options) - a
        zip in Odoo's format, made by M(sysgenpro.odoo_ops.odoo_backup) or by Odoo's database
        manager, or a C(.dump) of M(sysgenpro.odoo_ops.odoo_backup)'s O(sysgenpro.odoo_ops.odoo_backup#module:format=custom).
      - The backup is trusted only through its sidecar manifest signed with O(backup_signing_key)
        (a secret kept outside the bucket) - refused when the signature does not verify, when the
        sidecar describes another backup, or when it is missing (a zip Odoo made), unless
        O(from_backup.allow_unsigned). Objects are read at the versions the sidecar records, bounded
        to their recorded sizes, their SHA-256 checked; every zip member must be one the sidecar
        lists, of its size; free space is checked before anything is written.
      - The dump runs as a session role that owns nothing but the new database (no privileged
        session to return to), and psql reads it behind C(\restrict) after a filter that refuses
        any meta-command line - a backup can carry SQL only, never C(\!), C(\connect) or
        C(\copy ... program). A zip's C(dump.sql) runs in one transaction that stops at the first
        error (Odoo's own restore does not); a custom dump is restored by C(pg_restore --exit-on-error
        --no-owner --no-acl), with O(from_backup.jobs) parallel jobs. Then the database and its
        objects are handed to the owner, and what its SQL set at the database level (settings,
        rights, template flag) is undone. A custom backup's filestore tar is streamed, not downloaded.
      - O(copy) applies as for O(source) - a copy gets a new identity (O(base_url) required).
    type: dict
    suboptions:
      bucket:
        description: The bucket.
        type: str
        required: true
      key:
        description: The backup's key (C(.zip), or C(.dump) for the custom format).
        type: str
        required: true
      jobs:
        description:
          - Parallel C(pg_restore) jobs for a custom-format backup, 1 to 64. With 1 the restore is one
            transaction; with more, a failure leaves a partial database, which the module drops.
        type: int
        default: 1
      allow_unsigned:
        description:
          - Restore a backup whose sidecar is missing or does not authenticate (a zip a customer
            brings from Odoo's database manager). It is still restored as a session role that owns
            only the new database, behind C(\restrict), and a zip member may not expand more
            than 200 times; a warning says it was not authenticated.
        type: bool
        default: false
  pg_bin_dir:
    description:
      - Folder of PostgreSQL's client programs (C(psql), C(pg_dump), C(pg_restore)). Defaults to
        the programs on E(PATH), then Debian's C(/usr/lib/postgresql/<version>/bin).
      - C(psql) must have C(\restrict) (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 or later).
    type: path
  odoo_addons_path:
    description:
      - Odoo addons folders (as in Odoo's C(addons_path)) of the Odoo the tenant runs. With them,
        O(neutralize) runs Odoo's own C(<module>/data/neutralize.sql) of every installed module, as
        C(odoo-bin neutralize) does; without them, a built-in list that covers base, payment,
        delivery, fetchmail, IAP and mail templates only.
    type: list
    elements: path
  lock_timeout:
    description:
      - Seconds to wait for another run working on the same tenant (or on the source being
        cloned) to finish; each tenant's work holds a PostgreSQL advisory lock from plan to end.
    type: int
    default: 120
  copy:
    description:
      - With O(source) or O(from_backup), V(true) makes a copy (new identity, enterprise code removed), V(false) a move
        (identity and enterprise code kept; the source is suspended afterwards).
    type: bool
    default: true
  terminate_connections:
    description:
      - Cut the open sessions of O(template) or O(source) to copy it with C(CREATE DATABASE ... TEMPLATE)
        (PostgreSQL cannot copy a database others are connected to). Without it a file-level copy
        of a database with sessions is refused, naming how many would be cut. New connections are
        refused while the copy runs. A copy of a live tenant without it is taken online (O(strategy=dump)).
    type: bool
    default: false
  strategy:
    description:
      - How the new database is filled.
      - V(dump) - an online copy of a live O(source) - one consistent snapshot dumped by C(pg_dump)
        (as a session role with the source owner's rights) and restored by C(pg_restore) as a role
        that owns only the new database; the source keeps serving its users. The default for a
        copy from O(source) without O(terminate_connections). Not for a move (O(copy=false)).
      - V(wal_log) (PostgreSQL 15's default for C(CREATE DATABASE)) writes the new database
        through the WAL - about its size in archived WAL - and leaves the rest of the cluster alone.
        The default for O(template), for a move, and with O(terminate_connections).
      - V(file_copy) copies the files and writes little WAL, but forces a checkpoint that flushes
        every dirty buffer of the cluster - an I/O spike for all tenants of a shared cluster; worth
        it only for large templates. Measured in benchmarks/tenant_provision.py.
    type: str
    choices: [dump, file_copy, wal_log]
  base_url:
    description:
      - The tenant's URL (C(http) or C(https), no path), written to C(web.base.url). Required to
        create a copy, so that it never points at the original's URL or at localhost.
      - Odoo's workers cache parameters; the module bumps the database's C(base_cache_signaling_*)
        sequences (as Odoo's own processes do) so a running fleet serves the new URL at once.
    type: str
  freeze_base_url:
    description: Also set C(web.base.url.freeze), so an admin login does not rewrite O(base_url).
    type: bool
    default: true
  neutralize:
    description:
      - Neutralize the tenant as C(odoo-bin neutralize) does (staging copies) - with O(odoo_addons_path),
        Odoo's own script of every installed module (mail servers off and a dummy one on, crons
        off but base's autovacuum, webhooks off, the neutralized banner on, push keys and
        subscriptions deleted, payment providers disabled, ...), in one transaction; without it, the
        built-in list.
      - Then the accounts' secrets Odoo's scripts leave readable are emptied - every text field a
        payment provider module adds to C(payment.provider) (C(stripe_secret_key), ...), the mail
        servers' passwords, SSL private keys and OAuth tokens.
      - Verified afterwards - the flag, the mail servers, the crons, and per installed module web's
        banner, mail's push keys and subscriptions, payment providers, IAP tokens, incoming mail
        servers, no account secret left; the task fails if it did not hold.
    type: bool
    default: false
  pattern:
    description:
      - V(shared) - a tenant of a multi-tenant fleet, owned by the fleet's existing Odoo role
        (Odoo lists only databases its role owns). V(dedicated) - a customer's own role, created
        when missing.
      - Defaults to what the tenant's metadata records, and to V(shared) for a new tenant.
    type: str
    choices: [shared, dedicated]
  tier:
    description:
      - Backup and service tier (1 production, 2 UAT, 3 sandbox), kept in the metadata.
      - Defaults to what the tenant's metadata records, and to V(1) for a new tenant.
    type: int
    choices: [1, 2, 3]
  owner:
    description:
      - Role owning the database. Required for O(pattern=shared); defaults to O(name) for
        O(pattern=dedicated). Changing the owner of an existing tenant is refused, and so is a
        superuser.
    type: str
  owner_password:
    description: Password for a dedicated owner role created by this task.
    type: str
  owner_password_file:
    description:
      - When a dedicated owner role is created and O(owner_password) is not given, a generated
        password is written to this file (mode 0600), or read from it when it already exists.
        The password is never returned.
    type: path
  admin_password:
    description:
      - Password of Odoo's administrator (C(base.user_admin)) of the tenant, stored as Odoo stores it
        (PBKDF2-SHA512). Set on a new tenant, and on an existing one when the stored hash does not
        verify it. A template made with C(-i base) has C(admin)/C(admin) - give this, or
        O(admin_password_file), so that it never reaches a customer.
    type: str
  admin_password_file:
    description:
      - File holding the administrator's password (see O(admin_password)); generated (mode 0600) when it
        does not exist yet. The password is never returned; RV(admin_login) is.
    type: path
  connection_limit:
    description: Connections allowed to the database at once (C(-1) - no limit).
    type: int
  statement_timeout:
    description: Database-wide C(statement_timeout) in seconds (V(0) - none).
    type: int
  filestore_root:
    description:
      - Odoo's filestore folder (C(<data_dir>/filestore)); the tenant's filestore is C(<filestore_root>/<name>).
      - When not given, filestores are left alone.
    type: path
  source_filestore_root:
    description:
      - The filestore folder of the template or source, when it is not O(filestore_root) - for
        example another fleet's data folder (a dedicated fleet's tenant created from a template
        made in a shared fleet, or a tenant cloned from one fleet into another).
      - Defaults to O(filestore_root).
    type: path
  filestore_copy:
    description:
      - How a new filestore is filled from the template's or source's. V(hardlink) shares the
        files (they are content-addressed and never modified in place) and needs one filesystem
        and the same owner.
    type: str
    choices: [copy, hardlink]
    default: copy
  filestore_owner:
    description: User owning the tenant's filestore (its folders are mode 0700) - a name, or a numeric uid (a container's user).
    type: str
  filestore_group:
    description: Group of the tenant's filestore - a name or a numeric gid.
    type: str
  final_backup:
    description:
      - For O(state=absent) - the tenant's final backup, as returned by M(sysgenpro.odoo_ops.odoo_backup)
        (its C(bucket) and C(key) are used). What counts is the store - the backup must exist at the
        version its signed sidecar records, with its recorded size (or SHA-256 where the bucket has
        no versioning), be this tenant's, not be dated in the future, and be younger than
        O(final_backup_max_age). Only a database whose metadata says this collection manages it is
        ever removed; PostgreSQL's own databases and templates never are.
    type: dict
  final_backup_max_age:
    description: Seconds a O(final_backup) may be old.
    type: int
    default: 3600
  force:
    description: Remove the tenant without a final backup. Data is lost.
    type: bool
    default: false
notes:
  - The connecting role needs C(CREATEDB) and C(CREATEROLE), not superuser; it grants itself
    membership of the owner roles it works with, and needs C(pg_signal_backend) to cut sessions.
  - SQL inside a tenant database that the module writes runs as a session role made for the task
    (member of the C(odoo_ops_sessions) group, dropped at the end) with no more rights than the
    tenant's owner; pg_hba.conf must let it log in with a password (C(host all +odoo_ops_sessions ...)).
    Reads by the connecting role name every table with its schema and only read plain tables.
"""

EXAMPLES = r"""
- name: Create tenant acme from the golden template of the shared fleet
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme
    template: golden_18
    owner: odoo_fleet_a
    base_url: https://acme.erp.example.com
    filestore_root: /var/lib/odoo/filestore
    filestore_copy: hardlink
    connection_limit: 40
    statement_timeout: 300
    tier: 1
    login_host: db.internal
    login_user: odoo_ops_admin
    login_password: "{{ vault_pg_admin_password }}"

- name: Neutralized staging copy of acme (copied online while acme serves its users)
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme_staging
    source: acme
    copy: true
    neutralize: true
    odoo_addons_path: [/opt/odoo/odoo/addons, /mnt/extra-addons]
    tier: 3
    owner: odoo_fleet_a
    base_url: https://acme-staging.erp.example.com
    filestore_root: /var/lib/odoo/filestore

- name: Dedicated tenant with its own role (password written for the deployment to read)
  sysgenpro.odoo_ops.odoo_tenant:
    name: globex
    template: golden_18
    pattern: dedicated
    owner_password_file: /etc/odoo/globex.dbpass
    base_url: https://erp.globex.example.com

- name: Suspend acme (month-end dispute); state=present resumes it
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme
    state: suspended

- name: The fleet's tenants in one task (fast re-runs)
  sysgenpro.odoo_ops.odoo_tenant:
    template: golden_18
    owner: odoo_fleet_a
    filestore_root: /var/lib/odoo/filestore
    connection_limit: 40
    tenants:
      - {name: acme, base_url: "https://acme.erp.example.com"}
      - {name: initech, base_url: "https://initech.erp.example.com", tier: 2}
      - {name: umbrella, state: suspended}

- name: Restore acme's backup as a new tenant (a copy, for an audit)
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme_audit
    from_backup:
      bucket: erp-backups-tier1
      key: odoo/acme/acme_20261123T120000Z.zip
    owner: odoo_fleet_a
    base_url: https://acme-audit.erp.example.com
    neutralize: true
    filestore_root: /var/lib/odoo/filestore
    s3_endpoint_url: https://s3.example.com

- name: Remove acme after its final backup
  sysgenpro.odoo_ops.odoo_tenant:
    name: acme
    state: absent
    final_backup: "{{ acme_final_backup }}"
    filestore_root: /var/lib/odoo/filestore
"""

RETURN = r"""
steps:
  description: The same as RV(actions) (with O(tenants), each prefixed with the tenant's name).
  returned: always
  type: list
  elements: str
  sample: ["create database acme from template golden_18 (strategy wal_log)"]
tenants:
  description: With O(tenants), one result per entry (the keys below, plus C(name) and C(changed)).
  returned: when tenants is given
  type: list
  elements: dict
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["create database acme from template golden_18 (strategy wal_log)", "revoke CONNECT on acme from PUBLIC"]
diff:
  description: The tenant's state before and after.
  returned: always
  type: dict
origin:
  description: Where a new tenant came from, whether it is a copy, and how many sessions were cut.
  returned: when the tenant was created
  type: dict
  sample: {template: golden_18, copy: true, sessions_cut: 0}
sessions_cut:
  description: Sessions cut by O(state=suspended).
  returned: when state is suspended
  type: int
neutralized:
  description: What neutralization changed.
  returned: when neutralization ran
  type: list
  elements: str
removed:
  description: What O(state=absent) removed, with sizes.
  returned: when state is absent and something was removed
  type: dict
  sample: {database: acme, database_bytes: 20971520, filestore: /var/lib/odoo/filestore/acme, filestore_bytes: 10485760, role: null}
admin_login:
  description: The login of Odoo's administrator whose password was set (or found already set).
  returned: when admin_password or admin_password_file is given
  type: str
  sample: admin
code_objects:
  description: Functions, triggers, rules and policies a restored or copied database holds (they run with its owner's rights).
  returned: when a restored or copied database holds any
  type: list
  elements: str
strategy:
  description: How a new database was filled (dump, wal_log or file_copy).
  returned: when the tenant was created from a template or source
  type: str
final_backup:
  description: How the final backup was checked.
  returned: when state is absent and something was removed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import s3_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.lifecycle import PER_TENANT_OPTIONS, manage_tenants
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import signing_argument_spec

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    tenants=dict(type="list", elements="dict", options=PER_TENANT_OPTIONS),
    state=dict(type="str", choices=["present", "suspended", "absent", "template"], default="present"),
    template=dict(type="str"),
    source=dict(type="str"),
    from_backup=dict(
        type="dict",
        options=dict(
            bucket=dict(type="str", required=True),
            key=dict(type="str", required=True, no_log=False),
            jobs=dict(type="int", default=1),
            allow_unsigned=dict(type="bool", default=False),
        ),
    ),
    pg_bin_dir=dict(type="path"),
    odoo_addons_path=dict(type="list", elements="path"),
    lock_timeout=dict(type="int", default=120),
    copy=dict(type="bool", default=True),
    terminate_connections=dict(type="bool", default=False),
    strategy=dict(type="str", choices=["dump", "file_copy", "wal_log"]),
    base_url=dict(type="str"),
    freeze_base_url=dict(type="bool", default=True),
    neutralize=dict(type="bool", default=False),
    pattern=dict(type="str", choices=["shared", "dedicated"]),
    tier=dict(type="int", choices=[1, 2, 3]),
    owner=dict(type="str"),
    owner_password=dict(type="str", no_log=True),
    owner_password_file=dict(type="path", no_log=False),
    admin_password=dict(type="str", no_log=True),
    admin_password_file=dict(type="path", no_log=False),
    connection_limit=dict(type="int"),
    statement_timeout=dict(type="int"),
    filestore_root=dict(type="path"),
    source_filestore_root=dict(type="path"),
    filestore_copy=dict(type="str", choices=["copy", "hardlink"], default="copy"),
    filestore_owner=dict(type="str"),
    filestore_group=dict(type="str"),
    final_backup=dict(type="dict"),
    final_backup_max_age=dict(type="int", default=3600),
    force=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(postgres_argument_spec())
ARGUMENT_SPEC.update(s3_argument_spec())
ARGUMENT_SPEC.update(signing_argument_spec())


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("name", "tenants")],
        mutually_exclusive=[
            ("name", "tenants"),
            ("template", "source", "from_backup"),
            ("owner_password", "owner_password_file"),
            ("admin_password", "admin_password_file"),
        ],
    )
    run_module(
        module,
        lambda resources: manage_tenants(resources.enter_context(Postgres(module.params)), module.params, module.check_mode, module.warn),
        needs=["psycopg2"],
    )


if __name__ == "__main__":
    main()
