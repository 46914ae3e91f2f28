"""The Odoo test workload: a TEST DOUBLE of an Odoo server, not Odoo. It stands in for Odoo where
speed matters, honouring the parts of Odoo's contract the collection depends on
(../shared/ODOO_FACTS.md), each checked against real Odoo 18.0 by tests/integration/test_odoo_parity.py:

- reads odoo.conf ([options]: http_port, gevent_port, http_interface, http_enable, db_host, db_port,
  db_user, db_password, db_name, dbfilter, proxy_mode, list_db, data_dir, workers, db_maxconn,
  without_demo) and Odoo's command-line overrides --http-port, --gevent-port, --http-interface, --no-http;
- with http_enable off (a cron-only server) serves nothing and waits for SIGTERM;
- db_name at start-up, as odoo/cli/server.py: a listed database that does not exist is created when
  the role may (CREATEDB), else "skipping auto-creation: permission denied to create database" is
  logged; when one was created, base is installed into the FIRST listed database only (re-initialised
  when it existed; a later created one stays empty, "not initialized");
- `-d NAME -i base --stop-after-init`: the same, with base always (re-)initialised in NAME; exit 255
  when NAME is missing and cannot be created; demo data unless --without-demo (or without_demo);
- selects the database per request with dbfilter (`%h` host without port and leading `www.`, `%d` its
  first label, re.match like Odoo), among db_name's databases or else those the role owns;
  X-Forwarded-Host counts only with proxy_mode; paths are percent-decoded (/web%2Fdatabase/manager);
- GET /web/health answers 200 {"status": "pass"} without touching PostgreSQL; / answers 303 /odoo;
  /odoo and /web 303 to /web/login?redirect=... (or /web/database/selector when no database matches,
  as /web/login then does);
- /web/login shows a login form (class oe_login_form) for the tenant's database; the double also
  names the database and its web.base.url (data-database, data-base-url: its own markers, Odoo has none);
- ir.config_parameter values are cached per process, as Odoo's workers cache them (ormcache 'default'):
  a value changed in SQL is served only after base_cache_signaling_default (or
  base_registry_signaling) moved; /web/manifest.webmanifest shows web.web_app_name from that cache;
- pooled connections: database connections stay open (idle) after a request, as Odoo's pool keeps them;
- with workers > 0 the gevent port serves the same routes and upgrades /websocket (101); on the HTTP port
  a complete handshake answers 500 (no socket to hand over in a prefork worker). With workers = 0 there
  is no gevent port and the HTTP port upgrades itself. A handshake missing a header (Origin included)
  answers 400 anywhere. Once upgraded the double echoes text frames (its own test hook);
- list_db off: /web/database/manager and /selector answer 200 "The database manager has been disabled
  by the administrator"; /web/database/list answers 400 to GET (a type=json route) and an AccessDenied
  JSON-RPC error to POST;
- POST /web/session/authenticate (JSON-RPC: db, login, password) logs in as Odoo's does: the database
  must be the one the host's dbfilter picks ("Database not found." otherwise), the password verified;
- POST /web/test/attachment (the double's own hook) stores the body as Odoo stores attachments:
  `<data_dir>/filestore/<db>/<2 hex>/<sha1>` and an ir_attachment row;
- SIGTERM stops accepting, lets requests in flight finish (bounded), then exits.

Run: python odoo_workload.py -c /etc/odoo/odoo.conf [--http-port N --gevent-port N] [-d NAME -i base --stop-after-init]
"""

import argparse
import configparser
import contextlib
import hashlib
import json
import os
import re
import signal
import sys
import threading
import urllib.parse
from http.server import ThreadingHTTPServer

import psycopg2
from psycopg2 import errors, sql

# In the repository the collection resolves through .cache/collections (scripts/setup.sh links it
# there); tests start this file with `python -m`, which does not put that folder on the path.
_COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".cache", "collections")
if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
    sys.path.append(_COLLECTIONS)

