# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant: its PostgreSQL database, owner role and filestore, planned then applied.

plan() observes the real state and returns the ordered steps (check mode reports them; a real
run applies the same steps). Refusals raise Refused before anything changes. Creation is all
or nothing: on any failure the database this run created is dropped (never one it did not), the
staged filestore discarded, a role created here dropped, and the source reopened.

Concurrent runs on one tenant are serialised by a PostgreSQL advisory lock per tenant, held from
the plan to the end of the apply. SQL inside a tenant database that the collection writes runs as a
session role (postgres/session.py): a restored backup or an online copy is filled by a role that
owns nothing but the new database, and only then handed to the tenant's owner.
"""

import os
import secrets
import shutil
import subprocess

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import require_library
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan, plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, OperationFailed, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import parse_timestamp, utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_tenant_name, check_url
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import HashingReader, signing_keys
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.restore import BackupSource, RestoreRefused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import ObjectStore, version_args
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.database import OdooDatabase
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import verify_password
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import FilestoreBuild, check_hardlink, check_root, owner_ids, tree_size
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import (
    MANAGED_BY,
    PROTECTED_DATABASES,
    allow_connections,
    drop_database,
    executable_objects,
    observe_database,
    record_metadata,
    revoke_public,
    tenant_locks,
    terminate_sessions,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.programs import program, program_env
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.session import OwnerSessions, SessionRole, check_plain_owner

FUTURE_SKEW = 300  # seconds a final backup's time may lie ahead of this host's clock


class Step:
    def __init__(self, label, run):
        self.label, self.run = label, run


class StepFailed(OdooOpsError, RuntimeError):
    """A step failed; `changed` says whether earlier steps still took effect (not when undone)."""

    def __init__(self, label, error, changed, undone):
        detail = "; the new tenant was undone: no database, filestore or role is left behind" if undone else ""
        super().__init__("failed to %s: %s%s" % (label, error, detail))
        self.changed = changed


class TenantPlan(Plan):
    """The collection's plan, its steps runnable (Step: a label and what runs it)."""

    def __init__(self, before):
        super().__init__(before)
        self.warnings, self.creating = [], False

    def add(self, label, run, **after):
        self.steps.append(Step(label, run))
        self.after.update(after)


