# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant: its PostgreSQL database, owner role and filestore, planned then applied.

plan() observes the real state and returns the ordered steps (check mode reports them; a real
run applies the same steps). Refusals raise ValueError before anything changes. Creation is all
or nothing: on any failure the new database is dropped, the staged filestore discarded, a role
created here dropped, and the source reopened.
"""

import json
import os
import secrets
import shutil

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import (
    FilestoreBuild, check_hardlink, check_root, owner_ids, tree_size)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.database import OdooDatabase
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.restore import BackupSource
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import (
    MANAGED_BY, allow_connections, create_empty_database, drop_database, observe_database, revoke_public,
    terminate_sessions)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import parse_timestamp, utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import HAS_BOTO3, ObjectStore
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_tenant_name

class Step:
    def __init__(self, label, run):
        self.label, self.run = label, run


class StepFailed(RuntimeError):
    """A step failed; `changed` says whether earlier steps still took effect (not when undone)."""

    def __init__(self, label, error, changed, undone):
        detail = "; the new tenant was undone: no database, filestore or role is left behind" if undone else ""
        super().__init__("failed to %s: %s%s" % (label, error, detail))
        self.changed = changed


class TenantPlan:
    def __init__(self, before):
        self.before, self.after = before, dict(before)
        self.steps, self.warnings, self.report = [], [], {}
        self.creating = False

    def add(self, label, run, **after):
        self.steps.append(Step(label, run))
        self.after.update(after)

    @property
    def changed(self):
        return bool(self.steps)


class Tenant:
    def __init__(self, pg, params):
        self.pg, self.p = pg, params
        self.name = check_tenant_name(params["name"])
        for key in ("template", "source"):
            if params.get(key):
                check_tenant_name(params[key], key)
        if params.get("source") == self.name or params.get("template") == self.name:
            raise ValueError("a tenant cannot be created from itself (%s)" % self.name)
        self.uid, self.gid = owner_ids(params.get("filestore_owner"), params.get("filestore_group"))
        # What a run has done so far, for undoing a failed creation and for the result.
        self._created_role = self._created_role_file = self._built = self._committed = None
        self._reopen = None
        self._cleanups = []  # run after every apply, failed or not (temporary downloads)
        self.neutralized = None

    # -- observation ---------------------------------------------------------------------------
    def observe(self, name):
        return observe_database(self.pg, name)

    def sessions(self, name):
        return self.pg.query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                             (name,))[0][0]

    def role_exists(self, role):
        return bool(self.pg.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)))

    def is_member(self, role):
        return bool(self.pg.query("SELECT pg_has_role(current_user, %s, 'USAGE')", (role,))[0][0])

    def filestore_path(self, name):
        root = self.p.get("filestore_root")
        return os.path.join(root, name) if root else None

    def origin_filestore_path(self, origin):
        """The template's or source's filestore: under source_filestore_root (another fleet's data
        folder) when given, else beside the new tenant's."""
        root = self.p.get("source_filestore_root") or self.p.get("filestore_root")
        return os.path.join(root, origin) if root else None

    # -- planning --------------------------------------------------------------------------------
    def plan(self):
        current = self.observe(self.name)
        path = self.filestore_path(self.name)
        current["filestore"] = bool(path and os.path.isdir(path))
        plan = TenantPlan(current)
        state = self.p["state"]
        if state == "absent":
            self._plan_absent(plan, current, path)
        elif not current["exists"]:
            if state == "suspended":
                raise ValueError("tenant %s does not exist, so it cannot be suspended" % self.name)
            self._plan_create(plan, path)
        else:
            self._plan_existing(plan, current, path)
        return plan

    def _plan_create(self, plan, path):
        if self.p.get("from_backup"):
            return self._plan_restore(plan, path)
        origin_key = "source" if self.p.get("source") else "template"
        origin = self.p.get(origin_key)
        if not origin:
            raise ValueError("tenant %s does not exist: give template (a golden database) or source (a tenant "
                             "to clone) to create it" % self.name)
        found = self.observe(origin)
        if not found["exists"]:
            raise ValueError("%s database %s does not exist on %s" % (origin_key, origin, self.pg.where))
        copy = origin_key == "template" or self.p["copy"]
        if copy and not self.p.get("base_url"):
            raise ValueError("base_url is required to create %s as a copy: a copy must point at its own URL, "
                             "never at the original's or at localhost" % self.name)
        sessions = self.sessions(origin)
        if sessions and not self.p["terminate_connections"]:
            raise ValueError("%s %s has %d open session(s); they would be cut to copy it. Stop its Odoo first, or "
                             "set terminate_connections: true" % (origin_key, origin, sessions))
        owner = self._owner_for_new()
        self._plan_filestore_checks(plan, path, origin)
        plan.creating = True
        plan.report.update(origin={origin_key: origin, "copy": copy, "sessions_cut": sessions})
        self._plan_owner_role(plan, owner, found["owner"])
        strategy = self.p["strategy"]
        plan.add("create database %s from %s %s (strategy %s)" % (self.name, origin_key, origin, strategy),
                 lambda: self._create_database(origin, owner, strategy, sessions),
                 exists=True, owner=owner, allow_connections=True, connection_limit=-1, statement_timeout=None,
                 public_connect=True)
        if found["owner"] != owner:
            plan.add("give %s the objects %s owns in the new database" % (owner, found["owner"]),
                     lambda: OdooDatabase(self.pg, self.name).reassign_objects(found["owner"], owner))
        if copy:
            plan.add("reset identity as Odoo's duplicate does (uuid, secret, create date, base URL, login "
                     "cooldown), remove the enterprise code", lambda: OdooDatabase(self.pg, self.name).reset_as_copy(
                         self.p["base_url"]))
        self._plan_settings(plan, plan.after, path, created_from={origin_key: origin, "copy": copy})
        if self.p.get("neutralize"):
            self._plan_neutralize(plan)
        if path:
            plan.add("build filestore %s from %s (%s)" % (path, self.origin_filestore_path(origin), self.p["filestore_copy"]),
                     lambda: self._build_filestore(origin), filestore=True)
        if origin_key == "source" and not copy:
            plan.add("suspend source %s: a move keeps its identity, which must not run twice" % origin,
                     lambda: allow_connections(self.pg, origin, False))

    def _plan_restore(self, plan, path):
        if not HAS_BOTO3:
            raise ValueError("from_backup needs the boto3 Python library on the host that runs the module")
        backup = BackupSource(ObjectStore(self.p), self.p["from_backup"])
        sidecar = backup.check()
        where = "s3://%s/%s" % (backup.bucket, backup.key)
        copy = self.p["copy"]
        if copy and not self.p.get("base_url"):
            raise ValueError("base_url is required to restore %s as a copy: a copy must point at its own URL" % self.name)
        owner = self._owner_for_new()
        self._plan_filestore_checks(plan, path)
        plan.creating = True
        plan.report.update(origin={"backup": where, "copy": copy, "sha256_verified": bool(sidecar)})
        if not sidecar:
            plan.warnings.append("%s has no sidecar manifest (made by Odoo?): its SHA-256 cannot be verified" % where)
        self._plan_owner_role(plan, owner, owner)
        scratch = self.p.get("filestore_root") or None
        self._cleanups.append(backup.discard)
        plan.add("download %s and verify its SHA-256" % where,
                 lambda: backup.download(scratch, (sidecar or {}).get("sha256")))
        plan.add("create empty database %s owned by %s" % (self.name, owner), lambda: self._create_empty(owner),
                 exists=True, owner=owner, allow_connections=True, connection_limit=-1, statement_timeout=None,
                 public_connect=True)
        jobs = self.p["from_backup"].get("jobs") or 1
        if backup.format == "zip":
            label = "restore dump.sql into %s (one transaction, stop at the first error)" % self.name
        else:
            if not 1 <= jobs <= 64:
                raise ValueError("from_backup.jobs must be 1-64, not %d" % jobs)
            label = "restore the dump into %s with pg_restore, %d job(s), stopping at the first error" % (self.name, jobs)
        plan.add(label, lambda: backup.restore_into(self.pg, self.name, owner, jobs, self.p.get("psql_path"),
                                                    self.p.get("pg_restore_path")))
        if copy:
            plan.add("reset identity as Odoo's duplicate does, remove the enterprise code",
                     lambda: OdooDatabase(self.pg, self.name).reset_as_copy(self.p["base_url"]))
        self._plan_settings(plan, plan.after, path, created_from={"backup": where, "copy": copy})
        if self.p.get("neutralize"):
            self._plan_neutralize(plan)
        if path:
            plan.add("restore filestore %s from the backup" % path,
                     lambda: self._filestore_from_backup(backup, sidecar), filestore=True)

    def _create_empty(self, owner):
        create_empty_database(self.pg, self.name, owner)

    def _filestore_from_backup(self, backup, sidecar):
        self._built = FilestoreBuild(self.p["filestore_root"], self.name, self.uid, self.gid)
        backup.stage_filestore(self._built, sidecar)
        self._built.commit()
        self._committed, self._built = self._built.target, None

    def _owner_for_new(self):
        owner = self.p.get("owner") or (self.name if self.p.get("pattern") == "dedicated" else None)
        if not owner:
            raise ValueError("owner is required for a shared tenant: the fleet's Odoo role, which must own its "
                             "tenants' databases")
        check_tenant_name(owner, "owner")
        return owner

    def _plan_owner_role(self, plan, owner, origin_owner):
        if not self.role_exists(owner):
            if self.p.get("pattern") != "dedicated":
                raise ValueError("owner role %s does not exist; a shared tenant is owned by its fleet's existing role"
                                 % owner)
            if not (self.p.get("owner_password") or self.p.get("owner_password_file")):
                raise ValueError("creating role %s needs owner_password, or owner_password_file to write a "
                                 "generated one to" % owner)
            plan.add("create login role %s (no superuser, no createdb, no createrole)" % owner,
                     lambda: self._create_role(owner))
            plan.add("let %s act for %s" % (self.pg.user, owner), lambda: self._grant_to_me(owner))
        for role in sorted({owner, origin_owner}):
            if self.role_exists(role) and not self.is_member(role):
                plan.add("let %s act for %s" % (self.pg.user, role), lambda role=role: self._grant_to_me(role))

    def _plan_filestore_checks(self, plan, path, origin=None):
        """The new filestore's root and target; and, when copied from origin's, the source."""
        if not path:
            plan.warnings.append("filestore_root not given: the filestore is left alone")
            return
        check_root(self.p["filestore_root"])
        if os.path.exists(path):
            raise ValueError("filestore %s already exists; it belongs to no database of that name. Remove or "
                             "move it first" % path)
        if origin is None:
            return
        source = self.origin_filestore_path(origin)
        if not os.path.isdir(source):
            plan.warnings.append("%s has no filestore at %s: the new tenant starts with an empty one" % (origin, source))
        elif self.p["filestore_copy"] == "hardlink":
            check_hardlink(source, self.p["filestore_root"], self.uid)

    def _plan_settings(self, plan, current, path, created_from=None):
        """Isolation, limits and metadata, for a new or an existing tenant."""
        if current.get("public_connect"):
            plan.add("revoke CONNECT on %s from PUBLIC" % self.name, lambda: revoke_public(self.pg, self.name), public_connect=False)
        limit = self.p.get("connection_limit")
        if limit is not None and current.get("connection_limit") != limit:
            plan.add("connection limit %s -> %s" % (current.get("connection_limit"), limit),
                     lambda: self._alter("CONNECTION LIMIT {}", sql.Literal(limit)), connection_limit=limit)
        timeout = self.p.get("statement_timeout")
        wanted = None if timeout in (None, 0) else "%ds" % timeout
        if timeout is not None and current.get("statement_timeout") != wanted:
            statement = "SET statement_timeout = {}" if wanted else "RESET statement_timeout"
            plan.add("statement_timeout %s -> %s" % (current.get("statement_timeout"), wanted),
                     lambda: self._alter(statement, sql.Literal(wanted)), statement_timeout=wanted)
        metadata = self._metadata(current.get("metadata"), created_from)
        if metadata != current.get("metadata"):
            plan.add("record tenant metadata on database %s" % self.name, lambda: self._comment(metadata),
                     metadata=metadata)
        base_url = self.p.get("base_url")
        # A new tenant always gets its URL; an existing one when it differs (read only then).
        if base_url and (created_from is not None or self._current_base_url(current) != base_url):
            frozen = " (frozen)" if self.p["freeze_base_url"] else ""
            plan.add("web.base.url -> %s%s" % (base_url, frozen),
                     lambda: OdooDatabase(self.pg, self.name).set_base_url(base_url, self.p["freeze_base_url"]))
        if path and not os.path.isdir(path) and created_from is None:
            plan.warnings.append("tenant %s has no filestore at %s" % (self.name, path))

    def _metadata(self, existing, created_from):
        metadata = dict(existing or {"managed_by": MANAGED_BY, "tenant": self.name,
                                     "created": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        # pattern and tier: as given, else as recorded, else the defaults of a new tenant.
        for key, default in (("pattern", "shared"), ("tier", 1)):
            metadata[key] = self.p.get(key) if self.p.get(key) is not None else metadata.get(key, default)
        if created_from:
            metadata.update(created_from)
            metadata["owner_managed"] = not self.role_exists(self._owner_for_new())
        return metadata

    def _current_base_url(self, current):
        if not current.get("allow_connections"):
            return None  # cannot be read while suspended; it is set after the resume
        return OdooDatabase(self.pg, self.name).parameters("web.base.url").get("web.base.url")

    def _plan_neutralize(self, plan):
        plan.add("neutralize %s (mail servers, crons, webhooks, payment, delivery, fetchmail, IAP) and verify"
                 % self.name, self._neutralize)

    def _plan_existing(self, plan, current, path):
        metadata = current.get("metadata")
        backup = self.p.get("from_backup") or {}
        if backup and (metadata or {}).get("backup") != "s3://%s/%s" % (backup.get("bucket"), backup.get("key")):
            raise ValueError("database %s already exists and was not restored from that backup; choose another "
                             "name or remove it first" % self.name)
        if self.p.get("source") and (metadata or {}).get("source") != self.p["source"]:
            raise ValueError("database %s already exists and is not a clone of %s; choose another name or remove it "
                             "first" % (self.name, self.p["source"]))
        if self.p.get("template") and metadata is None:
            raise ValueError("database %s already exists and is not a tenant managed by %s; it was not created from "
                             "template %s" % (self.name, MANAGED_BY, self.p["template"]))
        owner = self.p.get("owner")
        if owner and owner != current["owner"]:
            raise ValueError("tenant %s is owned by %s, not %s; changing a tenant's owner is not supported here"
                             % (self.name, current["owner"], owner))
        if self.p["state"] == "suspended":
            if current["allow_connections"]:
                plan.add("suspend %s: refuse new connections" % self.name,
                         lambda: allow_connections(self.pg, self.name, False), allow_connections=False)
            sessions = self.sessions(self.name)
            if sessions:
                plan.add("cut %d open session(s) of %s" % (sessions, self.name), lambda: terminate_sessions(self.pg, self.name))
            plan.report["sessions_cut"] = sessions
            return
        if not current["allow_connections"]:
            plan.add("resume %s: accept connections" % self.name, lambda: allow_connections(self.pg, self.name, True),
                     allow_connections=True)
        self._plan_settings(plan, current, path)
        if self.p.get("neutralize") and not self._is_neutralized(current):
            self._plan_neutralize(plan)

    def _is_neutralized(self, current):
        if not current.get("allow_connections"):
            return False
        return not OdooDatabase(self.pg, self.name).neutralization_problems()

    def _plan_absent(self, plan, current, path):
        if not current["exists"] and not current["filestore"]:
            return
        plan.report["final_backup"] = self._check_final_backup()
        removed = {"database": self.name if current["exists"] else None, "database_bytes": 0,
                   "filestore": path if current["filestore"] else None,
                   "filestore_bytes": tree_size(path) if current["filestore"] else 0, "role": None}
        if current["exists"]:
            removed["database_bytes"] = self.pg.query("SELECT pg_database_size(%s)", (self.name,))[0][0]
            sessions = self.sessions(self.name)
            label = "drop database %s (%d bytes), cutting %d session(s)" % (
                self.name, removed["database_bytes"], sessions)
            plan.add(label, self._drop_database, exists=False)
            role = current["owner"] if (current.get("metadata") or {}).get("owner_managed") else None
            if role and self.pg.query("SELECT count(*) FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles "
                                      "WHERE rolname = %s) AND datname <> %s", (role, self.name))[0][0] == 0:
                removed["role"] = role
                plan.add("drop role %s, created for this tenant" % role, lambda: self._drop_role(role))
        if current["filestore"]:
            plan.add("remove filestore %s (%d bytes)" % (path, removed["filestore_bytes"]),
                     lambda: shutil.rmtree(path), filestore=False)
        plan.after = {"exists": False, "filestore": False}
        plan.report["removed"] = removed

    def _check_final_backup(self):
        backup, max_age = self.p.get("final_backup"), self.p["final_backup_max_age"]
        if self.p["force"]:
            return {"checked": False, "reason": "force: true"}
        if not backup:
            raise ValueError("refusing to remove tenant %s without a final backup: give final_backup (the result of "
                             "its backup, with tenant and created) newer than %d s, or force: true" % (self.name, max_age))
        if backup.get("tenant") != self.name:
            raise ValueError("final_backup is a backup of %r, not of tenant %s" % (backup.get("tenant"), self.name))
        age = (utc_now() - parse_timestamp(backup.get("created"), "final_backup.created")).total_seconds()
        if age > max_age:
            raise ValueError("final_backup of %s is %d s old, older than final_backup_max_age (%d s): take a new "
                             "backup first" % (self.name, age, max_age))
        return {"checked": True, "age_seconds": int(age), "key": backup.get("key")}

    # -- actions ----------------------------------------------------------------------------------
    def apply(self, plan):
        done = 0
        try:
            for step in plan.steps:
                try:
                    step.run()
                except Exception as exc:  # pylint: disable=broad-except  # reported with the step, after undo
                    if plan.creating:
                        self._undo_create()
                    raise StepFailed(step.label, exc, changed=done > 0 and not plan.creating, undone=plan.creating) from None
                done += 1
        finally:
            self._reopen_origin()
            for cleanup in self._cleanups:
                cleanup()

    def _undo_create(self):
        if self._built:
            self._built.discard()
        if self._committed:
            shutil.rmtree(self._committed, ignore_errors=True)
        if self.observe(self.name)["exists"]:
            drop_database(self.pg, self.name)
        if self._created_role:
            self._drop_role(self._created_role)
            if self._created_role_file:
                os.unlink(self._created_role_file)

    def _reopen_origin(self):
        if self._reopen:
            allow_connections(self.pg, self._reopen, True)
            self._reopen = None

    def _create_database(self, origin, owner, strategy, sessions):
        if sessions:
            # Refuse new sessions first, or Odoo reconnects between the cut and the copy.
            allow_connections(self.pg, origin, False)
            self._reopen = origin
            terminate_sessions(self.pg, origin)
        self.pg.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY {}").format(
            sql.Identifier(self.name), sql.Identifier(origin), sql.Identifier(owner), sql.SQL(strategy.upper())))

    def _create_role(self, owner):
        password = self.p.get("owner_password")
        path = self.p.get("owner_password_file")
        if not password:
            if os.path.exists(path):
                with open(path) as handle:
                    password = handle.read().strip()
            else:
                password = secrets.token_urlsafe(24)
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(password + "\n")
                self._created_role_file = path
        self.pg.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s").format(
            sql.Identifier(owner)), (password,))
        self._created_role = owner

    def _grant_to_me(self, role):
        self.pg.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))

    def _drop_role(self, role):
        self.pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def _alter(self, clause, value):
        self.pg.execute(sql.SQL("ALTER DATABASE {} " + clause).format(sql.Identifier(self.name), value))

    def _comment(self, metadata):
        self.pg.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(self.name), sql.Literal(json.dumps(metadata, sort_keys=True))))

    def _neutralize(self):
        odoo = OdooDatabase(self.pg, self.name)
        done = odoo.neutralize()
        problems = odoo.neutralization_problems()
        if problems:
            raise RuntimeError("neutralization of %s did not hold: %s" % (self.name, "; ".join(problems)))
        self.neutralized = done

    def _build_filestore(self, origin):
        self._built = FilestoreBuild(self.p["filestore_root"], self.name, self.uid, self.gid)
        self._built.stage(self.origin_filestore_path(origin), self.p["filestore_copy"])
        self._built.commit()
        self._committed, self._built = self._built.target, None

    def _drop_database(self):
        self.pg.close(self.name)
        self.pg.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(self.name)))