try:  # in the repository
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import verify_password
    from tests.harness.example_backend import Handler as EchoHandler
    from tests.harness.odoo_fixture import SIGNALING_SEQUENCES, create_odoo_fixture
except ImportError:  # in the image, the files sit side by side
    from example_backend import Handler as EchoHandler  # type: ignore
    from odoo_fixture import SIGNALING_SEQUENCES, create_odoo_fixture  # type: ignore
    from odoo_passwords import verify_password  # type: ignore

DEFAULTS = {
    "http_port": "8069",
    "gevent_port": "8072",
    "http_interface": "",
    "db_host": "",
    "db_port": "5432",
    "db_user": "odoo",
    "db_password": "",
    "db_name": "",
    "dbfilter": "",
    "proxy_mode": "False",
    "list_db": "True",
    "data_dir": "/var/lib/odoo",
    "workers": "0",
    "db_maxconn": "64",
    "http_enable": "True",
    "without_demo": "False",
}
DISABLED = "The database manager has been disabled by the administrator"
HANDSHAKE = ("connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade", "origin")
# What a config parameter's cache follows (registry.py check_signaling): the registry, or the 'default' cache.
PARAMETER_SIGNALS = ("base_registry_signaling", "base_cache_signaling_default")


def read_config(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict({"options": DEFAULTS})
    if path and not parser.read(path):
        raise SystemExit("odoo_workload: cannot read config %s" % path)
    options = dict(parser["options"])
    for key in ("proxy_mode", "list_db", "http_enable"):
        options[key] = options[key].strip().lower() in ("true", "1", "yes")
    options["without_demo"] = options["without_demo"].strip().lower() not in ("", "false", "0", "no", "none")
    for key in ("http_port", "gevent_port", "db_port", "workers", "db_maxconn"):
        options[key] = int(options[key])
    return options


def connect_kwargs(options, dbname):
    kwargs = {
        "dbname": dbname,
        "user": options["db_user"],
        "port": options["db_port"],
        "connect_timeout": 5,
        "application_name": "odoo_workload-%d" % os.getpid(),
    }
    if options["db_host"]:
        kwargs["host"] = options["db_host"]
    if options["db_password"] and options["db_password"] != "False":
        kwargs["password"] = options["db_password"]
    return kwargs


class Pool:
    """Connections per database, kept open (idle) between requests like Odoo's ConnectionPool; at most
    db_maxconn per process. Its `cursor(db)` is the only way the double reaches PostgreSQL while serving."""

    def __init__(self, options):
        self.options, self.idle, self.lock = options, {}, threading.Lock()
        self.slots = threading.BoundedSemaphore(max(1, options["db_maxconn"]))

    @contextlib.contextmanager
    def cursor(self, dbname):
        if not self.slots.acquire(timeout=30):  # bounded, as a full Odoo pool raises after a while
            raise psycopg2.OperationalError("connection pool is full (db_maxconn %d)" % self.options["db_maxconn"])
        conn = None
        try:
            with self.lock:
                idle = self.idle.get(dbname)
                conn = idle.pop() if idle else None
            if conn is None or conn.closed:
                conn = psycopg2.connect(**connect_kwargs(self.options, dbname))
                conn.autocommit = True
            with conn.cursor() as cur:
                yield cur
            with self.lock:
                self.idle.setdefault(dbname, []).append(conn)
            conn = None
        finally:
            if conn is not None:
                conn.close()
            self.slots.release()

    def close_all(self):
        with self.lock:
            for conns in self.idle.values():
                for conn in conns:
                    conn.close()
            self.idle.clear()


class ParameterCache:
    """ir.config_parameter values per database, cached like Odoo's _get_param (ormcache 'default')."""

    def __init__(self):
        self.values, self.lock = {}, threading.Lock()

    def get(self, cur, dbname, key):
        seen = self._signals(cur)
        with self.lock:
            entry = self.values.get(dbname)
            if entry is None or entry["signals"] != seen:  # Odoo's check_signaling, at the request's start
                entry = self.values[dbname] = {"signals": seen, "params": {}}
            if key in entry["params"]:
                return entry["params"][key]
        cur.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (key,))
        row = cur.fetchone()
        with self.lock:
            entry["params"][key] = row[0] if row else None
        return entry["params"][key]

    @staticmethod
    def _signals(cur):
        try:
            cur.execute("SELECT (SELECT last_value FROM base_registry_signaling), (SELECT last_value FROM base_cache_signaling_default)")
            return cur.fetchone()
        except errors.UndefinedTable:  # Odoo creates the sequences at its first registry load
            for sequence in SIGNALING_SEQUENCES:
                cur.execute(sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}").format(sql.Identifier(sequence)))
            return ParameterCache._signals(cur)