class Tenant:
    def __init__(self, pg, params, writers=None):
        self.pg, self.p = pg, params
        self.name = check_tenant_name(params["name"])
        for key in ("template", "source"):
            if params.get(key):
                check_tenant_name(params[key], key)
        if params.get("source") == self.name or params.get("template") == self.name:
            raise Refused("a tenant cannot be created from itself (%s)" % self.name)
        if params.get("base_url"):
            check_url(params["base_url"], "base_url")
        self.uid, self.gid = owner_ids(params.get("filestore_owner"), params.get("filestore_group"))
        self.writers = writers or OwnerSessions(pg)  # session role for SQL inside existing databases
        # What a run has done so far, for undoing a failed creation and for the result.
        self._created_role = self._created_role_file = self._built = self._committed = None
        self._created_db = False  # only a database this run created is ever dropped by its undo
        self._filler = None  # the session role that owns the new database while it is filled
        self._owner = None  # the new database's owner (whose rights SQL inside it runs with)
        self._reopen = None
        self._cleanups = []  # run after every apply, failed or not (temporary downloads)
        self.neutralized = None
        self.code_objects = None  # what a restored or copied database holds that can run code
        self.admin_login = None
        self._created_admin_file = None

    # -- observation ---------------------------------------------------------------------------
    def observe(self, name):
        return observe_database(self.pg, name)

    def sessions(self, name):
        """Sessions in database name, but autovacuum's: CREATE and DROP DATABASE stop its workers themselves,
        and one is often in a template Odoo has just filled (it connects even where connections are refused)."""
        return self.pg.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type <> 'autovacuum worker'", (name,)
        )[0][0]

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
        if state == "template":
            self._plan_template(plan, current, path)
        elif state == "absent":
            self._plan_absent(plan, current, path)
        elif not current["exists"]:
            if state == "suspended":
                raise Refused("tenant %s does not exist, so it cannot be suspended" % self.name)
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
            raise Refused("tenant %s does not exist: give template (a golden database) or source (a tenant to clone) to create it" % self.name)
        found = self.observe(origin)
        if not found["exists"]:
            raise Refused("%s database %s does not exist on %s" % (origin_key, origin, self.pg.where))
        if origin_key == "source" and (not found["metadata"] or found["metadata"].get("kind", "tenant") != "tenant"):
            raise Refused("source database %s is not a tenant managed by %s: only a tenant is cloned" % (origin, MANAGED_BY))
        if origin_key == "template" and found["metadata"] and found["metadata"].get("kind", "tenant") != "template":  # a tenant's has no kind
            raise Refused("template %s is a tenant, not a template: clone it with source" % origin)
        copy = origin_key == "template" or self.p["copy"]
        if copy and not self.p.get("base_url"):
            raise Refused("base_url is required to create %s as a copy: a copy must point at its own URL, never at the original's or at localhost" % self.name)
        # A live tenant always holds pooled sessions: its copy is taken online (one snapshot) unless the task
        # asks to cut them for a file-level copy.
        strategy = self.p.get("strategy") or ("dump" if origin_key == "source" and copy and not self.p["terminate_connections"] else "wal_log")
        if strategy == "dump" and not copy:
            raise Refused(
                "strategy dump copies a live tenant while it runs: a move (copy: false) must stop its "
                "source first, use strategy wal_log or file_copy with terminate_connections: true"
            )
        if strategy == "dump" and not found["allow_connections"]:
            raise Refused("%s %s is suspended: strategy dump reads it online; use wal_log" % (origin_key, origin))
        sessions = self.sessions(origin) if strategy != "dump" else 0
        if sessions and not self.p["terminate_connections"]:
            raise Refused(
                "%s %s has %d open session(s); they would be cut to copy it. Stop its Odoo first, or "
                "set terminate_connections: true (or copy it online with strategy: dump)" % (origin_key, origin, sessions)
            )
        owner = self._owner_for_new()
        self._plan_filestore_checks(plan, path, origin)
        plan.creating = True
        plan.report.update(origin={origin_key: origin, "copy": copy, "sessions_cut": sessions}, strategy=strategy)
        self._plan_owner_role(plan, owner, found["owner"])
        if origin_key == "template" and (found["allow_connections"] or found["public_connect"]):
            plan.warnings.append(
                "template %s is not sealed (it accepts connections%s): any Odoo process whose dbfilter "
                "matches it can serve it and hold a session that blocks tenant creation; seal it with "
                "odoo_tenant state=template" % (origin, " from PUBLIC" if found["public_connect"] else "")
            )
        created = dict(exists=True, owner=owner, allow_connections=True, connection_limit=-1, statement_timeout=None)
        if strategy == "dump":
            plan.add(
                "copy %s online into a new database %s: one snapshot of it dumped by a session role with its "
                "owner's rights, restored by one that owns only the new database" % (origin, self.name),
                lambda: self._copy_online(origin, found["owner"]),
                public_connect=False,
                **created,
            )
            plan.add(
                "undo what the copy set on database %s itself (settings, rights, flags); list the code it holds" % self.name,
                lambda: self._sanitize(refuse_code=False),
            )
        else:
            plan.add(
                "create database %s from %s %s (strategy %s), owned by a session role until it is ready" % (self.name, origin_key, origin, strategy),
                lambda: self._create_database(origin, owner, strategy, sessions),
                public_connect=False,
                **created,
            )
            if found["owner"] != owner:
                plan.add("give %s the objects %s owns in the new database" % (owner, found["owner"]), lambda: self._reassign(found["owner"], owner))
        self._owner = owner
        if copy:
            plan.add(
                "reset identity as Odoo's duplicate does (uuid, secret, create date, base URL, login cooldown), remove the enterprise code",
                lambda: self._odoo().reset_as_copy(self.p["base_url"]),
            )
        self._plan_content(plan, True, owner, created_from={origin_key: origin, "copy": copy})
        self._plan_settings(plan, plan.after, path, created_from={origin_key: origin, "copy": copy})
        if path:
            plan.add(
                "build filestore %s from %s (%s)" % (path, self.origin_filestore_path(origin), self.p["filestore_copy"]),
                lambda: self._build_filestore(origin),
                filestore=True,
            )
        if origin_key == "source" and not copy:
            plan.add("suspend source %s: a move keeps its identity, which must not run twice" % origin, lambda: allow_connections(self.pg, origin, False))

    def _plan_restore(self, plan, path):
        require_library("botocore", "from_backup")
        spec = self.p["from_backup"]
        backup = BackupSource(ObjectStore(self.p), spec, signing_keys(self.p), allow_unsigned=spec.get("allow_unsigned"))
        sidecar = backup.check()
        where = backup.where
        copy = self.p["copy"]
        if copy and not self.p.get("base_url"):
            raise Refused("base_url is required to restore %s as a copy: a copy must point at its own URL" % self.name)
        owner = self._owner_for_new()
        self._plan_filestore_checks(plan, path)
        plan.creating = True
        plan.report.update(
            origin={
                "backup": where,
                "copy": copy,
                "sha256_verified": bool(sidecar),
                "authenticated": bool(sidecar),
                "backup_tenant": (sidecar or {}).get("tenant"),
                "version_id": (backup.objects.get(backup.key) or {}).get("version_id"),
            }
        )
        if not sidecar:
            plan.warnings.append(
                "%s is not authenticated (%s): restored because allow_unsigned is set, as a session "
                "role that owns only the new database" % (where, backup.unsigned_reason)
            )
        self._plan_owner_role(plan, owner, owner)
        scratch = self.p.get("filestore_root") or None
        self._cleanups.append(backup.discard)
        plan.add("download %s at its recorded version, check its size, SHA-256 and members" % where, lambda: (backup.download(scratch), backup.check_archive()))
        plan.add(
            "create empty database %s owned by a session role that holds nothing else" % self.name,
            self._create_to_fill,
            exists=True,
            owner=owner,
            allow_connections=True,
            connection_limit=-1,
            statement_timeout=None,
            public_connect=False,
        )
        jobs = spec.get("jobs") or 1
        if backup.format == "zip":
            label = "restore dump.sql into %s as that role (psql restricted, one transaction, stop at the first error)" % self.name
        else:
            label = "restore the dump into %s as that role with pg_restore, %d job(s), stopping at the first error" % (self.name, jobs)
        plan.add(label, lambda: backup.restore_into(self._filler, self.name, jobs, self.p.get("pg_bin_dir")))
        plan.add(
            "undo what the dump set on database %s itself (settings, rights, flags); list the code it holds" % self.name,
            lambda: self._sanitize(refuse_code=not sidecar),
        )
        self._owner = owner
        if copy:
            plan.add("reset identity as Odoo's duplicate does, remove the enterprise code", lambda: self._odoo().reset_as_copy(self.p["base_url"]))
        self._plan_content(plan, True, owner, created_from={"backup": where, "copy": copy})
        self._plan_settings(plan, plan.after, path, created_from={"backup": where, "copy": copy})
        if path:
            plan.add("restore filestore %s from the backup" % path, lambda: self._filestore_from_backup(backup), filestore=True)

    def _plan_content(self, plan, filled, owner, created_from):
        """The steps inside a new database: its URL, its administrator's password, neutralization; then
        the hand-over to its owner. Until then a session role owns it, so no fleet's Odoo lists it -
        its crons never run in a copy that is not neutralized yet."""
        self._plan_base_url(plan, plan.after, created_from)
        self._plan_admin_password(plan, None)
        if self.p.get("neutralize"):
            self._plan_neutralize(plan)
        if filled:
            plan.add(
                "hand %s to %s: the database and every object in it; database settings, rights and flags its "
                "content set are undone; the session role dropped" % (self.name, owner),
                self._hand_over,
            )

    def _create_to_fill(self):
        """The new database, owned by a fresh session role that holds nothing else (a restore or an
        online copy runs as it)."""
        self._filler = SessionRole(self.pg)
        self._filler.create()
        self._filler.create_database(self.name)
        self._created_db = True

    def _sanitize(self, refuse_code):
        """Database-level changes undone; the functions, triggers, rules and policies the new database
        holds reported (they will run with its owner's rights). An unauthenticated backup may hold
        none: whoever wrote it is not known to be the tenant."""
        self._filler.sanitize(self.name)
        found = executable_objects(self.pg, self.name)
        if found and refuse_code:
            raise RestoreRefused(
                "the unauthenticated backup holds code that would run with the rights of %s once "
                "restored: %s; restore it only from an authenticated backup, or review it first" % (self._owner, ", ".join(found[:10]))
            )
        self.code_objects = found

    def _hand_over(self):
        self._filler.hand_over(self.name, self._owner)
        self._filler.drop()
        self._filler = None

    def _reassign(self, old_owner, owner):
        reassign_in_database(self.pg, self.name, old_owner, owner)

    def _odoo(self):
        """The new or existing database's content, written as a session role: the one filling it, or one
        with its owner's rights."""
        if self._filler is not None:
            return OdooDatabase(self._filler.client(), self.name)
        return OdooDatabase(self.writers.client(self._owner), self.name)

    def _copy_online(self, origin, origin_owner):
        """pg_dump of origin (one snapshot, as a session role with its owner's rights) streamed into
        pg_restore into the new database (as the role that owns only it)."""
        self._create_to_fill()
        bin_dir = self.p.get("pg_bin_dir")
        dump = subprocess.Popen(  # pylint: disable=consider-using-with
            [program(bin_dir, "pg_dump"), "--format=custom", "--compress=0", "--no-owner", "--no-acl", "--dbname=%s" % origin],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=program_env(self.writers.env(origin_owner, origin)),
        )
        restore = subprocess.Popen(  # pylint: disable=consider-using-with
            [program(bin_dir, "pg_restore"), "--exit-on-error", "--no-owner", "--no-acl", "--single-transaction", "--dbname=%s" % self.name],
            stdin=dump.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=program_env(self._filler.env(self.name)),
        )
        dump.stdout.close()  # pg_restore holds the pipe: pg_dump sees SIGPIPE if it stops
        restore_errors = restore.communicate()[1].decode("utf-8", "replace")
        dump_errors = dump.stderr.read().decode("utf-8", "replace")
        if dump.wait() != 0 or restore.returncode != 0:
            raise OperationFailed(
                "online copy of %s failed (pg_dump exit %s, pg_restore exit %s): %s"
                % (origin, dump.returncode, restore.returncode, self.pg.safe((dump_errors.strip() + " " + restore_errors.strip()).strip()[-800:]))
            )

    def _filestore_from_backup(self, backup):
        self._built = FilestoreBuild(self.p["filestore_root"], self.name, self.uid, self.gid)
        backup.stage_filestore(self._built)
        self._built.commit()
        self._committed, self._built = self._built.target, None

    def _owner_for_new(self):
        owner = self.p.get("owner") or (self.name if self.p.get("pattern") == "dedicated" else None)
        if not owner:
            raise Refused("owner is required for a shared tenant: the fleet's Odoo role, which must own its tenants' databases")
        check_tenant_name(owner, "owner")
        check_plain_owner(self.pg, owner)
        if not self.p.get("owner"):
            # A dedicated tenant named like an existing role (a shared fleet's, another customer's)
            # would silently share that role's rights instead of getting its own.
            owned = self.pg.query(
                "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s) AND datname <> %s ORDER BY 1", (owner, self.name)
            )
            if owned:
                raise Refused(
                    "role %s already exists and owns %s: a dedicated tenant named like it would share its rights; "
                    "give the tenant its own owner" % (owner, ", ".join(r[0] for r in owned[:5]))
                )
        return owner

    def _plan_owner_role(self, plan, owner, origin_owner):
        if not self.role_exists(owner):
            if self.p.get("pattern") != "dedicated":
                raise Refused("owner role %s does not exist; a shared tenant is owned by its fleet's existing role" % owner)
            if not (self.p.get("owner_password") or self.p.get("owner_password_file")):
                raise Refused("creating role %s needs owner_password, or owner_password_file to write a generated one to" % owner)
            plan.add("create login role %s (no superuser, no createdb, no createrole)" % owner, lambda: self._create_role(owner))
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
            raise Refused("filestore %s already exists; it belongs to no database of that name. Remove or move it first" % path)
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
            plan.add(
                "connection limit %s -> %s" % (current.get("connection_limit"), limit),
                lambda: self._alter("CONNECTION LIMIT {}", sql.Literal(limit)),
                connection_limit=limit,
            )
        timeout = self.p.get("statement_timeout")
        wanted = None if timeout in (None, 0) else "%ds" % timeout
        if timeout is not None and current.get("statement_timeout") != wanted:
            statement = "SET statement_timeout = {}" if wanted else "RESET statement_timeout"
            plan.add(
                "statement_timeout %s -> %s" % (current.get("statement_timeout"), wanted),
                lambda: self._alter(statement, sql.Literal(wanted)),
                statement_timeout=wanted,
            )
        metadata = self._metadata(current.get("metadata"), created_from)
        if metadata != current.get("metadata"):
            plan.add("record tenant metadata on database %s" % self.name, lambda: self._comment(metadata), metadata=metadata)
        if path and not os.path.isdir(path) and created_from is None:
            plan.warnings.append("tenant %s has no filestore at %s" % (self.name, path))

    def _metadata(self, existing, created_from):
        metadata = dict(existing or {"managed_by": MANAGED_BY, "tenant": self.name, "created": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        # pattern and tier: as given, else as recorded, else the defaults of a new tenant.
        for key, default in (("pattern", "shared"), ("tier", 1)):
            metadata[key] = self.p.get(key) if self.p.get(key) is not None else metadata.get(key, default)
        if created_from:
            metadata.update(created_from)
            metadata["owner_managed"] = not self.role_exists(self._owner_for_new())
        return metadata

    def _plan_base_url(self, plan, current, created_from=None):
        """A new tenant always gets its URL; an existing one when it differs (read only then). Odoo's
        workers are told to drop their cached parameters, so the new URL is served at once."""
        base_url = self.p.get("base_url")
        if base_url and (created_from is not None or self._current_base_url(current) != base_url):
            frozen = " (frozen)" if self.p["freeze_base_url"] else ""
            plan.add("web.base.url -> %s%s" % (base_url, frozen), lambda: self._odoo().set_base_url(base_url, self.p["freeze_base_url"]))

    def _plan_admin_password(self, plan, current):
        """Odoo's administrator gets the given password (a template's `admin`/`admin` must never reach a
        customer): on a new tenant always, on an existing one when the stored hash does not verify it."""
        if not (self.p.get("admin_password") or self.p.get("admin_password_file")):
            return
        if current is not None:
            if not current.get("allow_connections"):
                return  # read after the resume
            admin = OdooDatabase(self.pg, self.name).admin_user()
            if admin and verify_password(self._admin_password(create=False), admin[2]):
                plan.report["admin_login"] = admin[1]
                return
        plan.add(
            "set the password of Odoo's administrator of %s (from %s)"
            % (self.name, "admin_password" if self.p.get("admin_password") else self.p["admin_password_file"]),
            self._set_admin_password,
        )

    def _admin_password(self, create=True):
        """The administrator's password: given, or read from admin_password_file, generated into it
        (mode 0600) when it does not exist yet."""
        if self.p.get("admin_password"):
            return self.p["admin_password"]
        path = self.p["admin_password_file"]
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        if not create:
            return None
        password = secrets.token_urlsafe(18)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(password + "\n")
        self._created_admin_file = path
        return password

    def _set_admin_password(self):
        self.admin_login = self._odoo().set_admin_password(self._admin_password())

    def _current_base_url(self, current):
        if not current.get("allow_connections"):
            return None  # cannot be read while suspended; it is set after the resume
        return OdooDatabase(self.pg, self.name).parameters("web.base.url").get("web.base.url")

    def _plan_neutralize(self, plan):
        how = (
            "Odoo's own neutralize.sql of every installed module, from %s" % ", ".join(self.p["odoo_addons_path"])
            if self.p.get("odoo_addons_path")
            else "the built-in list: mail servers, crons, webhooks, payment, delivery, fetchmail, IAP"
        )
        plan.add("neutralize %s (%s) and verify" % (self.name, how), self._neutralize)

    def _plan_existing(self, plan, current, path):
        metadata = current.get("metadata")
        backup = self.p.get("from_backup") or {}
        if backup and (metadata or {}).get("backup") != "s3://%s/%s" % (backup.get("bucket"), backup.get("key")):
            raise Refused("database %s already exists and was not restored from that backup; choose another name or remove it first" % self.name)
        if self.p.get("source") and (metadata or {}).get("source") != self.p["source"]:
            raise Refused("database %s already exists and is not a clone of %s; choose another name or remove it first" % (self.name, self.p["source"]))
        if self.p.get("template") and metadata is None:
            raise Refused(
                "database %s already exists and is not a tenant managed by %s; it was not created from "
                "template %s" % (self.name, MANAGED_BY, self.p["template"])
            )
        if (metadata or {}).get("kind") == "template":
            raise Refused("database %s is a template, not a tenant" % self.name)
        owner = self.p.get("owner")
        if owner and owner != current["owner"]:
            raise Refused("tenant %s is owned by %s, not %s; changing a tenant's owner is not supported here" % (self.name, current["owner"], owner))
        if self.p["state"] == "suspended":
            if current["allow_connections"]:
                plan.add("suspend %s: refuse new connections" % self.name, lambda: allow_connections(self.pg, self.name, False), allow_connections=False)
            sessions = self.sessions(self.name)
            if sessions:
                plan.add("cut %d open session(s) of %s" % (sessions, self.name), lambda: terminate_sessions(self.pg, self.name))
            plan.report["sessions_cut"] = sessions
            return
        # Everything from here runs SQL inside the tenant as a session role with its owner's rights.
        check_plain_owner(self.pg, current["owner"], "tenant %s's owner" % self.name)
        if not current["allow_connections"]:
            plan.add("resume %s: accept connections" % self.name, lambda: allow_connections(self.pg, self.name, True), allow_connections=True)
        self._owner = current["owner"]
        self._plan_settings(plan, current, path)
        self._plan_base_url(plan, current)
        self._plan_admin_password(plan, current)
        if self.p.get("neutralize") and not self._is_neutralized(current):
            self._plan_neutralize(plan)

    def _is_neutralized(self, current):
        if not current.get("allow_connections"):
            return False
        return not OdooDatabase(self.pg, self.name).neutralization_problems()

    def _plan_template(self, plan, current, path):
        """Seal a golden template: marked a template (clonable by any CREATEDB role), closed to every
        connection (no Odoo process can serve it by host name or hold a session that blocks tenant
        creation), no PUBLIC rights, owned by a role that owns no tenant, its filestore 0700."""
        if not current["exists"]:
            raise Refused("template %s does not exist: create it (Odoo's -i base into an empty database) first" % self.name)
        metadata = current.get("metadata")
        if metadata and metadata.get("kind") != "template":
            raise Refused("database %s is a tenant, not a template: clone it with source instead" % self.name)
        if self.p.get("owner") and self.p["owner"] != current["owner"]:
            raise Refused("template %s is owned by %s, not %s" % (self.name, current["owner"], self.p["owner"]))
        others = [
            row[0]
            for row in self.pg.query(
                "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s) "
                "AND datname <> %s AND NOT datistemplate ORDER BY 1",
                (current["owner"], self.name),
            )
        ]
        if others:
            raise Refused(
                "template %s is owned by %s, which also owns %s: a template must belong to a role no fleet "
                "uses, or that fleet can change what every future tenant inherits" % (self.name, current["owner"], ", ".join(others[:5]))
            )
        if not self.is_member(current["owner"]):
            plan.add("let %s act for %s" % (self.pg.user, current["owner"]), lambda: self._grant_to_me(current["owner"]))
        if not current.get("is_template") or current["allow_connections"]:
            plan.add(
                "seal %s: a template that accepts no connection" % self.name,
                lambda: self.pg.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(sql.Identifier(self.name))),
                is_template=True,
                allow_connections=False,
            )
        sessions = self.sessions(self.name)
        if sessions:
            plan.add("cut %d open session(s) of template %s" % (sessions, self.name), lambda: terminate_sessions(self.pg, self.name))
        if current["public_connect"]:
            plan.add("revoke CONNECT on %s from PUBLIC" % self.name, lambda: revoke_public(self.pg, self.name), public_connect=False)
        wanted = dict(metadata or {"managed_by": MANAGED_BY, "kind": "template", "template": self.name, "created": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        if wanted != metadata:
            plan.add("record template metadata on database %s" % self.name, lambda: self._comment(wanted), metadata=wanted)
        if path and os.path.isdir(path) and os.stat(path).st_mode & 0o077:
            plan.add("filestore %s to mode 0700" % path, lambda: os.chmod(path, 0o700))

    def _plan_absent(self, plan, current, path):
        if not current["exists"] and not current["filestore"]:
            return
        if current["exists"]:
            kind = (current.get("metadata") or {}).get("kind")
            if self.name in PROTECTED_DATABASES or current.get("is_template") or kind == "template":
                raise Refused(
                    "database %s is %s: odoo_tenant never removes it" % (self.name, "PostgreSQL's own" if self.name in PROTECTED_DATABASES else "a template")
                )
            if current.get("metadata") is None:
                raise Refused("database %s is not a tenant managed by %s (it has no tenant metadata): refusing to drop it" % (self.name, MANAGED_BY))
        plan.report["final_backup"] = self._check_final_backup()
        removed = {
            "database": self.name if current["exists"] else None,
            "database_bytes": 0,
            "filestore": path if current["filestore"] else None,
            "filestore_bytes": tree_size(path) if current["filestore"] else 0,
            "role": None,
        }
        if current["exists"]:
            removed["database_bytes"] = self.pg.query("SELECT pg_database_size(%s)", (self.name,))[0][0]
            sessions = self.sessions(self.name)
            label = "drop database %s (%d bytes), cutting %d session(s)" % (self.name, removed["database_bytes"], sessions)
            plan.add(label, self._drop_database, exists=False)
            role = current["owner"] if (current.get("metadata") or {}).get("owner_managed") else None
            if (
                role
                and self.pg.query(
                    "SELECT count(*) FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s) AND datname <> %s", (role, self.name)
                )[0][0]
                == 0
            ):
                removed["role"] = role
                plan.add("drop role %s, created for this tenant" % role, lambda: self._drop_role(role))
        if current["filestore"]:
            plan.add("remove filestore %s (%d bytes)" % (path, removed["filestore_bytes"]), lambda: shutil.rmtree(path), filestore=False)
        plan.after = {"exists": False, "filestore": False}
        plan.report["removed"] = removed

    def _check_final_backup(self):
        """The final backup, as the store and its signed sidecar say (never as the task says): it
        exists at its recorded version with its recorded size, it is this tenant's, it is not dated in
        the future, and it is younger than final_backup_max_age."""
        backup, max_age = self.p.get("final_backup"), self.p["final_backup_max_age"]
        if self.p["force"]:
            return {"checked": False, "reason": "force: true"}
        if not backup:
            raise Refused(
                "refusing to remove tenant %s without a final backup: give final_backup (the result of "
                "its backup, with bucket and key) newer than %d s, or force: true" % (self.name, max_age)
            )
        if not (backup.get("bucket") and backup.get("key")):
            raise Refused("final_backup must name the backup in the store (bucket and key: the result of odoo_backup), got %s" % sorted(backup))
        require_library("botocore", "checking final_backup")
        store = ObjectStore(self.p)
        source = BackupSource(store, {"bucket": backup["bucket"], "key": backup["key"]}, signing_keys(self.p), tenant=self.name)
        try:
            sidecar = source.check()
        except RestoreRefused as exc:
            raise Refused("final_backup: %s" % exc) from None
        created = parse_timestamp(sidecar.get("created"), "final_backup's created")
        age = (utc_now() - created).total_seconds()
        if age < -FUTURE_SKEW:
            raise Refused("final_backup of %s is dated %s, in the future: refusing it" % (self.name, created.isoformat()))
        if age > max_age:
            raise Refused("final_backup of %s is %d s old, older than final_backup_max_age (%d s): take a new backup first" % (self.name, age, max_age))
        for entry in source.objects.values():
            if not entry.get("version_id"):  # no versioning: the bytes themselves must match the signed record
                body = store.call("read %s" % entry["key"], "get_object", Bucket=backup["bucket"], Key=entry["key"], **version_args(None))["Body"]
                if HashingReader(body).drain()["sha256"] != entry["sha256"]:
                    raise Refused("final_backup s3://%s/%s does not match the SHA-256 its signed sidecar records" % (backup["bucket"], entry["key"]))
        return {
            "checked": True,
            "age_seconds": int(max(age, 0)),
            "key": backup["key"],
            "created": sidecar["created"],
            "version_ids": {k: o.get("version_id") for k, o in sorted(source.objects.items())},
        }

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
            if self._filler is not None:  # a failed fill: the role and the database it owns go
                self._filler.drop()
                self._filler, self._created_db = None, False
            for cleanup in self._cleanups:
                cleanup()

    def _undo_create(self):
        if self._built:
            self._built.discard()
        if self._committed:
            shutil.rmtree(self._committed, ignore_errors=True)
        if self._filler is not None:
            self._filler.drop()
            self._filler, self._created_db = None, False
        if self._created_db:  # never a database another run created
            drop_database(self.pg, self.name)
            self._created_db = False
        if self._created_role:
            self._drop_role(self._created_role)
            if self._created_role_file:
                os.unlink(self._created_role_file)
        if self._created_admin_file:
            os.unlink(self._created_admin_file)
            self._created_admin_file = None

    def _reopen_origin(self):
        if self._reopen:
            allow_connections(self.pg, self._reopen, True)
            self._reopen = None

    def _create_database(self, origin, owner, strategy, sessions):
        """CREATE DATABASE ... TEMPLATE, owned by a session role with the owner's rights (the objects
        inside keep theirs): a fleet's Odoo does not list the database until it is handed over."""
        if sessions:
            # Refuse new sessions first, or Odoo reconnects between the cut and the copy.
            allow_connections(self.pg, origin, False)
            self._reopen = origin
            terminate_sessions(self.pg, origin)
        self._filler = SessionRole(self.pg, [owner])
        self._filler.create()
        self._filler.create_database(self.name, template=origin, strategy=strategy)
        self._created_db = True

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
        self.pg.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s").format(sql.Identifier(owner)), (password,))
        self._created_role = owner

    def _grant_to_me(self, role):
        self.pg.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))

    def _drop_role(self, role):
        self.pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def _alter(self, clause, value):
        self.pg.execute(sql.SQL("ALTER DATABASE {} " + clause).format(sql.Identifier(self.name), value))

    def _comment(self, metadata):
        record_metadata(self.pg, self.name, metadata)

    def _neutralize(self):
        odoo = self._odoo()
        done = odoo.neutralize(self.p.get("odoo_addons_path"))
        problems = odoo.neutralization_problems()
        if problems:
            raise OperationFailed("neutralization of %s did not hold: %s" % (self.name, "; ".join(problems)))
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
    admin_password_file=dict(type="path", no_log=False),
    filestore_root=dict(type="path"),
    filestore_owner=dict(type="str"),
    connection_limit=dict(type="int"),
    statement_timeout=dict(type="int"),
    final_backup=dict(type="dict"),
    strategy=dict(type="str", choices=["dump", "file_copy", "wal_log"]),
)