# Options a `tenants` entry may set; the module's top-level options are their defaults.
PER_TENANT_OPTIONS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "suspended", "absent"]),
    template=dict(type="str"),
    source=dict(type="str"),
    copy=dict(type="bool"),
    base_url=dict(type="str"),
    freeze_base_url=dict(type="bool"),
    neutralize=dict(type="bool"),
    pattern=dict(type="str", choices=["shared", "dedicated"]),
    tier=dict(type="int", choices=[1, 2, 3]),
    owner=dict(type="str"),
    owner_password_file=dict(type="path", no_log=False),
    connection_limit=dict(type="int"),
    statement_timeout=dict(type="int"),
    final_backup=dict(type="dict"),
)


def tenant_params(params):
    """One parameter dict per tenant: the module's own, or each `tenants` entry over them."""
    if not params.get("tenants"):
        return [params]
    merged = []
    for entry in params["tenants"]:
        one = dict(params, tenants=None)
        one.update((key, value) for key, value in entry.items() if value is not None)
        if entry.get("template") is not None:
            one["source"] = None
        elif entry.get("source") is not None:
            one["template"] = None
        merged.append(one)
    names = [one["name"] for one in merged]
    doubles = sorted({name for name in names if names.count(name) > 1})
    if doubles:
        raise ValueError("tenants lists %s more than once" % ", ".join(doubles))
    return merged