def candidate_databases(options, pool):
    if options["db_name"] and options["db_name"] != "False":
        return db_names(options)
    with pool.cursor("postgres") as cur:
        cur.execute(
            "SELECT datname FROM pg_database WHERE datdba = (SELECT usesysid FROM pg_user WHERE usename = "
            "current_user) AND NOT datistemplate AND datallowconn ORDER BY datname"
        )
        return [row[0] for row in cur.fetchall()]


def db_names(options):
    value = options["db_name"] if options["db_name"] != "False" else ""
    return [name.strip() for name in value.split(",") if name.strip()]


def select_database(options, pool, host):
    """The database of a request's host as Odoo's db_filter picks it, or None."""
    host = host.split(":")[0]
    host = host[4:] if host.startswith("www.") else host
    pattern = (options["dbfilter"] or ".*").replace("%h", re.escape(host)).replace("%d", re.escape(host.split(".")[0]))
    found = [db for db in candidate_databases(options, pool) if re.match(pattern, db)]
    return found[0] if len(found) == 1 else None


class WorkloadHandler(EchoHandler):
    options, pool, params = {}, None, None

    def do_GET(self):  # pylint: disable=invalid-name
        path = urllib.parse.unquote(self.path.split("?")[0])  # werkzeug decodes %2F too
        if path == "/web/health":
            return self._json(200, {"status": "pass"})
        if path == "/websocket":
            return self._upgrade()
        if path.startswith("/web/database/"):
            return self._manager(path)
        if path == "/":
            return self._redirect("/odoo")
        dbname = self._database()
        if path in ("/odoo", "/web", "/web/login", "/web/manifest.webmanifest") and not dbname:
            return self._redirect("/web/database/selector") if path != "/web/manifest.webmanifest" else self._json(404, {"error": "not found"})
        if path in ("/odoo", "/web"):
            return self._redirect("/web/login?redirect=%s" % urllib.parse.quote(path + "?", safe=""))
        if path == "/web/login":
            return self._login(dbname)
        if path == "/web/manifest.webmanifest":
            with self.pool.cursor(dbname) as cur:
                return self._json(
                    200, {"name": self.params.get(cur, dbname, "web.web_app_name") or "Odoo", "scope": "/odoo", "start_url": "/odoo", "display": "standalone"}
                )
        return self._json(404, {"error": "not found", "db": dbname})

    def do_POST(self):  # pylint: disable=invalid-name
        path = urllib.parse.unquote(self.path.split("?")[0])
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path == "/web/database/list":
            if not self.options["list_db"]:
                return self._json(
                    200,
                    {"jsonrpc": "2.0", "id": None, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessDenied"}}},
                )
            return self._json(200, {"jsonrpc": "2.0", "id": None, "result": candidate_databases(self.options, self.pool)})
        dbname = self._database()
        if path == "/web/session/authenticate":
            return self._authenticate(dbname, body)
        if path != "/web/test/attachment" or not dbname:
            return self._json(404, {"error": "not found"})
        sha1 = hashlib.sha1(body).hexdigest()
        store_fname = "%s/%s" % (sha1[:2], sha1)
        folder = os.path.join(self.options["data_dir"], "filestore", dbname, sha1[:2])
        os.makedirs(folder, 0o700, exist_ok=True)
        with open(os.path.join(folder, sha1), "wb") as handle:
            handle.write(body)
        with self.pool.cursor(dbname) as cur:
            cur.execute(
                "INSERT INTO ir_attachment (name, type, store_fname, checksum, file_size) VALUES ('upload.bin', 'binary', %s, %s, %s) RETURNING id",
                (store_fname, sha1, len(body)),
            )
            attachment_id = cur.fetchone()[0]
        return self._json(201, {"id": attachment_id, "store_fname": store_fname, "db": dbname})

    def _authenticate(self, dbname, body):
        """JSON-RPC login as Odoo's /web/session/authenticate: the database asked for must be the one the
        host's dbfilter gives, the password must verify (PBKDF2-SHA512, or plaintext as Odoo's base data)."""
        try:
            params = json.loads(body or b"{}").get("params") or {}
        except ValueError:
            return self._json(400, {"error": "not JSON"})
        if not dbname or params.get("db") != dbname:
            return self._json(
                200,
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessError", "message": "Database not found."}},
                },
            )
        with self.pool.cursor(dbname) as cur:
            cur.execute("SELECT id, password FROM res_users WHERE login = %s AND active", (params.get("login"),))
            row = cur.fetchone()
        stored = row[1] if row else None
        if not stored or not (verify_password(params.get("password"), stored) or (not stored.startswith("$") and stored == params.get("password"))):
            return self._json(
                200,
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}},
                },
            )
        return self._json(200, {"jsonrpc": "2.0", "id": None, "result": {"uid": row[0], "db": dbname, "username": params["login"]}})

    def _upgrade(self):
        missing = [name for name in HANDSHAKE if name not in {key.lower() for key in self.headers}]
        if missing or self.headers["Upgrade"].lower() != "websocket":
            return self._html(400, "<title>400 Bad Request</title><p>Empty or missing header(s): %s</p>" % ", ".join(missing))
        if self.role == "http" and self.options["workers"] > 0:  # a prefork HTTP worker has no socket to give away
            return self._html(
                500,
                "<title>500 Internal Server Error</title><p>Couldn't bind the websocket. Is the "
                "connection opened on the evented port (%d)?</p>" % self.options["gevent_port"],
            )
        return self._websocket()

    def _manager(self, path):
        if path == "/web/database/list":  # a type=json route, reached with GET
            return self._html(
                400, "<title>400 Bad Request</title><p>Request inferred type is compatible with ['http'] but '/web/database/list' is type='json'.</p>"
            )
        if path not in ("/web/database/manager", "/web/database/selector"):
            return self._json(404, {"error": "not found"})
        if not self.options["list_db"]:
            return self._html(200, '<div class="alert alert-danger text-center">%s</div>' % DISABLED)
        return self._json(200, {"databases": candidate_databases(self.options, self.pool)})

    def _database(self):
        host = self.headers.get("Host") or ""
        if self.options["proxy_mode"] and self.headers.get("X-Forwarded-Host"):
            host = self.headers["X-Forwarded-Host"]
        return select_database(self.options, self.pool, host)

    def _redirect(self, location):
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _html(self, status, text):
        body = ("<!DOCTYPE html>\n<html>%s</html>" % text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _login(self, dbname):
        with self.pool.cursor(dbname) as cur:
            base_url = self.params.get(cur, dbname, "web.base.url") or ""
        self._html(
            200,
            '<head><title>Odoo</title></head><body data-database="%s" data-base-url="%s">'
            '<form class="oe_login_form" method="post" action="/web/login"></form>'
            "Odoo test workload (a test double, not Odoo): database %s</body>" % (dbname, base_url, dbname),
        )


def _admin(options):
    conn = psycopg2.connect(**connect_kwargs(options, "postgres"))
    conn.autocommit = True
    return contextlib.closing(conn)


def auto_create(options, init_base=False, demo=True):
    """Odoo's start-up with db_name (odoo/cli/server.py, loading.py), in order: create each missing
    listed database when the role may; when one was created (or -i base), base goes into the first
    listed database only. Returns (messages, the first database when it could not be initialised)."""
    names, messages, created = db_names(options), [], False
    with _admin(options) as conn, conn.cursor() as cur:
        for name in names:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                continue
            try:
                cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0").format(sql.Identifier(name)))
                created = True
            except errors.InsufficientPrivilege as exc:
                messages.append("Could not determine if database %s exists, skipping auto-creation: %s" % (name, str(exc).strip()))
        if not names or not (created or init_base):
            return messages, None
        first = names[0]
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (first,))
        if not cur.fetchone():
            messages.append("Failed to initialize database `%s`." % first)
            return messages, first
    conn = psycopg2.connect(**connect_kwargs(options, first))
    with contextlib.closing(conn), conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ir_module_module')")
        initialised = cur.fetchone()[0] is not None
        if initialised:
            cur.execute("UPDATE ir_module_module SET write_date = now() WHERE name = 'base'")
    if initialised:
        messages.append("database %s exists: base re-initialised" % first)
    else:
        create_odoo_fixture(
            {k: v for k, v in connect_kwargs(options, first).items() if k != "dbname"},
            first,
            filestore_root=os.path.join(options["data_dir"], "filestore"),
            demo=demo,
            create=False,
        )
        messages.append("database %s created, base installed%s" % (first, " with demo data" if demo else ""))
    for name in names[1:]:
        messages.append("Database %s not initialized, you can force it with `-i base`" % name if _empty(options, name) else "database %s loaded" % name)
    return messages, None


