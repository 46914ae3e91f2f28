# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant out of a shared cluster, back to a point in time, while the other tenants keep running.

The whole cluster is restored beside the live one and left paused at the target (read-only, never
promoted into service); the tenant's database is copied from it into the live cluster under a new
name (`pg_dump -Fd --jobs` from the paused copy, which no one writes; then `pg_restore --jobs`); on request the names are swapped, the damaged database kept as
`<tenant>_pre_pitr_<UTC time>` for forensics. The filestore comes from the tenant's newest logical
backup at or before the restored point: attachments are content-addressed, so files the restored
database needs but that backup lacks are reported, never invented. The side cluster is always
stopped and removed.
"""

import datetime
import os
import shutil
import subprocess
import tempfile

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import FilestoreBuild
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import list_backups, signing_keys
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.restore import BackupSource, restore_custom
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import parse_time
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.restore import PitrRestore
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError, sql
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_absolute_path, check_tenant_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.database import OdooDatabase
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import (
    MANAGED_BY,
    allow_connections,
    drop_database,
    observe_database,
    record_metadata,
    revoke_public,
    swap_in,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.programs import program_env
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.session import SessionRole


class TenantPitr:
    def __init__(self, pg, pgbackrest, store, params):
        self.pg, self.store, self.p = pg, store, params
        self.tenant = check_tenant_name(params["tenant"], "tenant")
        self.restored = check_tenant_name(params.get("restored_name") or "%s_pitr" % self.tenant, "restored_name")
        self.work_dir = check_absolute_path(params["work_dir"], "work_dir")
        if params.get("filestore_root"):
            check_absolute_path(params["filestore_root"], "filestore_root")
        side = os.path.join(self.work_dir, "%s_pitr_side" % self.tenant)
        self.cluster = PitrRestore(
            pgbackrest,
            dict(params, data_dir=side, action="pause", mode="side_by_side", force=False, confirm=False),
            label="the side cluster's folder (in work_dir)",
        )
        self.report = {"tenant": self.tenant, "restored_database": self.restored, "swapped": False}

    def plan(self):
        if self.p["swap"] and not self.p["confirm"]:
            raise Refused("swap replaces live tenant %s by the restored copy: it needs confirm: true" % self.tenant)
        if self.p["swap"]:  # the forensic name must fit before anything is restored
            check_tenant_name("%s_pre_pitr_%s" % (self.tenant, "20260101t000000z"), "forensic name of %s" % self.tenant)
        if not os.path.isdir(self.work_dir):
            raise Refused("work_dir %s does not exist" % self.work_dir)
        live = observe_database(self.pg, self.tenant)
        if not live["exists"]:
            raise Refused("tenant %s does not exist on %s" % (self.tenant, self.pg.where))
        restored = observe_database(self.pg, self.restored)
        earlier = self._earlier_restore(live if self.p["swap"] else restored)
        if earlier:
            self.report.update(done_before=earlier, swapped=bool(self.p["swap"]))
            return self.report
        if restored["exists"]:
            raise Refused("database %s already exists on %s: give another restored_name or remove it" % (self.restored, self.pg.where))
        self.owner, self.live = live["owner"], live
        if self.p.get("filestore_root"):
            target = os.path.join(self.p["filestore_root"], self.restored)
            if os.path.exists(target):
                raise Refused("filestore %s already exists" % target)
            if not self.p.get("bucket"):
                raise Refused("filestore_root needs bucket: the filestore comes from the tenant's logical backups")
            self.store.check_bucket(self.p["bucket"])
        if self.cluster.plan():
            raise Refused("%s holds an earlier restore: remove it first" % self.cluster.dest)
        self.report.update(cluster=self.cluster.report, owner=self.owner)
        return self.report

    def _stamp(self):
        """What the restored database records of this restore, so that the same request again is a no-op."""
        return {"target": self.cluster.target_report(), "stanza": self.cluster.pgbr.stanza}

    def _earlier_restore(self, state):
        """The record of an identical earlier restore in a database's metadata (the live tenant after a
        swap, the restored copy without one), or None."""
        recorded = ((state.get("metadata") or {}) if state.get("exists") else {}).get("pitr") or {}
        stamp = self._stamp()
        return recorded if all(recorded.get(k) == v for k, v in stamp.items()) else None

    def apply(self):
        created, built, filler = False, None, None
        try:
            self.cluster.apply()
            reached = (
                parse_time(self.cluster.report["last_replay_ts"]) if self.cluster.report.get("last_replay_ts") else datetime.datetime.now(datetime.timezone.utc)
            )
            # The copy is filled by a session role that owns only it, then handed to the tenant's owner.
            filler = SessionRole(self.pg)
            filler.create()
            filler.create_database(self.restored)
            created = True
            self._copy_database(filler)
            filler.hand_over(self.restored, self.owner)
            filler.drop()
            filler = None
            self._copy_database_settings()
            if self.p.get("filestore_root"):
                built = self._restore_filestore(reached)
            self.report["rows_after_target"] = self._rows_after_target()
            if self.p["swap"]:
                self._swap(built)
            elif built:
                built.commit()
                self.report["filestore"]["path"] = built.target
        except BaseException:
            if built:
                built.discard()
            if filler is not None:
                filler.drop()  # and the half-filled database it owns
            elif created and not self.report["swapped"]:
                drop_database(self.pg, self.restored)
            raise
        finally:
            self.cluster.discard()  # the side cluster never outlives the task
        self.report["side_cluster_removed"] = not os.path.exists(self.cluster.dest)
        return self.report

    def _copy_database_settings(self):
        """The tenant's isolation, limits and odoo_tenant metadata, so the copy is guarded like the tenant."""
        live = self.live
        name = sql.Identifier(self.restored)
        if not live["public_connect"]:
            revoke_public(self.pg, self.restored)
        self.pg.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(name, sql.Literal(live["connection_limit"])))
        if live["statement_timeout"]:
            self.pg.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = {}").format(name, sql.Literal(live["statement_timeout"])))
        metadata = dict(live.get("metadata") or {"managed_by": MANAGED_BY, "tenant": self.tenant})
        metadata["pitr"] = dict(self._stamp(), backup_set=self.cluster.report.get("backup_set"), reached=self.cluster.report.get("last_replay_ts"))
        record_metadata(self.pg, self.restored, metadata)

    def _rows_after_target(self):
        """{table: rows of the damaged database with an id above the restored one's highest}: what the
        restore gives up, for the report. A suspended tenant is opened for the count and closed again."""
        reopen = not self.live["allow_connections"]
        try:
            if reopen:
                allow_connections(self.pg, self.tenant, True)
            # Plain tables without row-level security only: their reading runs no code of the tenant's.
            tables = (
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' AND a.atttypid IN "
                "('int4'::regtype, 'int8'::regtype) WHERE n.nspname = 'public' AND c.relkind = 'r' "
                "AND NOT c.relrowsecurity ORDER BY 1"
            )
            highest = {}
            for (table,) in self.pg.query(tables, dbname=self.restored):
                highest[table] = self.pg.query(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier("public", table)), dbname=self.restored)[0][
                    0
                ]
            after = {}
            for (table,) in self.pg.query(tables, dbname=self.tenant):
                count = self.pg.query(
                    sql.SQL("SELECT count(*) FROM {} WHERE id > %s").format(sql.Identifier("public", table)), (highest.get(table, 0),), dbname=self.tenant
                )[0][0]
                if count:
                    after[table] = count
            return after
        except PostgresError as exc:
            return {"unreadable": str(exc)}
        finally:
            self.pg.close(self.tenant)
            self.pg.close(self.restored)
            if reopen:
                allow_connections(self.pg, self.tenant, False)

    def _copy_database(self, filler):
        dump_dir = tempfile.mkdtemp(prefix=".%s-dump-" % self.tenant, dir=self.work_dir)
        try:
            side = {"PGHOST": self.cluster.dest, "PGPORT": str(self.p["port"]), "PGUSER": self.p["copy_user"]}
            done = subprocess.run(
                [
                    os.path.join(self.p["pg_bin_dir"], "pg_dump"),
                    "--format=directory",
                    "--jobs=%d" % self.p["jobs"],
                    "--no-owner",
                    "--file=%s" % os.path.join(dump_dir, "db"),
                    "--dbname=%s" % self.tenant,
                ],
                capture_output=True,
                text=True,
                env=program_env(side),
                timeout=self.p["wait_timeout"],
                check=False,
            )
            if done.returncode != 0:
                raise OperationFailed("pg_dump of %s from the restored cluster failed: %s" % (self.tenant, done.stderr[-800:]))
            restore_custom(filler, os.path.join(dump_dir, "db"), self.restored, self.p["jobs"], self.p["pg_bin_dir"])
        finally:
            shutil.rmtree(dump_dir, ignore_errors=True)

    def _restore_filestore(self, reached):
        keys = signing_keys(self.p)
        backups = [b for b in list_backups(self.store, self.p["bucket"], self.p["key_prefix"], self.tenant, keys) if b["verified"] and b["created"] <= reached]
        build = FilestoreBuild(self.p["filestore_root"], self.restored)
        if not backups:
            build.stage()
            self.report["filestore"] = {
                "backup": None,
                "note": "no verified logical backup of %s at or before %s: empty filestore" % (self.tenant, reached.isoformat()),
            }
        else:
            chosen = backups[-1]
            source = BackupSource(self.store, {"bucket": self.p["bucket"], "key": chosen["key"]}, keys, tenant=self.tenant)
            source.check()
            try:
                if source.format == "zip":  # a zip's central directory is at its end: it is read from disk
                    source.download(self.work_dir)
                    source.check_archive()
                source.stage_filestore(build)
            finally:
                source.discard()
            self.report["filestore"] = {"backup": chosen["key"], "backup_created": chosen["created"].isoformat()}
        self.report["filestore"]["missing"] = self._missing_files(build.staging)
        return build

    def _missing_files(self, staging):
        """Attachments the restored database names but the backup's filestore lacks (never invented)."""
        try:
            odoo = OdooDatabase(self.pg, self.restored)
            rows = odoo.pg.query(
                sql.SQL("SELECT DISTINCT store_fname FROM {} WHERE store_fname IS NOT NULL AND store_fname <> ''").format(odoo.table("ir_attachment")),
                dbname=self.restored,
            )
        finally:
            self.pg.close(self.restored)  # a rename needs the database without sessions
        return sorted(name for (name,) in rows if not os.path.isfile(os.path.join(staging, name)))

    def _swap(self, built):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        forensic = check_tenant_name("%s_pre_pitr_%s" % (self.tenant, stamp.lower()), "forensic name")
        swap_in(self.pg, self.tenant, self.restored, forensic)
        if not self.live["allow_connections"]:  # a suspended tenant comes back suspended: resume is a decision
            allow_connections(self.pg, self.tenant, False)
        self.report.update(swapped=True, forensic_database=forensic)
        if built:
            root = self.p["filestore_root"]
            live = os.path.join(root, self.tenant)
            if os.path.isdir(live):
                os.rename(live, os.path.join(root, forensic))
            built.target = live
            built.commit()
            self.report["filestore"]["path"] = live
