# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_verify's `restore` level: a throwaway restore, then integrity and Odoo checks, then cleanup.

Logical: the tenant backup - authenticated by its signed sidecar, read at its recorded versions -
goes into a temporary database on the verification server, filled by a session role that owns
nothing but that database (its dump in one transaction that stops at the first error, psql behind
\\restrict, or pg_restore --exit-on-error), and its filestore into a temporary folder; the Odoo
checks read it as that role too, so a drill never runs a backup's SQL with the admin's rights.
Physical: the pgBackRest stanza is restored beside the live cluster with pg_pitr_restore's
machinery, promoted, proven to have reached its target and, for `latest`, to have replayed the
archive to its end; its Odoo databases are read by session roles with their owners' rights. Then: pg_amcheck --heapallindexed, pg_checksums --check
(physical, when data checksums are on), and Odoo assertions - base installed, an active admin user,
every attachment's file present with the SHA-1 its name and checksum say. Whatever happens, the
temporary database, folders and server are removed.
"""

import hashlib
import os
import re
import secrets
import subprocess
import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import FilestoreBuild
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.restore import BackupSource
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import parse_time
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.restore import PitrRestore, wal_name_key
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import signing_keys
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.session import OwnerSessions, SessionRole
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import CheckFailed

RESTORED_SEGMENT_RE = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
ADMIN_SQL = (
    "SELECT login, active FROM public.res_users WHERE id = coalesce((SELECT res_id FROM public.ir_model_data "
    "WHERE module = 'base' AND name = 'user_admin'), (SELECT id FROM public.res_users WHERE login = 'admin'))"
)


def throwaway_name(kind):
    return "odoo_ops_verify_%s_%s" % (kind, secrets.token_hex(4))


def amcheck(pg, dbname, pg_bin_dir):
    """pg_amcheck --heapallindexed on one database ('*': all); corruption raises CheckFailed."""
    argv = [
        os.path.join(pg_bin_dir, "pg_amcheck"),
        "--heapallindexed",
        "--install-missing",
        "--no-password",
        "--host=%s" % pg.host,
        "--port=%d" % pg.port,
        "--username=%s" % pg.user,
    ]
    argv += ["--all"] if dbname == "*" else ["--database=%s" % dbname]
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **pg.client_env()), timeout=3600, check=False)
    output = pg.safe((done.stdout + done.stderr).strip())
    if done.returncode == 0:
        return "pg_amcheck --heapallindexed: no corruption"
    if "permission denied to create extension" in output:
        return "not run: installing amcheck needs a superuser (verify as one, or install amcheck in the server)"
    raise CheckFailed("pg_amcheck found corruption (exit %d): %s" % (done.returncode, " | ".join(output.splitlines()[:8])))


def odoo_checks(checks, subject, pg, dbname, filestore=None):
    """Odoo assertions on a restored database; the attachments' files when a filestore folder is given."""
    with checks.run("restore.odoo_base", subject) as entry:
        rows = pg.query("SELECT state, latest_version FROM public.ir_module_module WHERE name = 'base'", dbname=dbname)
        if not rows or rows[0][0] != "installed":
            raise CheckFailed("%s: module base is %s" % (dbname, rows[0][0] if rows else "absent"))
        entry["detail"] = "%s: base %s installed" % (dbname, rows[0][1])
    with checks.run("restore.odoo_admin", subject) as entry:
        rows = pg.query(ADMIN_SQL, dbname=dbname)
        if not rows or not rows[0][1]:
            raise CheckFailed("%s: no active admin user (%s)" % (dbname, "archived" if rows else "absent"))
        entry["detail"] = "%s: admin user %s active" % (dbname, rows[0][0])
    if filestore is None:
        return
    with checks.run("restore.attachments", subject) as entry:
        entry["detail"] = attachment_problems(pg, dbname, filestore)


def attachment_problems(pg, dbname, filestore):
    rows = pg.query(
        "SELECT store_fname, array_agg(DISTINCT checksum) FROM public.ir_attachment WHERE store_fname IS NOT NULL GROUP BY store_fname ORDER BY 1",
        dbname=dbname,
    )
    missing, altered = [], []
    for store_fname, sums in rows:
        path = os.path.join(filestore, store_fname)
        if not os.path.isfile(path):
            missing.append(store_fname)
            continue
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
        if digest.hexdigest() != os.path.basename(store_fname) or any(s and s != digest.hexdigest() for s in sums):
            altered.append("%s (content SHA-1 %s)" % (store_fname, digest.hexdigest()))
    problems = []
    if missing:
        problems.append("%d attachment file(s) missing from the backup's filestore: %s" % (len(missing), ", ".join(missing[:10])))
    if altered:
        problems.append("%d attachment file(s) whose content no longer matches their SHA-1: %s" % (len(altered), ", ".join(altered[:10])))
    if problems:
        raise CheckFailed("%s: %s" % (dbname, "; ".join(problems)))
    return "%s: %d attachment files present, each with the SHA-1 of its name" % (dbname, len(rows))


