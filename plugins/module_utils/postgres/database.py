# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database-level primitives on one server: create, drop, open or close to connections, cut
sessions, revoke PUBLIC's rights, and the metadata comment that marks a database as a tenant the
collection manages. SQL composed with psycopg2.sql only."""

import json
import time

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import sql

MANAGED_BY = "sysgenpro.odoo_ops"


def observe_database(pg, name):
    """A database's tenant-relevant state: owner, connections, limits, isolation, our metadata."""
    rows = pg.query(
        "SELECT pg_get_userbyid(d.datdba), d.datallowconn, d.datconnlimit, shobj_description(d.oid, 'pg_database'),"
        " (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0),"
        " has_database_privilege('public', d.datname, 'CONNECT') FROM pg_database d WHERE d.datname = %s", (name,))
    if not rows:
        return {"exists": False}
    owner, allow, limit, comment, settings, public = rows[0]
    timeout = next((s.split("=", 1)[1] for s in settings or [] if s.startswith("statement_timeout=")), None)
    try:
        metadata = json.loads(comment) if comment else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("managed_by") != MANAGED_BY:
        metadata = None
    return {"exists": True, "owner": owner, "allow_connections": allow, "connection_limit": limit,
            "statement_timeout": timeout, "public_connect": public, "metadata": metadata}


def allow_connections(pg, name, allow):
    pg.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        sql.Identifier(name), sql.SQL("true" if allow else "false")))


def terminate_sessions(pg, name, timeout=10.0):
    """Cut the sessions of database name and wait (bounded) until they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        left = pg.query("SELECT usename, pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        if not left:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%d session(s) of %s could not be cut (users: %s); only a superuser can cut a "
                               "superuser's session" % (len(left), name, ", ".join(sorted({r[0] for r in left}))))
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
