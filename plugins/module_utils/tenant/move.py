# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tenant moved to another fleet on the same PostgreSQL cluster: the database stays, its owner role
(the fleet's) and its filestore (the fleet's data folder) change, in two phases around the route switch.

Why two phases and a hand-over: with dbfilter, Odoo lists only the databases its role owns
(odoo/service/db.py list_dbs), so an owner-listing fleet serves a tenant only while its role owns it.
A dedicated fleet that serves by name (db_name, odoo/sizing.py serve_by_name) serves it whoever owns
it, given access. So the fleet that lists by owner owns the database for as long as it serves; the
fleet that serves by name gets access (CONNECT and the tables' rights) for the hand-over:

- prepare (before the route switch): the move recorded in the tenant's metadata; when the target
  serves by name, it gets access (the source keeps owning); else the database and its objects go to
  the target's role in one transaction, the source keeping access; the filestore copied to the target
  fleet's folder.
- finish (after the route switch): the database and its objects owned by the target's role, the
  access grants revoked, the source role's sessions in the database cut, the files the old fleet wrote
  since copied too, both folders compared and the source's removed, the move recorded as done.

Nothing here touches another database: every statement names the tenant's database or runs in it."""

import os
import shutil

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_fleet_name, check_tenant_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.filestore import copy_missing, files_missing, owner_ids
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import observe_database, record_metadata
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.session import check_plain_owner
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.lifecycle import reassign_in_database

# A fleet's database role is odoo_<fleet> (site.yml): the owner of a tenant's database names its fleet.
FLEET_ROLE_PREFIX = "odoo_"
PHASES = ("prepare", "finish")


def fleet_role(fleet):
    check_fleet_name(fleet, "fleet")
    return FLEET_ROLE_PREFIX + fleet


def fleet_of_role(role, tenant):
    """The fleet whose role `role` is; refused for a role that is no fleet's (a tenant's own role)."""
    fleet = role[len(FLEET_ROLE_PREFIX) :] if role.startswith(FLEET_ROLE_PREFIX) else ""
    if not fleet:
        raise Refused("tenant %s is owned by %s, which is no fleet's role (%s<fleet>); it cannot be moved between fleets" % (tenant, role, FLEET_ROLE_PREFIX))
    check_fleet_name(fleet, "tenant %s's current fleet (from its owner %s)" % (tenant, role))
    return fleet


def grant_access(pg, dbname, role):
    """What an Odoo process needs in a database it does not own (never DDL): one transaction."""
    ident = sql.Identifier(role)
    with pg.transaction(dbname):
        pg.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident), dbname=dbname)
        pg.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident), dbname=dbname)
        pg.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident), dbname=dbname)
        pg.execute(sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident), dbname=dbname)


def revoke_access(pg, dbname, role):
    ident = sql.Identifier(role)
    with pg.transaction(dbname):
        pg.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(ident), dbname=dbname)
        pg.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident), dbname=dbname)
        pg.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(ident), dbname=dbname)
        pg.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(dbname), ident), dbname=dbname)


def has_access_grant(pg, dbname, role):
    """Whether role holds a grant on the database itself (grant_access and revoke_access are one
    transaction each, so the database's ACL tells whether the rest was granted too)."""
    return pg.query(
        "SELECT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = %s AND r.rolname = %s)",
        (dbname, role),
    )[0][0]


def hand_over(pg, dbname, old_owner, new_owner, keep_access=False, drop_access=False):
    """The database and what old_owner owns in it to new_owner, in one transaction: the fleets never
    see the database without the rights they serve it with. keep_access: old_owner keeps access (it
    still serves); drop_access: new_owner's hand-over grants go first - revoked after the change, they
    would take the owner's own rights (an object's ACL lists its owner once anything was granted)."""
    with pg.transaction(dbname):
        if drop_access:
            revoke_access(pg, dbname, new_owner)
        pg.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(new_owner)), dbname=dbname)
        reassign_in_database(pg, dbname, old_owner, new_owner)
        if keep_access:
            grant_access(pg, dbname, old_owner)


def cut_role_sessions(pg, dbname, role):
    """The sessions role holds in this one database (the old fleet's pooled connections)."""
    return pg.query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND usename = %s", (dbname, role))[0][0]