class LogicalRestore:
    """A tenant backup restored into a temporary database and folder of the verification server."""

    def __init__(self, pg, store, params, checks):
        self.pg, self.store, self.p, self.checks = pg, store, params, checks
        self.tenant = params["name"]

    def run(self, backup, figures):
        name = throwaway_name(self.tenant)[:63]
        source = BackupSource(self.store, {"bucket": self.p["bucket"], "key": backup["key"]}, signing_keys(self.p), tenant=self.tenant)
        build = FilestoreBuild(self.p["work_dir"], name)
        filler = SessionRole(self.pg)
        try:
            with self.checks.run("restore.logical", self.tenant) as entry:
                started = time.monotonic()
                source.check()
                source.download(self.p["work_dir"])
                filler.create()
                filler.create_database(name)
                source.restore_into(filler, name, self.p["jobs"], self.p["pg_bin_dir"])
                files = source.stage_filestore(build)
                figures["restore_seconds"] = round(time.monotonic() - started, 3)
                entry["detail"] = "%s restored in %.1f s (%d filestore files)" % (backup["key"], figures["restore_seconds"], files)
            if self.checks.items[-1]["ok"]:
                with self.checks.run("restore.amcheck", self.tenant) as entry:
                    # amcheck runs index expressions as the table's owner (a security-restricted operation).
                    entry["detail"] = amcheck(self.pg, name, self.p["pg_bin_dir"])
                odoo_checks(self.checks, self.tenant, filler.client(), name, build.staging)
        finally:
            source.discard()
            build.discard()
            filler.drop()  # the temporary database with it


class PhysicalRestore:
    """A pgBackRest stanza restored beside the live cluster, checked, then stopped and removed."""

    def __init__(self, pgbackrest, params, checks):
        self.pgbr, self.p, self.checks = pgbackrest, params, checks
        self.stanza = pgbackrest.stanza

    def run(self, figures, port):
        dest = os.path.join(self.p["work_dir"], throwaway_name(self.stanza))
        restore = PitrRestore(
            self.pgbr,
            {
                "data_dir": dest,
                "port": port,
                "target": self.p["target"],
                "action": "promote",
                "mode": "side_by_side",
                "confirm": False,
                "force": False,
                "backup_set": self.p.get("backup_set"),
                "switch_wal_conninfo": self.p.get("switch_wal_conninfo"),
                "wait_timeout": self.p["wait_timeout"],
                "copy_user": self.p["copy_user"],
                "pg_bin_dir": self.p["pg_bin_dir"],
            },
        )
        try:
            with self.checks.run("restore.physical", self.stanza) as entry:
                restore.plan()
                report = restore.apply()
                figures["restore_seconds"] = report["durations"]["total"]
                figures["backup"] = report["backup_set"]
                if report.get("last_replay_ts"):
                    figures["backup_age_seconds"] = int(time.time() - parse_time(report["last_replay_ts"]).timestamp())
                entry["detail"] = self._reached(restore, report)
            if self.checks.items[-1]["ok"]:
                self._integrity(restore, dest, port)
        finally:
            restore.discard()

    def _reached(self, restore, report):
        """For `latest`, PostgreSQL ends recovery at the first segment it cannot fetch - also at a
        gap - and promotes: the replay must reach the archive's last segment."""
        if self.p["target"]["type"] != "latest":
            return "target reached: %s" % report["stop_reason"]
        replayed = RESTORED_SEGMENT_RE.findall(restore.log_text())
        last = max(replayed, key=wal_name_key) if replayed else None
        if report.get("archive_max") and wal_name_key(last) < wal_name_key(report["archive_max"]):
            raise CheckFailed(
                "recovery ended at WAL %s but the archive reaches %s: a segment is missing or unreadable, "
                "so a restore would silently lose what follows" % (last, report["archive_max"])
            )
        return "backup %s restored and the archive replayed to its end (%s) in %.1f s" % (report["backup_set"], last, report["durations"]["total"])

    def _integrity(self, restore, dest, port):
        copy = Postgres({"login_unix_socket": dest, "login_port": port, "login_user": self.p["copy_user"]})
        try:
            checksums = copy.query("SHOW data_checksums")[0][0] == "on"
            with self.checks.run("restore.amcheck", self.stanza) as entry:
                entry["detail"] = amcheck(copy, "*", self.p["pg_bin_dir"])
            databases = copy.query("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1")
            # The copy's superuser never reads a tenant's tables: a session role with each owner's rights does.
            readers = OwnerSessions(copy)
            try:
                for dbname, owner in databases:
                    if self.p.get("databases") and dbname not in self.p["databases"]:
                        continue
                    if copy.query("SELECT to_regclass('public.ir_module_module')", dbname=dbname)[0][0]:
                        odoo_checks(self.checks, self.stanza, readers.client(owner), dbname)
            finally:
                readers.close()
        finally:
            copy.close()
        if checksums:
            with self.checks.run("restore.checksums", self.stanza) as entry:
                entry["detail"] = self._checksums(dest)

    def _checksums(self, dest):
        """pg_checksums --check needs the copy cleanly stopped."""
        bin_dir = self.p["pg_bin_dir"]
        subprocess.run([os.path.join(bin_dir, "pg_ctl"), "-D", dest, "-m", "fast", "-w", "-t", "120", "stop"], capture_output=True, timeout=180, check=False)
        done = subprocess.run([os.path.join(bin_dir, "pg_checksums"), "--check", "-D", dest], capture_output=True, text=True, timeout=3600, check=False)
        if done.returncode != 0:
            lines = [line for line in (done.stdout + done.stderr).splitlines() if "checksum" in line.lower()]
            raise CheckFailed("pg_checksums --check failed (exit %d): %s" % (done.returncode, " | ".join(lines[:8])))
        found = re.search(r"Blocks scanned:\s+(\d+)", done.stdout)
        return "pg_checksums: %s blocks, no bad checksum" % (found.group(1) if found else "all")
