# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session roles: the only way the collection runs SQL inside a tenant database.

What a tenant database holds is not trusted: a backup from a bucket anyone with its keys can
rewrite, or a live tenant whose Odoo (with a customer's own addons) can create triggers, views,
generated columns and functions. Any of those runs with the privileges of whoever reads or writes
the table - so the admin role (CREATEDB, CREATEROLE) or a superuser must never do it.

A SessionRole is a login role made for one task: member of nothing but the tenant owners it is
given (or, for a restore, of nothing at all while it owns the new database), valid for a day at
most, dropped when the task ends. The tenant's SQL then runs with at most the rights its own Odoo
already has, and there is no privileged session to return to: `RESET ROLE` or `SET SESSION
AUTHORIZATION` in that SQL lands on the session role itself.

Session roles belong to the NOLOGIN group `odoo_ops_sessions` (no privileges), so that pg_hba.conf
can name them all (`host all +odoo_ops_sessions ...`). Leftovers of a killed run expire and are
reaped by the next one.
"""

import datetime
import secrets

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import PostgresError, sql
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

SESSION_GROUP = "odoo_ops_sessions"
SESSION_PREFIX = "odoo_ops_s_"
VALID_FOR = datetime.timedelta(days=1)


class SessionRole:
    """A throwaway login role; use as a context manager, then client(dbname) for SQL as it."""

    def __init__(self, admin, owners=()):
        self.admin = admin
        self.name = SESSION_PREFIX + secrets.token_hex(6)
        self.owners = sorted(set(o for o in owners if o))
        self._password = secrets.token_urlsafe(24)
        self._client = None
        self._owns = set()  # databases this role owns (restores), handed over or dropped at the end
        self.created = False

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.drop()

    def create(self):
        for owner in self.owners:  # before anything exists: a refusal leaves nothing behind
            self._check_owner(owner)
        self._reap_expired()
        self._ensure_group()
        until = (datetime.datetime.now(datetime.timezone.utc) + VALID_FOR).strftime("%Y-%m-%d %H:%M:%S+00")
        self.admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT VALID UNTIL {} IN ROLE {} PASSWORD %s").format(
                sql.Identifier(self.name), sql.Literal(until), sql.Identifier(SESSION_GROUP)
            ),
            (self._password,),
        )
        self.created = True
        # The admin must own what this role owns to hand it over (ALTER DATABASE ... OWNER, REASSIGN).
        self.admin.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(self.name)))
        for owner in self.owners:
            self._grant(owner)

    def _check_owner(self, owner):
        check_plain_owner(self.admin, owner)

    def _grant(self, owner):
        self._check_owner(owner)
        self.admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(self.name)))

    def add_owner(self, owner):
        """Make the (created) role a member of one more owner."""
        if owner and owner not in self.owners:
            self._grant(owner)
            self.owners.append(owner)

    def client(self):
        """The Postgres client logged in as this role (one per session, connections per database)."""
        if self._client is None:
            self._client = self.admin.as_role(self.name, self._password)
        return self._client

    def env(self, dbname):
        """Environment for a libpq program (psql, pg_restore) run as this role into dbname."""
        return self.client().client_env(PGDATABASE=dbname)

    def create_database(self, dbname, template=None, strategy="wal_log"):
        """A new database owned by this role, with no PUBLIC rights: an empty UTF-8 one from template0
        (what a restore fills while no privileged role owns it), or a copy of template."""
        if template:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY {}").format(
                sql.Identifier(dbname), sql.Identifier(template), sql.Identifier(self.name), sql.SQL(strategy.upper())
            )
        else:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' OWNER {}").format(sql.Identifier(dbname), sql.Identifier(self.name))
        self.admin.execute(statement)
        self._owns.add(dbname)
        self.admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))

    def sanitize(self, dbname):
        """Undo what SQL run as this role could change at the database level: settings (ALTER DATABASE
        ... SET, which would steer every later session), rights granted to others, the template flag,
        the connection limit. Run right after a restore, before any other session enters."""
        name = sql.Identifier(dbname)
        self.admin.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true CONNECTION LIMIT -1").format(name))
        self.admin.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(name))
        for (grantee,) in self.admin.query(
            "SELECT DISTINCT pg_get_userbyid(a.grantee) FROM pg_database d, aclexplode(d.datacl) a "
            "WHERE d.datname = %s AND a.grantee <> 0 AND a.grantee <> d.datdba",
            (dbname,),
        ):
            self.admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(name, sql.Identifier(grantee)))
        self.admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))

    def hand_over(self, dbname, owner):
        """Give a database this role filled to `owner`: the database and every object in it (never to
        the admin - a SECURITY DEFINER function owned by the admin would run as the admin), after
        undoing again what its content could have changed at the database level since."""
        if self._client:
            self._client.close(dbname)
        self.admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
        self.sanitize(dbname)
        self.admin.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(self.name), sql.Identifier(owner)), dbname=dbname)
        self.admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(self.name)), dbname=dbname)
        self.admin.close(dbname)
        self._owns.discard(dbname)

    def drop(self):
        """Close its connections and drop it; a database it still owns (a failed restore) is dropped
        first. Objects it owns elsewhere (planted by a tenant's SQL) are dropped with it."""
        if self._client:
            self._client.close()
        if not self.created:
            return
        for dbname in sorted(self._owns):
            self.admin.close(dbname)
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        self._owns.clear()
        drop_session_role(self.admin, self.name)
        self.created = False

    def _ensure_group(self):
        if not self.admin.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (SESSION_GROUP,)):
            try:
                self.admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(SESSION_GROUP)))
            except PostgresError:
                if not self.admin.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (SESSION_GROUP,)):
                    raise  # not a concurrent run that created it first

    def _reap_expired(self):
        """Session roles of earlier runs that were killed before they dropped theirs."""
        for (name,) in self.admin.query(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s AND rolvaliduntil < now() ORDER BY 1", (SESSION_PREFIX.replace("_", "\\_") + "%",)
        ):
            try:
                drop_session_role(self.admin, name)
            except PostgresError:
                pass  # another run reaps it, or it still owns something: the next run tries again