def reassign_in_database(pg, dbname, old_owner, owner):
    """The objects old_owner owns in dbname to owner (never another database's: OdooDatabase's
    reassign_objects). A table can only go to a role that may create in its schema, and `public` may
    belong to the database's previous owner (a session role until a new tenant's hand-over, the old
    fleet's role in a move): the owner gets CREATE there for the move only."""
    public = sql.SQL("SCHEMA public")
    grant = not pg.query("SELECT has_schema_privilege(%s, 'public', 'CREATE')", (owner,), dbname)[0][0]
    if grant:
        pg.execute(sql.SQL("GRANT CREATE ON {} TO {}").format(public, sql.Identifier(owner)), dbname=dbname)
    OdooDatabase(pg, dbname).reassign_objects(old_owner, owner)
    if grant:
        pg.execute(sql.SQL("REVOKE CREATE ON {} FROM {}").format(public, sql.Identifier(owner)), dbname=dbname)


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
        raise Refused("tenants lists %s more than once" % ", ".join(doubles))
    return merged


def tenant_result(plan, tenant):
    labels = [step.label for step in plan.steps]
    result = plan_result(dict(plan.report, actions=labels), plan.changed, labels, plan.before, plan.after)
    if tenant.neutralized:
        result["neutralized"] = tenant.neutralized
    if tenant.code_objects:
        result["code_objects"] = tenant.code_objects
    if tenant.admin_login:
        result["admin_login"] = tenant.admin_login
    return result


def manage_tenants(pg, params, check_mode, warn):
    """Plan every tenant first (a refusal anywhere changes nothing), then apply in order; the tenants
    (and the sources they are cloned from) are locked against other runs from the plan to the end."""
    every = tenant_params(params)
    names = [one["name"] for one in every] + [one["source"] for one in every if one.get("source")]
    writers = OwnerSessions(pg)
    with tenant_locks(pg, names, params.get("lock_timeout") or 0):
        try:
            planned = []
            for one in every:
                tenant = Tenant(pg, one, writers)
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
        finally:
            writers.close()
    results = [dict(tenant_result(plan, tenant), name=tenant.name) for tenant, plan in planned]
    if not params.get("tenants"):
        results[0].pop("name")
        return results[0]
    return dict(
        changed=any(r["changed"] for r in results),
        tenants=results,
        steps=["%s: %s" % (r["name"], step) for r in results for step in r["steps"]],
        diff=[dict(r["diff"], before_header=r["name"], after_header=r["name"]) for r in results],
    )
