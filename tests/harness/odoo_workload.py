"""The Odoo test workload: a TEST DOUBLE of an Odoo server, not Odoo. No registry offers the Odoo
server here, so this stands in for it in tests, honouring the parts of Odoo's contract the
collection depends on (../shared/ODOO_FACTS.md):

- reads odoo.conf ([options]: http_port, gevent_port, http_interface, http_enable, db_host, db_port,
  db_user, db_password, db_name, dbfilter, proxy_mode, list_db, data_dir, workers, db_maxconn) and
  Odoo's command-line overrides --http-port, --gevent-port, --http-interface, --no-http;
- with http_enable off (a cron-only server) serves nothing and waits for SIGTERM;
- selects the database per request with dbfilter (`%h` host without port and leading `www.`, `%d`
  its first label, applied with re.match like Odoo), among db_name's databases or else those the
  role owns; X-Forwarded-Host counts only with proxy_mode; no single match answers 303 to
  /web/database/selector;
- GET /web/health answers 200 {"status": "pass"} on both ports, without touching PostgreSQL;
- GET /web/login reads the tenant's database and shows its name (and its web.base.url);
- /websocket upgrades only on the gevent port (400 on the HTTP port), then echoes text frames;
- /web/database/* answers 403 (AccessDenied) when list_db is off;
- POST /web/test/attachment (the double's own hook) stores the body as Odoo stores attachments:
  `<data_dir>/filestore/<db>/<2 hex>/<sha1>` and an ir_attachment row;
- `-d NAME -i base --stop-after-init` creates the database with the Odoo tables the collection reads;
- SIGTERM stops accepting, lets requests in flight finish (bounded), then exits.

Run: python odoo_workload.py -c /etc/odoo/odoo.conf [--http-port N --gevent-port N] [-d NAME -i base --stop-after-init]
"""
import argparse
import configparser
import contextlib
import hashlib
import os
import re
import signal
import sys
import threading
from http.server import ThreadingHTTPServer

import psycopg2

try:  # in the repository
    from tests.harness.example_backend import Handler as EchoHandler
    from tests.harness.odoo_fixture import create_odoo_fixture
except ImportError:  # in the image, the three files sit side by side
    from example_backend import Handler as EchoHandler  # type: ignore
    from odoo_fixture import create_odoo_fixture  # type: ignore

DEFAULTS = {"http_port": "8069", "gevent_port": "8072", "http_interface": "", "db_host": "", "db_port": "5432",
            "db_user": "odoo", "db_password": "", "db_name": "", "dbfilter": "", "proxy_mode": "False",
            "list_db": "True", "data_dir": "/var/lib/odoo", "workers": "0", "db_maxconn": "64",
            "http_enable": "True"}


