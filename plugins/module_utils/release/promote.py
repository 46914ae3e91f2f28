# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release promoted to an environment's tenants (module odoo_release): the gates (previous
environment, freeze windows), the module update Odoo itself runs on each tenant's database, the
release recorded in the tenant's metadata and in the environment's evidence, and the swap that puts
a tenant's pre-release database (restored from its backup beside it) back in place."""

import os
import re
import signal
import subprocess
import tempfile
import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import reporting
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_absolute_path, check_tenant_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.database import OdooDatabase
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import (
    observe_database,
    record_metadata,
    swap_in,
    tenant_locks,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.host_check import HostsUnanswered, check_hosts
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.release.model import (
    Evidence,
    addons_to_update,
    check_environment,
    freeze_gate,
    gate,
    release_model,
)

LOG_TAIL_LINES = 40
ROLLBACK_SUFFIX = "_rollback"
SMOKE_POLL_SECONDS = 0.5
SMOKE_STOP_SECONDS = 15  # Odoo stops on SIGTERM in about a second; then it is killed
PORT_RANGE = (1024, 65535)


def failure_excerpt(text, lines=LOG_TAIL_LINES):
    """What Odoo said about its failure: from its first ERROR or CRITICAL line on (a traceback follows
    it; the last lines are only its shutdown), else its last lines; bounded either way."""
    found = (text or "").splitlines()
    first = next((i for i, line in enumerate(found) if " ERROR " in line or " CRITICAL " in line), None)
    return "\n".join(found[first : first + lines] if first is not None else found[-lines:])


def failure_summary(text):
    """The exception line of Odoo's first traceback (e.g. odoo.exceptions.UserError: ...), else the excerpt's first line."""
    excerpt = failure_excerpt(text).splitlines()
    errors = [line for line in excerpt if not line.startswith((" ", "\t")) and ("Error" in line.split(":", 1)[0] or "Exception" in line.split(":", 1)[0])]
    return errors[0] if errors else (excerpt[0] if excerpt else "no output")


class Promotion:
    """One odoo_release run: params as the module's argument spec gives them."""

    def __init__(self, pg, params, check_mode):
        self.pg, self.p, self.check_mode = pg, params, check_mode
        self.environment = check_environment(params["environment"])
        self.previous = check_environment(params["previous_environment"], "previous_environment") if params.get("previous_environment") else None
        self.tenants = [check_tenant_name(name, "tenants[%d]" % i) for i, name in enumerate(params["tenants"])]
        if not self.tenants:
            raise Refused("tenants is empty: name the tenants of the environment the release goes to")
        if not params.get("evidence_dir") and params["state"] != "rolled_back":
            raise Refused("evidence_dir is required with state=%s" % params["state"])
        self.evidence = Evidence(check_absolute_path(params["evidence_dir"], "evidence_dir")) if params.get("evidence_dir") else None
        self.source = check_tenant_name(params["release_source"], "release_source") if params.get("release_source") else None
        if self.source and len(self.tenants) != 1:
            raise Refused("release_source compares one tenant (a staging copy) with its source: give exactly one tenant, got %d" % len(self.tenants))
        for name, key in (params.get("pre_release_backups") or {}).items():
            if not isinstance(key, str) or not key or not params.get("pre_release_bucket"):
                raise Refused("pre_release_backups[%s] must be the key of its backup (in pre_release_bucket), got %r" % (name, key))
        if not 1 <= params.get("smoke_timeout", 120) <= 3600:
            raise Refused("smoke_timeout %r must be 1-3600 seconds" % params.get("smoke_timeout"))
        port = params.get("smoke_port")
        if port is not None and not PORT_RANGE[0] <= port <= PORT_RANGE[1]:
            raise Refused("smoke_port %r must be %d-%d (a free port on 127.0.0.1 for the smoke test's Odoo)" % (port, PORT_RANGE[0], PORT_RANGE[1]))
        if not params.get("release") and params["state"] != "rolled_back":
            raise Refused("release is required with state=%s" % params["state"])
        # state=rolled_back without a release rolls back whatever each tenant runs (release_rollback.yml).
        self.release = release_model(params["release"]) if params.get("release") else None
        self.report = {"environment": self.environment, "release": self.release, "tenants": []}

    # --- state=updated -------------------------------------------------------------------------

    def gates(self):
        self.report["gate"] = gate(self.evidence, self.previous, self.release, self.p.get("skip_gate_reason"))
        self.report["freeze"] = freeze_gate(self.p.get("freeze_windows"), self.tenants, self.p.get("fleet"), self.p.get("at"), self.p.get("override_reason"))

    def tenant_plan(self, name):
        found = observe_database(self.pg, name)
        if not found.get("exists"):
            raise Refused("tenant %s does not exist: a promotion updates existing tenants only (Odoo would create a missing database)" % name)
        if not found.get("metadata") or found["metadata"].get("kind", "tenant") != "tenant":
            raise Refused("database %s is not a tenant this collection manages (no tenant metadata): refusing to update it" % name)
        if not found.get("allow_connections"):
            raise Refused("tenant %s is suspended: resume it before a promotion" % name)
        recorded = found["metadata"].get("release") or {}
        if self.source:
            # A staging copy has metadata of its own (a copy's comment is new): the addons that change are
            # those that will change in its source, the production tenant.
            source = observe_database(self.pg, self.source)
            if not source.get("exists") or not source.get("metadata"):
                raise Refused("release_source %s is not a tenant this collection manages" % self.source)
            recorded = source["metadata"].get("release") or {}
        versions = OdooDatabase(self.pg, name).module_versions()
        if "base" not in versions:
            raise Refused("database %s has no installed base module: not an Odoo database" % name)
        update, install = addons_to_update(recorded.get("checksums"), self.release["checksums"], versions, self.p["update_all"], self.p.get("install") or ())
        own = found["metadata"].get("release") or {}
        if own.get("id") == self.release["id"] and not install and not self.p["update_all"]:
            update = []
        recorded = own
        return {
            "name": name,
            "metadata": found["metadata"],
            "release_before": recorded.get("id"),
            "versions_before": {k: versions[k] for k in sorted(set(update + install) & set(versions))},
            "update": update,
            "install": install,
            "record": recorded.get("id") != self.release["id"],
        }

    def updated(self):
        self.gates()
        steps, before, after = [], {}, {}
        with tenant_locks(self.pg, self.tenants, self.p["lock_timeout"]):
            plans = [self.tenant_plan(name) for name in self.tenants]
            for item in plans:
                before[item["name"]] = {"release": item["release_before"]}
                after[item["name"]] = {"release": self.release["id"]}
                if item["update"] or item["install"]:
                    options = [flag + " " + ",".join(item[key]) for flag, key in (("-u", "update"), ("-i", "install")) if item[key]]
                    if self.p["stop_crons"]:
                        steps.append("stop the active crons of %s for the update (restored after it, also when it fails)" % item["name"])
                    steps.append("update %s with Odoo: %s" % (item["name"], " ".join(options)))
                if item["record"]:
                    steps.append("record release %s in the metadata of %s" % (self.release["id"], item["name"]))
                if self.p.get("smoke_port") and (item["update"] or item["install"] or item["record"]):
                    # also without an addon to update: the new release's code serves the tenant
                    steps.append("smoke-test %s on the new release's Odoo at 127.0.0.1:%d (health, login form)" % (item["name"], self.p["smoke_port"]))
            if self.p["restore_point"] and steps:
                steps.insert(0, "create restore point release-%s on the cluster" % self.release["id"])
            self.report["tenants"] = [{k: v for k, v in item.items() if k != "metadata"} for item in plans]
            plan = Plan(before=before, after=after, steps=steps)
            plan.report = self.report  # the same dict: what the run adds (durations, restore point) is reported
            if self.check_mode or not steps:
                return plan.result()
            if self.p["restore_point"]:
                self.report["restore_point"] = self.restore_point()
            done = []
            self.report["touched"] = done
            for item in plans:
                if item["update"] or item["install"]:
                    done.append(item["name"])
                    with self.crons_stopped(item):
                        item["update_seconds"] = self.run_odoo(item)
                if self.p.get("smoke_port") and (item["update"] or item["install"] or item["record"]):
                    item["smoke"] = self.smoke_test(item)
                if item["record"]:
                    self.record_release(item)
                self.report["tenants"] = [{k: v for k, v in one.items() if k != "metadata"} for one in plans]
            return plan.result()

    def restore_point(self):
        name = "release-%s-%s" % (self.release["id"], utc_now().strftime("%Y%m%dT%H%M%SZ"))
        rows = self.pg.query("SELECT pg_create_restore_point(%s)::text, now()", (name,))
        return {"name": name, "lsn": rows[0][0], "time": rows[0][1].isoformat()}

    def odoo_argv(self, item, serve=False):
        argv = list(self.p["odoo_command"] or [])
        if not argv:
            raise Refused("odoo_command is required to update a tenant: the command that runs Odoo of the new release (odoo-bin, or docker run ... odoo)")
        if self.p.get("odoo_config"):
            argv += ["-c", self.p["odoo_config"]]
        if self.p.get("odoo_addons_path"):
            argv += ["--addons-path=%s" % ",".join(self.p["odoo_addons_path"])]
        # -d names the tenant only (checked to exist above: Odoo creates a database it is given that is
        # missing); no HTTP server, stop when the update is done.
        if serve:
            # The smoke test: this tenant only, on loopback, one process, no cron thread (a neutralized copy
            # keeps Odoo's autovacuum job), no database manager.
            return argv + [
                "-d", item["name"], "--db-filter=^%s$" % re.escape(item["name"]), "--no-database-list",
                "--http-interface=127.0.0.1", "--http-port=%d" % self.p["smoke_port"], "--workers=0", "--max-cron-threads=0",
            ]  # fmt: skip
        argv += ["-d", item["name"], "--no-http", "--stop-after-init"]
        if item["update"]:
            argv += ["-u", ",".join(item["update"])]
        if item["install"]:
            argv += ["-i", ",".join(item["install"])]
        return argv

    def run_odoo(self, item):
        argv = self.odoo_argv(item)
        started = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.p["update_timeout"], check=False)
        except subprocess.TimeoutExpired:
            raise OperationFailed(
                "the update of %s did not end within update_timeout (%s s)" % (item["name"], self.p["update_timeout"]), result=self.report, changed=True
            ) from None
        seconds = round(time.monotonic() - started, 1)
        # Masked line by line: safe() makes one line of its text, and the excerpt needs Odoo's lines.
        output = "\n".join(self.pg.safe(line) for line in (done.stdout + done.stderr).splitlines())
        # Odoo 18 exits 0 after a failed module load in some paths: its log is read too.
        failed = done.returncode != 0 or " CRITICAL " in output or "Failed to initialize database" in output
        if failed:
            self.report["failed_step"] = "update %s" % item["name"]
            self.report["failed_tenant"] = item["name"]
            raise OperationFailed(
                "the module update of %s failed (Odoo exited %s after %s s): %s" % (item["name"], done.returncode, seconds, failure_summary(output)),
                result=dict(self.report, odoo_log=failure_excerpt(output)),
                changed=True,
            )
        return seconds

    def crons_stopped(self, item):
        """A context: the tenant's active crons off for the block (the fleet's cron process skips an
        inactive job; the UPDATE waits, bounded by lock_timeout, for a job running now, which holds its
        row), the same ones back on after it, also when it fails."""
        return _CronsStopped(self, item) if self.p["stop_crons"] else _Nothing()

    def smoke_test(self, item):
        """The new release's Odoo serving the updated tenant on 127.0.0.1:smoke_port: /web/health 200,
        then /web/login 200 with the login form; the server stopped by its process group either way."""
        started = time.monotonic()
        url = "http://127.0.0.1:%d" % self.p["smoke_port"]
        checks = [{"host": "localhost", "path": "/web/health"}, {"host": "localhost", "path": "/web/login", "contains": "oe_login_form"}]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(self.odoo_argv(item, serve=True), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            answers, problem = None, None
            try:
                deadline = started + self.p["smoke_timeout"]
                while True:
                    try:
                        answers = check_hosts(url, checks, timeout=max(1, min(30, int(deadline - time.monotonic()))))
                        break
                    except HostsUnanswered as exc:
                        problem = str(exc)
                    if process.poll() is not None:
                        problem = "Odoo exited %s before it answered" % process.returncode
                        break
                    if time.monotonic() > deadline:
                        problem = "no answer within smoke_timeout (%s s): %s" % (self.p["smoke_timeout"], problem)
                        break
                    time.sleep(SMOKE_POLL_SECONDS)
            finally:
                stop_process_group(process)
            seconds = round(time.monotonic() - started, 1)
            if answers is None:
                log.seek(0)
                output = "\n".join(self.pg.safe(line) for line in log.read().decode("utf-8", "replace").splitlines())
                self.report["failed_step"] = "smoke test %s" % item["name"]
                self.report["failed_tenant"] = item["name"]
                raise OperationFailed(
                    "the smoke test of %s on the new release failed after %s s: %s" % (item["name"], seconds, problem),
                    result=dict(self.report, odoo_log=failure_excerpt(output)),
                    changed=True,
                )
        return {"seconds": seconds, "checks": [{"path": a["path"], "status": a["status"]} for a in answers]}

    def record_release(self, item):
        metadata = dict(item["metadata"])
        versions = OdooDatabase(self.pg, item["name"]).module_versions()
        if metadata.get("release"):
            metadata["release_previous"] = {k: v for k, v in metadata["release"].items() if k != "previous"}
        metadata["release"] = {
            "id": self.release["id"],
            "image": self.release["image"],
            "image_digest": self.release["image_digest"],
            "addons_ref": self.release["addons_ref"],
            "addons_path": self.release["addons_path"],
            "checksums": {name: self.release["checksums"][name] for name in sorted(set(versions) & set(self.release["checksums"]))},
            "environment": self.environment,
            "updated": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "skip_gate_reason": self.p.get("skip_gate_reason"),
            "override_reason": self.p.get("override_reason"),
        }
        backup = (self.p.get("pre_release_backups") or {}).get(item["name"])
        if backup:
            # What release_rollback.yml restores to go back to the release recorded before.
            metadata["release"]["pre_release_backup"] = {"bucket": self.p["pre_release_bucket"], "key": backup}
        record_metadata(self.pg, item["name"], metadata)
        item["versions_after"] = {k: versions.get(k) for k in sorted(set(item["update"] + item["install"]) & set(versions))}

    # --- state=recorded ------------------------------------------------------------------------

    def recorded(self):
        result = self.p["result"]
        if not result:
            raise Refused("state=recorded needs result (succeeded, failed or rolled_back)")
        found = self.evidence.recorded(self.environment, self.release["id"], result, self.tenants)
        reasons = (self.p.get("skip_gate_reason"), self.p.get("override_reason"))
        entry = found or self.evidence.entry(self.environment, self.release, result, self.tenants, *reasons)
        self.report["evidence"] = entry
        self.report["evidence_path"] = self.evidence.path(self.environment)
        steps = [] if found else ["record %s of release %s in %s" % (result, self.release["id"], self.report["evidence_path"])]
        plan = Plan(before={"evidence": found}, after={"evidence": entry}, steps=steps, report=self.report)
        if steps and not self.check_mode:
            self.evidence.record(entry)
        return plan.result()

    # --- state=rolled_back ---------------------------------------------------------------------

    def rolled_back(self):
        steps, before, after, items = [], {}, {}, []
        root = self.p.get("filestore_root")
        stamp = utc_now().strftime("%Y%m%dt%H%M%Sz")
        with tenant_locks(self.pg, self.tenants + [t + ROLLBACK_SUFFIX for t in self.tenants], self.p["lock_timeout"]):
            for name in self.tenants:
                restored = check_tenant_name(name + ROLLBACK_SUFFIX, "restored database")
                live, back = observe_database(self.pg, name), observe_database(self.pg, restored)
                live_metadata = live.get("metadata") or {}
                if not back.get("exists"):
                    done = (live_metadata.get("rolled_back") or {}).get("release_id")
                    if done and (done == self.release["id"] if self.release else not live_metadata.get("release_previous")):
                        continue  # done by an earlier run
                    raise Refused("tenant %s has no pre-release database %s to roll back to: restore its pre-release backup there first" % (name, restored))
                kept = check_tenant_name("%s_failed_%s" % (name, stamp), "kept database")
                items.append((name, restored, kept, live))
                before[name] = {"release": ((live.get("metadata") or {}).get("release") or {}).get("id")}
                after[name] = {"database": "restored from its pre-release backup", "kept_as": kept}
                steps.append("put %s back in place of %s (the failed database kept as %s)" % (restored, name, kept))
            self.report["tenants"] = [{"name": n, "restored_from": r, "kept_as": k} for n, r, k, _l in items]
            plan = Plan(before=before, after=after, steps=steps, report=self.report)
            if self.check_mode or not steps:
                return plan.result()
            for name, restored, kept, live in items:
                metadata = dict(live.get("metadata") or {})
                failed_release = metadata.get("release") or {}
                rolled = self.release["id"] if self.release else failed_release.get("id")
                if failed_release.get("id") == rolled and metadata.get("release_previous"):
                    metadata["release"] = metadata.pop("release_previous")
                elif failed_release.get("id") == rolled:
                    metadata.pop("release")
                metadata["rolled_back"] = {
                    "release_id": rolled,
                    "to": (metadata.get("release") or {}).get("id"),
                    "date": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "failed_database": kept,
                }
                swap_in(self.pg, name, restored, kept)
                record_metadata(self.pg, name, metadata)
                if root:
                    self.swap_filestore(root, name, restored, kept)
        return plan.result()

    @staticmethod
    def swap_filestore(root, name, restored, kept):
        live, back = os.path.join(root, name), os.path.join(root, restored)
        if os.path.isdir(live):
            os.rename(live, os.path.join(root, kept))
        if os.path.isdir(back):
            os.rename(back, live)

    def run(self):
        if self.p["stop_crons"] and self.p["state"] != "updated":
            raise Refused("stop_crons applies to state=updated only")
        with reporting(lambda: self.report):  # a refusal still says which release, gate and windows
            return {"updated": self.updated, "recorded": self.recorded, "rolled_back": self.rolled_back}[self.p["state"]]()


def stop_process_group(process):
    """Stop a process this module started in a session of its own (and what it started: runuser,
    docker's client), SIGTERM then, after SMOKE_STOP_SECONDS, SIGKILL; by its id, never by name."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(SMOKE_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(SMOKE_STOP_SECONDS)
        except ProcessLookupError:
            pass


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        return False


class _CronsStopped:
    def __init__(self, promotion, item):
        self.pg, self.name, self.item, self.timeout = promotion.pg, item["name"], item, promotion.p["lock_timeout"]

    def __enter__(self):
        odoo = OdooDatabase(self.pg, self.name)
        odoo.table("ir_cron")
        with self.pg.transaction(self.name):
            self.pg.execute("SET LOCAL lock_timeout = %s", ("%ds" % self.timeout,), self.name)
            rows = self.pg.query("UPDATE public.ir_cron SET active = false WHERE active RETURNING id", dbname=self.name)
        self.item["crons_stopped"] = sorted(row[0] for row in rows)
        return self.item["crons_stopped"]

    def __exit__(self, *exc_info):
        # Only the jobs this run stopped, and only those that still exist after the update.
        self.pg.execute("UPDATE public.ir_cron SET active = true WHERE id = ANY(%s)", (self.item["crons_stopped"],), self.name)
        self.item["crons_restored"] = True
        return False
