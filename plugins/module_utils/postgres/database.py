# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database-level primitives on one server: create, drop, open or close to connections, cut
sessions, revoke PUBLIC's rights, and the metadata comment that marks a database as a tenant the
collection manages. SQL composed with psycopg2.sql only."""

import contextlib
import json
import time
import zlib

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, OperationFailed
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql

MANAGED_BY = "sysgenpro.odoo_ops"
PROTECTED_DATABASES = ("postgres", "template0", "template1")
LOCK_CLASS = 0x6F6F7073  # "oops": the advisory-lock space of sysgenpro.odoo_ops (first key)


class TenantBusy(OdooOpsError, RuntimeError):
    """Another run holds a tenant's lock."""


@contextlib.contextmanager
def tenant_locks(pg, names, timeout):
    """Hold the advisory lock of each named tenant (sorted, so two runs never wait on each other in a
    circle) for the block: runs on one cluster that touch one tenant are serialised. A lock another
    run holds is waited for at most `timeout` seconds, then TenantBusy names the tenant. The locks
    live in a connection of their own (released with it, also when the run dies)."""
    conn = pg.connect_dedicated()
    held = []
    try:
        for name in sorted(set(names)):
            key = zlib.crc32(name.encode("utf-8")) - 2**31  # a signed 32-bit key
            deadline = time.monotonic() + timeout
            with conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, key))
                    if cur.fetchone()[0]:
                        held.append(key)
                        break
                    if time.monotonic() >= deadline:
                        raise TenantBusy(
                            "tenant %s is being changed by another run (its lock is held); try again when "
                            "that run has ended, or raise lock_timeout (now %s s)" % (name, timeout)
                        )
                    time.sleep(0.2)
        yield held
    finally:
        conn.close()


def observe_database(pg, name):
    """A database's tenant-relevant state: owner, connections, limits, isolation, our metadata."""
    rows = pg.query(
        "SELECT pg_get_userbyid(d.datdba), d.datallowconn, d.datconnlimit, shobj_description(d.oid, 'pg_database'),"
        " (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0),"
        " has_database_privilege('public', d.datname, 'CONNECT'), d.datistemplate FROM pg_database d"
        " WHERE d.datname = %s",
        (name,),
    )
    if not rows:
        return {"exists": False}
    owner, allow, limit, comment, settings, public, is_template = rows[0]
    timeout = next((s.split("=", 1)[1] for s in settings or [] if s.startswith("statement_timeout=")), None)
    try:
        metadata = json.loads(comment) if comment else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("managed_by") != MANAGED_BY:
        metadata = None
    found = {
        "exists": True,
        "owner": owner,
        "allow_connections": allow,
        "connection_limit": limit,
        "statement_timeout": timeout,
        "public_connect": public,
        "metadata": metadata,
    }
    if is_template:
        found["is_template"] = True
    return found


def allow_connections(pg, name, allow):
    pg.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(sql.Identifier(name), sql.SQL("true" if allow else "false")))


def terminate_sessions(pg, name, timeout=10.0):
    """Cut the sessions of database name and wait (bounded) until they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        left = pg.query("SELECT usename, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        if not left:
            return
        if time.monotonic() > deadline:
            raise OperationFailed(
                "%d session(s) of %s could not be cut (users: %s); only a superuser can cut a "
                "superuser's session" % (len(left), name, ", ".join(sorted({r[0] for r in left})))
            )
        time.sleep(0.1)


def create_empty_database(pg, name, owner=None):
    """An empty UTF-8 database from template0 (what a restore or a copy starts from)."""
    statement = "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'" + (" OWNER {}" if owner else "")
    pg.execute(sql.SQL(statement).format(*[sql.Identifier(n) for n in (name, owner) if n]))


def drop_database(pg, name):
    """Drop a database if it exists, cutting its sessions (PostgreSQL's FORCE)."""
    pg.close(name)
    pg.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def revoke_public(pg, name):
    pg.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


def executable_objects(pg, dbname):
    """What in a database can run code when its tables are used: functions, procedures and
    aggregates of its own (not an extension's), triggers, rules other than views', row-level
    policies. A database Odoo made has none; read from the catalogs only (nothing of it runs)."""
    rows = pg.query(
        "SELECT 'function ' || p.oid::regprocedure::text || CASE WHEN p.prosecdef THEN ' (SECURITY DEFINER)' ELSE '' END "
        "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
        "WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') "
        "UNION ALL SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text FROM pg_catalog.pg_trigger t "
        "WHERE NOT t.tgisinternal "
        "UNION ALL SELECT 'rule ' || r.rulename || ' on ' || r.ev_class::regclass::text FROM pg_catalog.pg_rewrite r "
        "WHERE r.rulename <> '_RETURN' AND r.ev_class >= 16384 "
        "UNION ALL SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text FROM pg_catalog.pg_policy pol "
        "ORDER BY 1",
        dbname=dbname,
    )
    return [row[0] for row in rows]