def tenant_result(plan, tenant):
    result = dict(changed=plan.changed, actions=[step.label for step in plan.steps],
                  diff=dict(before=plan.before, after=plan.after), **plan.report)
    if tenant.neutralized:
        result["neutralized"] = tenant.neutralized
    return result


def manage_tenants(pg, params, check_mode, warn):
    """Plan every tenant first (a refusal anywhere changes nothing), then apply in order."""
    planned = []
    for one in tenant_params(params):
        tenant = Tenant(pg, one)
        plan = tenant.plan()
        for warning in plan.warnings:
            warn("%s: %s" % (tenant.name, warning))
        planned.append((tenant, plan))
    done = []
    for tenant, plan in planned:
        if plan.changed and not check_mode:
            try:
                tenant.apply(plan)
            except StepFailed as exc:
                if done:
                    exc.args = ("tenant %s: %s (already applied: %s)" % (tenant.name, exc, ", ".join(done)),)
                    exc.changed = True
                raise
            done.append(tenant.name)
    results = [dict(tenant_result(plan, tenant), name=tenant.name) for tenant, plan in planned]
    if not params.get("tenants"):
        results[0].pop("name")
        return results[0]
    return dict(changed=any(r["changed"] for r in results), tenants=results,
                diff=[dict(r["diff"], before_header=r["name"], after_header=r["name"]) for r in results])