def owner_privileges(admin, owner):
    """What makes `owner` more than a plain tenant owner: its own attributes, or a role it is a member
    of (directly or not) with SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, a predefined
    pg_* role (pg_execute_server_program, pg_read_server_files, pg_signal_backend ...), or the
    collection's own login role. A tenant's SQL (a restored dump, its Odoo's addons) runs with its
    owner's rights and can SET ROLE to any of them, so each is a way out. Empty when it is plain or
    does not exist (yet)."""
    if not admin.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)):
        return []
    found = []
    for name, superuser, createrole, createdb, replication, bypassrls in admin.query(
        "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls FROM pg_roles r "
        "WHERE r.rolname <> 'pg_database_owner' AND pg_has_role(%s, r.oid, 'MEMBER') AND (r.rolsuper OR r.rolcreaterole "
        "OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls OR r.rolname LIKE 'pg\\_%%' OR r.rolname IN (current_user, session_user)) "
        "ORDER BY r.rolname <> %s, 1",
        (owner, owner),
    ):
        flags = [
            f
            for f, on in (("SUPERUSER", superuser), ("CREATEROLE", createrole), ("CREATEDB", createdb), ("REPLICATION", replication), ("BYPASSRLS", bypassrls))
            if on
        ]
        what = ("has " + ", ".join(flags)) if flags else "is the collection's login role" if name == admin.user else "is a predefined role"
        found.append("%s %s" % ("it" if name == owner else "it is a member of %s, which" % name, what))
    return found


def check_plain_owner(admin, owner, what="owner"):
    """Refuse an owner a tenant's SQL could escalate through (see owner_privileges), or one of the
    collection's own session roles (every session role is a member of their group)."""
    if owner == SESSION_GROUP or owner.startswith(SESSION_PREFIX):
        raise Refused("%s %s is the collection's own session role group or one of its session roles, not a tenant owner" % (what, owner))
    if admin.query("SELECT 1 FROM pg_roles WHERE rolname = %s AND rolsuper", (owner,)):
        raise Refused(
            "%s %s is a superuser: the collection never runs a tenant's SQL with a superuser's rights; give the database an owner without SUPERUSER"
            % (what, owner)
        )
    found = owner_privileges(admin, owner)
    if found:
        raise Refused(
            "%s %s is not a plain role (%s): a tenant's SQL runs with its owner's rights and could use them; "
            "give the database an owner with no such attribute or membership" % (what, owner, "; ".join(found[:5]))
        )


def drop_session_role(admin, name):
    """Drop a session role, first the objects it owns in any database (DROP OWNED there)."""
    databases = admin.query(
        "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s) AND d.datallowconn ORDER BY 1",
        (name,),
    )
    for (dbname,) in databases:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)), dbname=dbname)
        admin.close(dbname)
    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


class OwnerSessions:
    """The session role of one task for its SQL inside existing tenant databases: created on first
    use, made a member of each owner it is asked for, dropped by close()."""

    def __init__(self, admin):
        self.admin, self.session = admin, None

    def client(self, owner):
        if self.session is None:
            self.session = SessionRole(self.admin, [owner])
            self.session.create()
        else:
            self.session.add_owner(owner)
        return self.session.client()

    def env(self, owner, dbname):
        self.client(owner)
        return self.session.env(dbname)

    def close(self):
        if self.session is not None:
            self.session.drop()
            self.session = None