def _empty(options, name):
    try:
        conn = psycopg2.connect(**connect_kwargs(options, name))
    except psycopg2.OperationalError:
        return False
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ir_module_module') IS NULL")
        return cur.fetchone()[0]


def serve(options):
    servers = []
    ports = [(options["http_port"], "http")] + ([(options["gevent_port"], "websocket")] if options["workers"] > 0 else [])
    pool, params = Pool(options), ParameterCache()
    for port, role in ports if options["http_enable"] else ():
        handler = type("Workload%sHandler" % role.title(), (WorkloadHandler,), {"role": role, "options": options, "pool": pool, "params": params})
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer((options["http_interface"] or "0.0.0.0", port), handler)
        server.daemon_threads = False  # requests in flight finish before the process exits
        servers.append(server)
    stopping = threading.Event()

    def stop(_signum, _frame):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    if servers:
        print(
            "odoo_workload: serving on %s:%s"
            % (options["http_interface"] or "0.0.0.0", " and :".join("%d (%s)" % (port, "gevent" if role == "websocket" else role) for port, role in ports)),
            flush=True,
        )
    else:
        print("odoo_workload: http_enable is off, no HTTP served (cron only)", flush=True)
    while not stopping.wait(0.5):
        pass
    for server in servers:
        server.shutdown()  # stop accepting
    for server in servers:
        server.server_close()  # joins the requests in flight (a websocket lives 60 s at most)
    pool.close_all()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config")
    parser.add_argument("-d", "--database")
    parser.add_argument("-i", "--init")
    parser.add_argument("--without-demo")
    parser.add_argument("--stop-after-init", action="store_true")
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--gevent-port", type=int)
    parser.add_argument("--http-interface")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args(argv)
    options = read_config(args.config)
    for key in ("http_port", "gevent_port", "http_interface"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.no_http:
        options["http_enable"] = False
    if args.database:
        options["db_name"] = args.database
    demo = not (options["without_demo"] or args.without_demo)
    messages, failed = auto_create(options, init_base=bool(args.init and "base" in args.init.split(",")), demo=demo)
    for message in messages:
        print("odoo_workload: %s" % message, flush=True)
    if args.stop_after_init:
        return 255 if failed else 0
    serve(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
