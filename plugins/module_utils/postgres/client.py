# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one PostgreSQL client of the collection: connection options, connecting, small queries.

SQL is composed with psycopg2.sql (identifiers and literals), never by string formatting.
Other module_utils import `sql` from here, so that the psycopg2 import is guarded in one place.
"""

import contextlib
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError

try:
    import psycopg2
    import psycopg2.extensions
    from psycopg2 import sql

    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR = True, None
except ImportError:
    psycopg2 = sql = None
    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR = False, traceback.format_exc()

__all__ = ["HAS_PSYCOPG2", "PSYCOPG2_IMPORT_ERROR", "Postgres", "PostgresError", "postgres_argument_spec", "sql"]


def postgres_argument_spec():
    """The connection options (see the sysgenpro.odoo_ops.postgres doc fragment)."""
    return dict(
        login_host=dict(type="str", fallback=(env_fallback, ["PGHOST"])),
        login_port=dict(type="int", fallback=(env_fallback, ["PGPORT"])),
        login_user=dict(type="str", fallback=(env_fallback, ["PGUSER"])),
        login_password=dict(type="str", no_log=True, fallback=(env_fallback, ["PGPASSWORD"])),
        login_unix_socket=dict(type="path", fallback=(env_fallback, ["ODOO_OPS_PG_UNIX_SOCKET"])),
        ssl_mode=dict(type="str", fallback=(env_fallback, ["PGSSLMODE"]), choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"], fallback=(env_fallback, ["PGSSLROOTCERT"])),
    )


# Every connection resolves unqualified names in pg_catalog only: a tenant database (or its owner's
# ALTER DATABASE ... SET search_path) must never make the collection's SQL call a function or an
# operator the tenant wrote. SQL on tenant tables names them public.<table>.
PINNED_SEARCH_PATH = "-c search_path=pg_catalog,pg_temp"


class PostgresError(OdooOpsError):
    """A failure talking to PostgreSQL, with a message safe to show (no password, no DSN)."""


class Postgres:
    """Connections to one server with one set of credentials, opened per database on demand."""

    def __init__(self, params):
        self.host = params.get("login_host") or params.get("login_unix_socket") or "localhost"
        self.port = params.get("login_port") or 5432
        self.user = params.get("login_user") or "postgres"
        self._password = params.get("login_password")
        self._ssl = {"sslmode": params.get("ssl_mode") or "prefer"}
        if params.get("ca_cert"):
            self._ssl["sslrootcert"] = params["ca_cert"]
        self._connections = {}

    def as_role(self, user, password):
        """A client of the same server (host, port, TLS) logged in as another role."""
        other = Postgres({"login_host": self.host, "login_port": self.port, "login_user": user, "login_password": password, "ssl_mode": self._ssl["sslmode"]})
        other._ssl = dict(self._ssl)  # pylint: disable=protected-access  # same class
        return other

    @property
    def where(self):
        return "%s:%s" % (self.host, self.port)

    def connect(self, dbname="postgres"):
        """An autocommit connection to dbname (cached): CREATE/DROP DATABASE cannot run in a transaction."""
        if dbname in self._connections and not self._connections[dbname].closed:
            return self._connections[dbname]
        conn = self._open(dbname)
        conn.autocommit = True
        self._connections[dbname] = conn
        return conn

    def connect_dedicated(self, dbname="postgres"):
        """A new autocommit connection of the caller's own (not cached): for session-level state such as
        advisory locks, which must not be closed by the client's other work."""
        conn = self._open(dbname)
        conn.autocommit = True
        return conn

    def _open(self, dbname):
        try:
            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self._password,
                dbname=dbname,
                connect_timeout=10,
                application_name="sysgenpro.odoo_ops",
                options=PINNED_SEARCH_PATH,
                **self._ssl,
            )
        except psycopg2.OperationalError as exc:
            raise PostgresError("cannot connect to PostgreSQL at %s as %s (database %s): %s" % (self.where, self.user, dbname, self._safe(exc))) from None

    @contextlib.contextmanager
    def transaction(self, dbname="postgres"):
        """The block's statements on dbname's cached connection as one transaction: all or nothing,
        and one commit (one WAL flush) instead of one per statement. Nested blocks join the outer one."""
        conn = self.connect(dbname)
        if not conn.autocommit:
            yield
            return
        conn.autocommit = False
        try:
            yield
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        finally:
            if not conn.closed:
                conn.autocommit = True

    @contextlib.contextmanager
    def exported_snapshot(self, dbname):
        """(cursor, snapshot id) of a read-only REPEATABLE READ transaction kept open for the block:
        what the cursor reads and what `pg_dump --snapshot=<id>` dumps is one instant."""
        conn = self._open(dbname)
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                self._execute(cur, "SELECT pg_export_snapshot()", None)
                yield cur, cur.fetchone()[0]
        finally:
            try:
                conn.rollback()
            except psycopg2.Error:
                pass  # the server went away: the error that matters is the one raised in the block
            conn.close()

    def client_env(self, **extra):
        """Environment for libpq client programs (pg_dump, psql): the password never goes on a command line."""
        env = {
            "PGHOST": str(self.host),
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGSSLMODE": self._ssl["sslmode"],
            "PGAPPNAME": "sysgenpro.odoo_ops",
            "PGCONNECT_TIMEOUT": "10",
        }
        if self._password:
            env["PGPASSWORD"] = self._password
        if "sslrootcert" in self._ssl:
            env["PGSSLROOTCERT"] = self._ssl["sslrootcert"]
        env.update(extra)
        return env

    def safe(self, text):
        """text with the password masked (client programs' error output)."""
        return self._safe(text)

    def _safe(self, exc):
        text = str(exc).strip().replace("\n", " ")
        if self._password:
            text = text.replace(self._password, "********")
        return text

    def query(self, statement, args=None, dbname="postgres"):
        """All rows of a query, as tuples."""
        with self.connect(dbname).cursor() as cur:
            self._execute(cur, statement, args)
            return cur.fetchall() if cur.description else []

    def execute(self, statement, args=None, dbname="postgres"):
        with self.connect(dbname).cursor() as cur:
            self._execute(cur, statement, args)
            return cur.rowcount

    def _execute(self, cur, statement, args):
        try:
            cur.execute(statement, args)
        except psycopg2.Error as exc:
            raise PostgresError("PostgreSQL at %s: %s" % (self.where, self._safe(exc))) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self, dbname=None):
        for name in [dbname] if dbname else list(self._connections):
            conn = self._connections.pop(name, None)
            if conn is not None and not conn.closed:
                conn.close()