def read_config(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict({"options": DEFAULTS})
    if path and not parser.read(path):
        raise SystemExit("odoo_workload: cannot read config %s" % path)
    options = dict(parser["options"])
    for key in ("proxy_mode", "list_db", "http_enable"):
        options[key] = options[key].strip().lower() in ("true", "1", "yes")
    for key in ("http_port", "gevent_port", "db_port", "workers", "db_maxconn"):
        options[key] = int(options[key])
    return options


def connect(options, dbname):
    kwargs = {"dbname": dbname, "user": options["db_user"], "port": options["db_port"], "connect_timeout": 5}
    if options["db_host"]:
        kwargs["host"] = options["db_host"]
    if options["db_password"] and options["db_password"] != "False":
        kwargs["password"] = options["db_password"]
    return contextlib.closing(psycopg2.connect(**kwargs))


def candidate_databases(options):
    if options["db_name"] and options["db_name"] != "False":
        return [name.strip() for name in options["db_name"].split(",") if name.strip()]
    with connect(options, "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datdba = (SELECT usesysid FROM pg_user WHERE usename = "
                    "current_user) AND NOT datistemplate AND datallowconn ORDER BY datname")
        return [row[0] for row in cur.fetchall()]


def select_database(options, host):
    """The database of a request's host as Odoo's db_filter picks it, or None."""
    host = host.split(":")[0]
    host = host[4:] if host.startswith("www.") else host
    pattern = (options["dbfilter"] or ".*").replace("%h", re.escape(host)).replace("%d", re.escape(host.split(".")[0]))
    found = [db for db in candidate_databases(options) if re.match(pattern, db)]
    return found[0] if len(found) == 1 else None


class WorkloadHandler(EchoHandler):
    options = {}

    def do_GET(self):  # pylint: disable=invalid-name
        path = self.path.split("?")[0]
        if path == "/web/health":
            return self._json(200, {"status": "pass"})
        if path == "/websocket":
            if self.role != "websocket" or self.headers.get("Upgrade", "").lower() != "websocket":
                return self._json(400, {"error": "websocket upgrade only on the gevent port"})
            return self._websocket()
        if path.startswith("/web/database/"):
            if not self.options["list_db"]:
                return self._json(403, {"error": "AccessDenied: the database manager has been disabled (list_db)"})
            return self._json(200, {"databases": candidate_databases(self.options)})
        if self.role == "websocket":
            return self._json(404, {"error": "not found on the gevent port"})
        dbname = self._database()
        if not dbname:
            return self._redirect("/web/database/selector")
        if path in ("/", "/web", "/web/login"):
            return self._login(dbname)
        return self._json(404, {"error": "not found", "db": dbname})

    def do_POST(self):  # pylint: disable=invalid-name
        dbname = self._database()
        if self.path.split("?")[0] != "/web/test/attachment" or not dbname:
            return self._json(404, {"error": "not found"})
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sha1 = hashlib.sha1(body).hexdigest()
        store_fname = "%s/%s" % (sha1[:2], sha1)
        folder = os.path.join(self.options["data_dir"], "filestore", dbname, sha1[:2])
        os.makedirs(folder, 0o700, exist_ok=True)
        with open(os.path.join(folder, sha1), "wb") as handle:
            handle.write(body)
        with connect(self.options, dbname) as conn:
            with conn, conn.cursor() as cur:  # one transaction, committed at the end of the block
                cur.execute("INSERT INTO ir_attachment (name, type, store_fname, checksum, file_size) VALUES "
                            "(%s, 'binary', %s, %s, %s) RETURNING id", ("upload.bin", store_fname, sha1, len(body)))
                attachment_id = cur.fetchone()[0]
        return self._json(201, {"id": attachment_id, "store_fname": store_fname, "db": dbname})

    def _database(self):
        host = self.headers.get("Host") or ""
        if self.options["proxy_mode"] and self.headers.get("X-Forwarded-Host"):
            host = self.headers["X-Forwarded-Host"]
        return select_database(self.options, host)

    def _redirect(self, location):
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _login(self, dbname):
        with connect(self.options, dbname) as conn, conn.cursor() as cur:
            cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'")
            row = cur.fetchone()
        body = ("<html><head><title>Login | %s</title></head><body data-database=\"%s\" data-base-url=\"%s\">"
                "Odoo test workload (a test double, not Odoo): database %s</body></html>"
                % (dbname, dbname, row[0] if row else "", dbname)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def initialise(options, dbname):
    """`-d NAME -i base --stop-after-init`: the database with Odoo's tables, once."""
    server = {"user": options["db_user"], "port": options["db_port"]}
    if options["db_host"]:
        server["host"] = options["db_host"]
    if options["db_password"] and options["db_password"] != "False":
        server["password"] = options["db_password"]
    with connect(options, "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone():
            return "database %s exists: base already installed" % dbname
    create_odoo_fixture(server, dbname, filestore_root=os.path.join(options["data_dir"], "filestore"))
    return "database %s created, base installed" % dbname


def serve(options):
    servers = []
    ports = ((options["http_port"], "http"), (options["gevent_port"], "websocket")) if options["http_enable"] else ()
    for port, role in ports:
        handler = type("Workload%sHandler" % role.title(), (WorkloadHandler,), {"role": role, "options": options})
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
        print("odoo_workload: serving on %s:%d (http) and :%d (gevent)" % (
            options["http_interface"] or "0.0.0.0", options["http_port"], options["gevent_port"]), flush=True)
    else:
        print("odoo_workload: http_enable is off, no HTTP served (cron only)", flush=True)
    while not stopping.wait(0.5):
        pass
    for server in servers:
        server.shutdown()  # stop accepting
    for server in servers:
        server.server_close()  # joins the requests in flight (a websocket lives 60 s at most)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config")
    parser.add_argument("-d", "--database")
    parser.add_argument("-i", "--init")
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
    if args.database and args.init:
        print("odoo_workload: %s" % initialise(options, args.database), flush=True)
    if args.stop_after_init:
        return 0
    serve(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