class TenantMove:
    """One phase of a tenant's move to `fleet`: plan() then run(plan)."""

    def __init__(self, pg, params, check_mode=False):
        self.pg, self.p, self.check_mode = pg, params, check_mode
        self.name = params["name"]
        check_tenant_name(self.name, "name")
        self.target = fleet_role(params["fleet"])
        if params["phase"] not in PHASES:
            raise Refused("phase is %r: one of %s" % (params["phase"], ", ".join(PHASES)))
        self.uid, self.gid = owner_ids(params.get("filestore_owner"), params.get("filestore_group"))
        self.actions = []

    def folder(self, fleet):
        root = self.p.get("fleets_root")
        return os.path.join(root, fleet, "filestore", self.name) if root else None

    def _role_exists(self, role):
        return bool(self.pg.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)))

    def _is_member(self, role):
        return self.pg.query("SELECT pg_has_role(CURRENT_USER, %s, 'MEMBER')", (role,))[0][0]

    def plan(self):
        found = observe_database(self.pg, self.name)
        if not found["exists"]:
            raise Refused("tenant %s has no database on this server" % self.name)
        metadata = found.get("metadata")
        if metadata is None or found.get("is_template") or metadata.get("kind") == "template":
            raise Refused("database %s is not a tenant managed by sysgenpro.odoo_ops" % self.name)
        # A fleet made by this move (site.yml makes its role before the prepare phase runs) has no role
        # yet when the plan is only read (check mode).
        self.target_missing = not self._role_exists(self.target)
        if self.target_missing and not self.check_mode:
            raise Refused("fleet %s has no role %s on this server: deploy the fleet first (site.yml)" % (self.p["fleet"], self.target))
        move = metadata.get("move")
        if move and move.get("to") != self.target:
            raise Refused("tenant %s is being moved to %s already; finish that move first" % (self.name, move.get("to")))
        owner = found["owner"]
        before = {"owner": owner, "move": move}
        plan = Plan(before=before, report={"tenant": self.name, "fleet": self.p["fleet"]})
        if not move and owner == self.target:
            plan.report.update(source_fleet=None, moved=False)
            return plan  # where it belongs: nothing to do (also a re-run after a finished move)
        if not move and self.p["phase"] == "finish":
            raise Refused("tenant %s is owned by %s and not being moved to fleet %s: run the prepare phase first" % (self.name, owner, self.p["fleet"]))
        source = move["from"] if move else owner
        source_fleet = fleet_of_role(source, self.name)
        check_plain_owner(self.pg, source, "tenant %s's owner" % self.name)
        if not self.target_missing:
            check_plain_owner(self.pg, self.target, "fleet %s's role" % self.p["fleet"])
        plan.report.update(source_fleet=source_fleet, moved=True)
        for role in sorted({source, self.target} - ({self.target} if self.target_missing else set())):
            if not self._is_member(role):
                self._add(
                    plan,
                    "let %s act for %s" % (self.pg.user, role),
                    lambda role=role: self.pg.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role))),
                )
        if self.p["phase"] == "prepare":
            self._plan_prepare(plan, found, move, source, source_fleet)
        else:
            self._plan_finish(plan, found, move, source, source_fleet)
        return plan

    def _add(self, plan, label, action, **after):
        plan.steps.append(label)
        plan.after.update(after)
        self.actions.append(action)

    def _plan_prepare(self, plan, found, move, source, source_fleet):
        if not move:
            record = {"from": source, "to": self.target, "started": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")}
            metadata = dict(found["metadata"], move=record)
            self._add(
                plan,
                "record the move of %s from fleet %s to %s in its metadata" % (self.name, source_fleet, self.p["fleet"]),
                lambda: record_metadata(self.pg, self.name, metadata),
                move=record,
            )
        if self.p["serve_by_name"]:
            if found["owner"] == source and (self.target_missing or not has_access_grant(self.pg, self.name, self.target)):
                self._add(
                    plan,
                    "give %s access to %s (it serves by name; %s keeps owning it until the switch)" % (self.target, self.name, source),
                    lambda: grant_access(self.pg, self.name, self.target),
                )
        elif found["owner"] != self.target:
            self._add(
                plan,
                "hand %s and its objects to %s, %s keeping access until the switch (one transaction)" % (self.name, self.target, source),
                lambda: hand_over(self.pg, self.name, source, self.target, keep_access=True),
                owner=self.target,
            )
        self._plan_copy(plan, source_fleet, "copy the filestore of %s to fleet %s's folder" % (self.name, self.p["fleet"]))

    def _plan_copy(self, plan, source_fleet, label):
        origin, destination = self.folder(source_fleet), self.folder(self.p["fleet"])
        if origin and os.path.isdir(origin) and files_missing(origin, destination):
            self._add(plan, label, lambda: copy_missing(origin, destination, self.uid, self.gid))

    def _plan_finish(self, plan, found, move, source, source_fleet):
        if found["owner"] != self.target:
            granted = has_access_grant(self.pg, self.name, self.target)
            self._add(
                plan,
                "hand %s and its objects to %s%s (one transaction)"
                % (self.name, self.target, ", its hand-over grants replaced by ownership" if granted else ""),
                lambda: hand_over(self.pg, self.name, source, self.target, drop_access=granted),
                owner=self.target,
            )
        # Never the owner's: revoking from the owner takes its own rights.
        if source != self.target and has_access_grant(self.pg, self.name, source):
            self._add(plan, "revoke the access of %s to %s" % (source, self.name), lambda: revoke_access(self.pg, self.name, source))
        self._add(plan, "cut the sessions of %s (fleet %s) in %s" % (source, source_fleet, self.name), lambda: cut_role_sessions(self.pg, self.name, source))
        self._plan_copy(plan, source_fleet, "copy the files fleet %s wrote since the first copy" % source_fleet)
        origin = self.folder(source_fleet)
        if origin and os.path.isdir(origin):
            self._add(plan, "compare both filestores, then remove %s" % origin, lambda: self._remove_source(origin))
        metadata = {key: value for key, value in found["metadata"].items() if key != "move"}
        metadata.update(fleet=self.p["fleet"], moved_from=source_fleet, moved_at=utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"))
        self._add(plan, "record %s as moved to fleet %s" % (self.name, self.p["fleet"]), lambda: record_metadata(self.pg, self.name, metadata), move=None)

    def _remove_source(self, origin):
        missing = files_missing(origin, self.folder(self.p["fleet"]))
        if missing:
            raise Refused("the target filestore lacks %d file(s) of %s (first: %s); the source is kept" % (len(missing), origin, missing[0]))
        shutil.rmtree(origin)

    def run(self, plan):
        for action in self.actions:
            action()
        return plan
