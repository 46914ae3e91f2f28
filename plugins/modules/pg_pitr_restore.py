#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pg_pitr_restore
short_description: Point-in-time recovery of a PostgreSQL cluster with pgBackRest, side by side, proven
version_added: 0.1.0
description:
  - Restores a cluster backed up by pgBackRest (see the C(sysgenpro.odoo_ops.pg_backup) role) to a
    point in time, a transaction, an LSN, a restore point, the end of a backup or the end of the
    archive, into a new data directory on its own port (O(mode=side_by_side)), or over the stopped
    cluster itself (O(mode=in_place), which needs O(confirm)).
  - "Pre-checks, which are also all that check mode does: the target normalised (a time needs a
    date, a time and a zone; it is given to PostgreSQL as C(YYYY-MM-DD HH:MM:SS+00)); the backup chosen
    (for time and LSN targets, the newest one that ended before the target; xid and name targets need
    O(backup_set)); the target not before that backup's end (PostgreSQL would silently stop there)
    nor in the future; the destination absolute, new or empty, apart from every other data directory
    and from pgBackRest's local folders, writable; the port free; PostgreSQL's programs of the backup's
    version; enough disk for the backup. Anything an operator can get wrong ends in a failure naming
    it, with nothing changed."
  - The copy fetches WAL with its own asynchronous C(archive-get) (own spool, lock and log folders in
    O(data_dir)) whether or not the repository's configuration enables C(archive-async).
  - The copy runs with archiving off (it never archives into the source's repository) and no
    replication settings. Its C(restore_command) is wrapped so that a repository error aborts
    recovery instead of looking like the end of the archive (which would promote early).
  - Success is proven, not assumed - the server promoted or paused, the C(recovery stopping ...) line
    in its log, and for a time target its last replayed commit at or before the target. A recovery
    that fails (the archive ends before the target, a repository error, a timeout) is stopped, its
    directory removed, and the error quotes the server's log.
  - A stamp in the destination makes the task idempotent - the same target and backup again is
    C(changed=false) unless O(force), which replaces an earlier restore made by this module.
  - Run it as the PostgreSQL OS user (C(become_user=postgres)); PostgreSQL refuses to run as root.
  - With O(engine=cloudnativepg) it renders a new CloudNativePG C(Cluster) that bootstraps from the
    source's object store with the same target (normalised and checked the same way), and returns
    it in RV(resources) to apply with M(kubernetes.core.k8s). Nothing is written there and
    C(changed) is false.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
  - sysgenpro.odoo_ops.pitr
attributes:
  check_mode:
    details: Runs the pre-checks and reports the plan (target, backup, stop time, archive end); restores nothing.
  diff_mode:
    support: full
    details: The restore O(data_dir) holds before and after (stanza, target, backup, action, mode), from the same plan in check mode and in a real run.
options:
  engine:
    description: C(pgbackrest) restores here; C(cloudnativepg) renders a recovery C(Cluster) for Kubernetes.
    type: str
    choices: [pgbackrest, cloudnativepg]
    default: pgbackrest
  cnpg:
    description: The recovery cluster, for O(engine=cloudnativepg).
    type: dict
    suboptions:
      cluster_name:
        description: Name of the new cluster (recovery never reuses the source's).
        type: str
        required: true
      namespace:
        description: Its namespace.
        type: str
        required: true
      source_cluster:
        description: The source cluster's name (its C(serverName) in the object store).
        type: str
        required: true
      barman_object_name:
        description: The Barman Cloud plugin's C(ObjectStore) holding the source's backups.
        type: str
      destination_path:
        description: In-tree object store instead of the plugin - the source's C(destinationPath) (C(s3://bucket/path)).
        type: str
      endpoint_url:
        description: S3 endpoint of the in-tree object store.
        type: str
      endpoint_ca_secret:
        description: Secret with the object store's CA (key C(ca.crt)).
        type: str
      credentials_secret:
        description: Secret with C(ACCESS_KEY_ID) and C(ACCESS_SECRET_KEY) for the in-tree object store.
        type: str
      wal_max_parallel:
        description: WAL files fetched in parallel.
        type: int
        default: 8
      instances:
        description: Instances of the new cluster.
        type: int
        default: 1
      storage_size:
        description: Storage of each instance.
        type: str
        default: 10Gi
      image_name:
        description: PostgreSQL image, when not the operator's default.
        type: str
  data_dir:
    description:
      - The destination data directory, an absolute path; new or empty for O(mode=side_by_side), the
        cluster's own for O(mode=in_place). Required for O(engine=pgbackrest).
      - Refused - a relative path; one inside, equal to or holding another PostgreSQL data directory (a
        folder with C(postmaster.pid), or C(PG_VERSION) and C(global/)), every parent looked at and
        symlinks resolved (the stopped cluster itself in place, or an earlier restore of this module,
        excepted); one inside, equal to or holding a local pgBackRest repository path (C(posix) or
        C(cifs) repositories) or the spool path; characters that C(restore_command) cannot carry
        unquoted (white space, quotes, C(%), C($), shell characters).
    type: path
  port:
    description:
      - Port of the restored server, 1 to 65535 (its socket is in O(data_dir); it listens on no TCP
        address). Refused when something listens on it on 127.0.0.1.
    type: int
  action:
    description:
      - What the server does at the target. C(pause) leaves it read-only in recovery, to inspect
        and decide; C(promote) makes it writable (drills, cut-overs). A C(latest) target always
        promotes - PostgreSQL applies the action only at a target.
    type: str
    choices: [pause, promote]
    default: pause
  mode:
    description: C(side_by_side) restores into a new directory; C(in_place) over the stopped cluster (destructive).
    type: str
    choices: [side_by_side, in_place]
    default: side_by_side
  confirm:
    description: Required for O(mode=in_place).
    type: bool
    default: false
  force:
    description: Restore again over an earlier restore of this module in O(data_dir), even for the same target.
    type: bool
    default: false
requirements:
  - pgBackRest and PostgreSQL 15 on the host that runs the module
  - psycopg2
"""

EXAMPLES = r"""
- name: Restore the production cluster beside itself, to just before a bad deployment
  sysgenpro.odoo_ops.pg_pitr_restore:
    stanza: prod
    pgbackrest_config: /etc/pgbackrest/pgbackrest.conf
    target:
      type: time
      value: "2026-11-23T09:59:30+01:00"
    data_dir: /var/lib/postgresql/15/pitr
    port: 5499
    action: pause
    switch_wal_conninfo: "host=/var/run/postgresql dbname=postgres"
  become: true
  become_user: postgres
  register: pitr

- name: The same, with the repository given as options (the secrets apart, no_log)
  sysgenpro.odoo_ops.pg_pitr_restore:
    stanza: prod
    pgbackrest_options:
      repo1-type: s3
      repo1-s3-endpoint: s3.example.com
      repo1-s3-bucket: erp-pgbackrest
      repo1-s3-region: eu-west-1
      repo1-path: /pgbackrest/prod
      repo1-cipher-type: aes-256-cbc
    pgbackrest_secrets:
      repo1-s3-key: "{{ vault_pgbackrest_s3_key }}"
      repo1-s3-key-secret: "{{ vault_pgbackrest_s3_key_secret }}"
      repo1-cipher-pass: "{{ vault_pgbackrest_cipher_pass }}"
    target:
      type: time
      value: "2026-11-23T09:59:30+01:00"
    data_dir: /var/lib/postgresql/15/pitr
    port: 5499
  become: true
  become_user: postgres

- name: Render a CloudNativePG cluster restored to the same point
  sysgenpro.odoo_ops.pg_pitr_restore:
    engine: cloudnativepg
    target:
      type: time
      value: "2026-11-23T09:59:30+01:00"
    cnpg:
      cluster_name: erp-pitr
      namespace: erp
      source_cluster: erp
      barman_object_name: erp-backups
  register: cnpg_pitr

- name: Apply it
  kubernetes.core.k8s:
    definition: "{{ cnpg_pitr.resources }}"

- name: Say how long it took (RTO evidence)
  ansible.builtin.debug:
    msg: "{{ pitr.stop_reason }} in {{ pitr.durations.total }} s"
"""

RETURN = r"""
steps:
  description: The restore's phases; empty when an identical restore is in place already or for O(engine=cloudnativepg) (rendered only).
  returned: always
  type: list
  elements: str
  sample: ["restore main into /var/lib/postgresql/pitr (side_by_side)", "start it and replay to the target (pause)"]
diff:
  description: The restore O(data_dir) holds before and after (empty for O(engine=cloudnativepg)).
  returned: always
  type: dict
  sample: {before: {data_dir: /srv/pitr, restore: null}, after: {data_dir: /srv/pitr, restore: {stanza: main, backup_set: 20261123-120000F}}}
reached_target:
  description: Whether the target was reached, proven by the log line and the replay timestamp.
  returned: success
  type: bool
stop_reason:
  description: The server's C(recovery stopping ...) log line.
  returned: success
  type: str
  sample: "recovery stopping before commit of transaction 1234, time 2026-11-23 09:59:30.12+00"
last_replay_ts:
  description: The last replayed commit's time.
  returned: success
  type: str
last_replay_epoch:
  description: The same time in seconds since the epoch (for arithmetic, such as an RPO).
  returned: success
  type: float
timeline:
  description: The restored server's timeline.
  returned: success
  type: int
state:
  description: C(promoted) or C(paused).
  returned: success
  type: str
target:
  description: The normalised target.
  returned: always
  type: dict
backup_set:
  description: The backup restored.
  returned: engine is pgbackrest
  type: str
backup_stop:
  description: When that backup ended.
  returned: engine is pgbackrest
  type: str
archive_max:
  description: The newest WAL segment in the repository's archive before the restore.
  returned: engine is pgbackrest
  type: str
data_dir:
  description: The destination.
  returned: engine is pgbackrest
  type: str
port:
  description: The restored server's port.
  returned: engine is pgbackrest
  type: int
log_file:
  description: The restored server's log.
  returned: success
  type: str
replaces:
  description: With O(force), what the replaced earlier restore was (stanza, target, backup, action, mode).
  returned: when an earlier restore was replaced
  type: dict
resources:
  description: The rendered C(Cluster) (O(engine=cloudnativepg)).
  returned: engine is cloudnativepg
  type: list
  elements: dict
durations:
  description: Seconds spent restoring files, replaying WAL, and in all - the RTO evidence.
  returned: success
  type: dict
  sample: {restore: 4.2, replay: 1.9, total: 6.1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import reporting, run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.cnpg import recovery_cluster
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import PgBackRest, misplaced_secrets
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import normalize_target
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.restore import PitrRestore, pitr_argument_spec

CNPG_OPTIONS = dict(
    cluster_name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    source_cluster=dict(type="str", required=True),
    barman_object_name=dict(type="str"),
    destination_path=dict(type="str"),
    endpoint_url=dict(type="str"),
    endpoint_ca_secret=dict(type="str", no_log=False),
    credentials_secret=dict(type="str", no_log=False),
    wal_max_parallel=dict(type="int", default=8),
    instances=dict(type="int", default=1),
    storage_size=dict(type="str", default="10Gi"),
    image_name=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    engine=dict(type="str", choices=["pgbackrest", "cloudnativepg"], default="pgbackrest"),
    cnpg=dict(type="dict", options=CNPG_OPTIONS),
    data_dir=dict(type="path"),
    port=dict(type="int"),
    action=dict(type="str", choices=["pause", "promote"], default="pause"),
    mode=dict(type="str", choices=["side_by_side", "in_place"], default="side_by_side"),
    confirm=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(pitr_argument_spec())


def render_cnpg(params):
    """A CloudNativePG recovery Cluster: rendered, applied by kubernetes.core.k8s (nothing changes here)."""
    target = normalize_target(params["target"])
    report = dict(
        target={k: target[k] for k in ("type", "value", "inclusive", "timeline")},
        resources=[recovery_cluster(target, params["cnpg"], params.get("backup_set"))],
    )
    return plan_result(report, False, [], {}, {})


def restore(params, check_mode):
    """The restore's plan (check mode, or an identical earlier restore: nothing to do) or its result;
    its report so far goes with a failure."""
    pitr = PitrRestore(PgBackRest(params), params)
    with reporting(lambda: pitr.report):
        earlier = pitr.plan()
        diff = pitr.diff(earlier)
        steps = (
            []
            if earlier
            else [
                "restore %s into %s (%s)" % (params["stanza"], params["data_dir"], params["mode"]),
                "start it and replay to the target (%s)" % params["action"],
            ]
        )
        if earlier:
            return plan_result({k: v for k, v in earlier.items() if k != "key"}, False, steps, diff["before"], diff["after"])
        return plan_result(pitr.report if check_mode else pitr.apply(), True, steps, diff["before"], diff["after"])


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("engine", "pgbackrest", ("stanza", "data_dir", "port")), ("engine", "cloudnativepg", ("cnpg",))],
    )
    # A secret given among the ordinary options is refused (PgBackRest); masked first, so the refusal
    # and every result of this run show it as ******** too.
    module.no_log_values.update(misplaced_secrets(module.params))
    if module.params["engine"] == "cloudnativepg":
        run_module(module, lambda resources: render_cnpg(module.params))
    why = "PostgreSQL refuses to run as root"
    run_module(module, lambda resources: restore(module.params, module.check_mode), needs=["psycopg2"], not_as_root=("pg_pitr_restore", why))


if __name__ == "__main__":
    main()
