"""The Odoo test workload (the double, tests/harness/odoo_workload.py) against real Odoo 18.0: the same
small probes run against both, and each must give the answer measured on real Odoo (recorded in
EXPECTED and in docs/odoo-behaviour.md). Real Odoo comes from ../shared/odoo-18.0 (or
$ODOO_OPS_ODOO_SOURCE); without a tree every test here skips and says why.

Both sides get the same odoo.conf options (dbfilter ^%d$, proxy_mode, list_db off) and a tenant database
owned by a role without CREATEDB: a copy of the session's `-i base --without-demo=all` template for
real Odoo, the double's fixture for the double.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.harness import odoo_server
from tests.harness.http import post_json, request, websocket_handshake
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.process import ServiceError, free_port, log_tail, pid_alive, scratch_dirs, stop_pid, wait_until
from tests.harness.services import REPO_ROOT

DISABLED = b"The database manager has been disabled by the administrator"
DOUBLE_ROLE, DOUBLE_PASSWORD = "odoo_ops_double", "odoo-ops-double-secret"


@pytest.fixture(scope="module", autouse=True)
def _real_odoo(odoo_source):  # pylint: disable=unused-argument
    """First of all: without an Odoo tree every test here skips (saying why) before any service starts."""


class DoubleServer:
    """The double as a process, with OdooServer's interface (ports, request, stop, log)."""

    def __init__(self, pg, db_user, db_password, root, **options):
        self.root, self.log = root, os.path.join(root, "odoo_workload.log")
        self.data_dir = os.path.join(root, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.http_port, self.gevent_port = free_port(), free_port()
        self.options = {
            "db_host": "127.0.0.1",
            "db_port": pg["port"],
            "db_user": db_user,
            "db_password": db_password,
            "data_dir": self.data_dir,
            "http_interface": "127.0.0.1",
            "http_port": self.http_port,
            "gevent_port": self.gevent_port,
            "workers": 0,
            "max_cron_threads": 0,
            "proxy_mode": True,
            "list_db": False,
        }
        self.options.update(options)
        self.conf = odoo_server.write_conf(os.path.join(root, "odoo.conf"), self.options)
        self.pid = None

    def argv(self, *args):
        return [sys.executable, "-m", "tests.harness.odoo_workload", "-c", self.conf] + list(args)

    def run(self, *args):
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT), check=False
        )

    def start(self, timeout=30):
        with open(self.log, "ab") as log:
            self.pid = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,  # pylint: disable=consider-using-with
                env=dict(os.environ, PYTHONPATH=REPO_ROOT),
                start_new_session=True,
            ).pid
        try:
            wait_until(lambda: b"odoo_workload: serving" in open(self.log, "rb").read(), timeout, "the double", self.log, alive=lambda: pid_alive(self.pid))
        except ServiceError:
            self.stop()
            raise
        return self

    def stop(self):
        if self.pid:
            stop_pid(self.pid, timeout=30)
            self.pid = None

    def request(self, path, host="localhost", headers=None, timeout=10, port=None):
        return request(port or self.http_port, host, path, headers=headers, timeout=timeout)

    def log_tail(self, lines=40):
        return log_tail(self.log, lines)


def tenant_sessions(pg, dbname):
    return odoo_server.query(
        pg,
        "postgres",
        "SELECT count(*) FILTER (WHERE state = 'idle'), count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
        (dbname,),
    )[0]


@pytest.fixture(scope="module")
def pg(harness):
    return harness.up("postgres")["postgres"]


@pytest.fixture(scope="module")
def double_role(pg):
    odoo_server.ensure_role(pg, DOUBLE_ROLE, DOUBLE_PASSWORD)
    return DOUBLE_ROLE


@contextlib.contextmanager
def pair(pg, odoo_template, odoo_servers, name, **options):
    """A real Odoo server and the double, each serving its own copy of tenant `name` (host <name>.erp.test)."""
    options = dict({"dbfilter": "^%d$"}, **options)
    real_db, double_db = "%s_real" % name, "%s_double" % name
    with scratch_dirs("odoo_ops-parity-") as (root,):
        real = odoo_servers(odoo_template.role, odoo_template.password, start=False, **options)
        double = DoubleServer(pg, DOUBLE_ROLE, DOUBLE_PASSWORD, root, **options)
        try:
            odoo_template.copy(real_db, real.data_dir)
            create_odoo_fixture(
                {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"},
                double_db,
                owner=DOUBLE_ROLE,
                filestore_root=os.path.join(double.data_dir, "filestore"),
            )
            real.start()
            double.start()
            yield {"real": (real, "%s.erp.test" % real_db, real_db), "double": (double, "%s.erp.test" % double_db, double_db)}
        finally:
            real.stop()
            double.stop()
            for dbname in (real_db, double_db):
                odoo_server.drop_database(pg, dbname)


@pytest.fixture(scope="module")
def prefork(pg, odoo_template, odoo_servers, double_role):  # pylint: disable=unused-argument
    """Both with workers = 2: the gevent process exists."""
    with pair(pg, odoo_template, odoo_servers, "pfk", workers=2) as servers:
        yield servers


@pytest.fixture(scope="module")
def threaded(pg, odoo_template, odoo_servers, double_role):  # pylint: disable=unused-argument
    """Both with workers = 0 (one process: deterministic caches)."""
    with pair(pg, odoo_template, odoo_servers, "thr", workers=0) as servers:
        yield servers


def probe(servers, check):
    """{'real': check(real...), 'double': check(double...)}"""
    return {side: check(server, host, dbname) for side, (server, host, dbname) in servers.items()}


def agree(found, expected):
    assert found["real"] == expected, "real Odoo: %r, expected (measured before) %r" % (found["real"], expected)
    assert found["double"] == found["real"], "the double answers %r where real Odoo answers %r" % (found["double"], found["real"])


def test_health_on_both_ports(prefork):
    def check(server, host, _db):
        return [
            (status, json.loads(body))
            for status, _h, body in (server.request("/web/health", host), server.request("/web/health", host, port=server.gevent_port))
        ]

    agree(probe(prefork, check), [(200, {"status": "pass"})] * 2)


def test_routing_by_host_and_redirects(prefork):
    def check(server, host, _db):
        found = {}
        status, _h, body = server.request("/web/login", host)
        found["login"] = (status, b"oe_login_form" in body)
        status, _h, body = server.request("/web/login", host, port=server.gevent_port)  # the gevent process serves it all
        found["login on the gevent port"] = (status, b"oe_login_form" in body)
        status, _h, body = server.request("/web/login", "nobody.erp.test", headers={"X-Forwarded-Host": host})
        found["X-Forwarded-Host with proxy_mode"] = (status, b"oe_login_form" in body)
        for path, on in (("/", host), ("/odoo", host), ("/web/login", "nobody.erp.test"), ("/odoo", "nobody.erp.test")):
            status, headers, _body = server.request(path, on)
            found["%s %s" % (path, "tenant" if on == host else "unknown host")] = (status, headers.get("location"))
        return found

    agree(
        probe(prefork, check),
        {
            "login": (200, True),
            "login on the gevent port": (200, True),
            "X-Forwarded-Host with proxy_mode": (200, True),
            "/ tenant": (303, "/odoo"),
            "/odoo tenant": (303, "/web/login?redirect=%2Fodoo%3F"),
            "/web/login unknown host": (303, "/web/database/selector"),
            "/odoo unknown host": (303, "/web/database/selector"),
        },
    )


def test_database_manager_with_list_db_off(prefork):
    def check(server, host, _db):
        found = {}
        for path in ("/web/database/manager", "/web/database/selector", "/web%2Fdatabase/manager", "/web%2fdatabase/selector"):
            status, _h, body = server.request(path, host)
            found[path] = (status, DISABLED in body)
        found["GET /web/database/list"] = server.request("/web/database/list", host)[0]
        status, _cookie, answer = post_json(server.http_port, "/web/database/list", {}, host)
        found["POST /web/database/list"] = (status, answer.get("error", {}).get("data", {}).get("name"))
        return found

    agree(
        probe(prefork, check),
        {
            "/web/database/manager": (200, True),
            "/web/database/selector": (200, True),
            "/web%2Fdatabase/manager": (200, True),
            "/web%2fdatabase/selector": (200, True),
            "GET /web/database/list": 400,
            "POST /web/database/list": (200, "odoo.exceptions.AccessDenied"),
        },
    )


def test_websocket_upgrade_prefork(prefork):
    """workers > 0: the gevent port upgrades; the HTTP port answers 500 to a complete handshake (a prefork
    worker has no socket to hand over, odoo/addons/bus/websocket.py) and 400 when a header (Origin) is missing."""

    def check(server, host, _db):
        return {
            "gevent": websocket_handshake(server.gevent_port, host),
            "http": websocket_handshake(server.http_port, host),
            "http, no Origin": websocket_handshake(server.http_port, host, origin=False),
            "gevent, no Origin": websocket_handshake(server.gevent_port, host, origin=False),
        }

    agree(probe(prefork, check), {"gevent": 101, "http": 500, "http, no Origin": 400, "gevent, no Origin": 400})


def test_websocket_upgrade_threaded(threaded):
    """workers = 0: no gevent process; the HTTP port itself upgrades (its threaded server hands the socket over)."""

    def check(server, host, _db):
        with socket.socket() as sock:
            gevent_bound = sock.connect_ex(("127.0.0.1", server.gevent_port)) == 0
        return {"http": websocket_handshake(server.http_port, host), "gevent port listening": gevent_bound}

    agree(probe(threaded, check), {"http": 101, "gevent port listening": False})


def test_config_parameters_are_cached_until_the_default_cache_is_signaled(threaded, pg):
    """A value changed in SQL is not served until base_cache_signaling_default (the 'default' ormcache,
    where ir.config_parameter._get_param lives) or base_registry_signaling moves; the other caches'
    sequences change nothing. Read through /web/manifest.webmanifest (web.web_app_name, public)."""

    def check(server, host, dbname):
        def name():
            return json.loads(server.request("/web/manifest.webmanifest", host)[2])["name"]

        seen = {"before": name()}
        odoo_server.query(
            pg,
            dbname,
            "INSERT INTO ir_config_parameter (key, value) VALUES ('web.web_app_name', 'Tenant ERP') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        seen["changed in SQL"] = name()
        for sequence in (
            "base_cache_signaling_assets",
            "base_cache_signaling_templates",
            "base_cache_signaling_routing",
            "base_cache_signaling_groups",
            "base_cache_signaling_default",
        ):
            odoo_server.query(pg, dbname, "SELECT nextval(%s)", (sequence,))
            seen[sequence] = name()
        odoo_server.query(pg, dbname, "UPDATE ir_config_parameter SET value = 'Tenant ERP 2' WHERE key = 'web.web_app_name'")
        odoo_server.query(pg, dbname, "SELECT nextval('base_registry_signaling')")
        seen["base_registry_signaling"] = name()
        return seen

    agree(
        probe(threaded, check),
        {
            "before": "Odoo",
            "changed in SQL": "Odoo",
            "base_cache_signaling_assets": "Odoo",
            "base_cache_signaling_templates": "Odoo",
            "base_cache_signaling_routing": "Odoo",
            "base_cache_signaling_groups": "Odoo",
            "base_cache_signaling_default": "Tenant ERP",
            "base_registry_signaling": "Tenant ERP 2",
        },
    )


def test_web_base_url_follows_the_same_sequence(threaded, pg):
    """web.base.url as a running worker serves it: real Odoo through /web/session/get_session_info after an
    admin login (the login itself rewrites web.base.url to the request's root URL, web.base.url.freeze
    unset), the double through its login page's data-base-url."""
    real, host, dbname = threaded["real"]
    _status, cookie, answer = post_json(real.http_port, "/web/session/authenticate", {"db": dbname, "login": "admin", "password": "admin"}, host)
    assert answer["result"]["uid"] == 2, answer
    cookie = cookie.split(";")[0]

    def real_url():
        return post_json(real.http_port, "/web/session/get_session_info", {}, host, cookie)[2]["result"]["web.base.url"]

    double, double_host, double_db = threaded["double"]

    def double_url():
        body = double.request("/web/login", double_host)[2].decode()
        return body.split('data-base-url="', 1)[1].split('"', 1)[0]

    found = {}
    for side, read, db in (("real", real_url, dbname), ("double", double_url, double_db)):
        seen = {"before": read()}
        odoo_server.query(pg, db, "UPDATE ir_config_parameter SET value = 'https://moved.erp.test' WHERE key = 'web.base.url'")
        seen["changed in SQL"] = read()
        odoo_server.query(pg, db, "SELECT nextval('base_cache_signaling_default')")
        seen["after base_cache_signaling_default"] = read()
        found[side] = seen
    assert found["real"]["before"] == "http://%s" % host, found  # rewritten by the admin login
    assert found["real"]["changed in SQL"] == found["real"]["before"], found
    assert found["double"]["changed in SQL"] == found["double"]["before"], found
    assert found["real"]["after base_cache_signaling_default"] == found["double"]["after base_cache_signaling_default"] == "https://moved.erp.test", found


def test_pooled_connections_stay_while_the_server_runs(threaded, pg):
    """After requests, an idle server keeps pooled sessions on the tenant database (measured: 2 with workers 0,
    5 with workers 2 and one websocket; Odoo names them application_name odoo-<pid>)."""

    def check(server, host, dbname):
        for _round in range(3):
            server.request("/web/login", host)
        time.sleep(0.5)
        idle, total = tenant_sessions(pg, dbname)
        return idle > 0 and idle == total

    agree(probe(threaded, check), True)


def test_templates_of_both_have_no_demo_data(odoo_template, pg, double_role):  # pylint: disable=unused-argument
    """-i base --without-demo=all: base without demo data (6 partners, 2 active)."""

    def facts(dbname):
        return (
            odoo_server.query(pg, dbname, "SELECT state, demo FROM ir_module_module WHERE name = 'base'"),
            odoo_server.query(pg, dbname, "SELECT count(*), count(*) FILTER (WHERE active) FROM res_partner"),
        )

    with scratch_dirs("odoo_ops-parity-demo-") as (root,):
        double = DoubleServer(pg, DOUBLE_ROLE, DOUBLE_PASSWORD, root)
        odoo_server.query(pg, "postgres", 'CREATE DATABASE "tpl_double" OWNER %s' % DOUBLE_ROLE)
        try:
            done = double.run("-d", "tpl_double", "-i", "base", "--without-demo=all", "--stop-after-init")
            assert done.returncode == 0, done.stdout + done.stderr
            agree({"real": facts(odoo_template.name), "double": facts("tpl_double")}, ([("installed", False)], [(6, 2)]))
        finally:
            odoo_server.drop_database(pg, "tpl_double")


@contextlib.contextmanager
def createdb(pg, *roles):
    """The roles with CREATEDB for a while (the template's role is shared by the session)."""
    try:
        for role in roles:
            odoo_server.query(pg, "postgres", 'ALTER ROLE "%s" CREATEDB' % role)
        yield
    finally:
        for role in roles:
            odoo_server.query(pg, "postgres", 'ALTER ROLE "%s" NOCREATEDB' % role)


def start_with_db_name(side, pg, role, password, root, db_name, odoo_servers):
    """Start a server with this db_name, wait (bounded) until it has loaded every listed database, stop
    it; return its log. Real Odoo answers /web/health before its start-up loads them: it logs "Registry
    loaded" once per listed database it could open, initialised or not ("Failed to initialize database"
    for one it could not); the double does it all before serving."""
    if side == "real":
        server = odoo_servers(role, password, start=False, db_name=db_name)
    else:
        server = DoubleServer(pg, role, password, root, db_name=db_name)

    def log():
        with open(server.log, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    try:
        server.start(timeout=60)
        if side == "real":
            wait_until(
                lambda: log().count("Registry loaded in") + log().count("Failed to initialize database") >= len(db_name.split(",")),
                180,
                "Odoo loading %s" % db_name,
                server.log,
                interval=0.5,
            )
    finally:
        server.stop()
    return log()


def _base_state(pg, dbname):
    try:
        rows = odoo_server.query(pg, dbname, "SELECT state FROM ir_module_module WHERE name = 'base'")
    except Exception:  # pylint: disable=broad-except  # not initialised (yet)
        return None
    return rows[0][0] if rows else None


def _module_facts(pg, dbname):
    return {
        "base": _base_state(pg, dbname),
        "demo": odoo_server.query(pg, dbname, "SELECT demo FROM ir_module_module WHERE name = 'base'")[0][0] if _base_state(pg, dbname) else None,
        "partners": odoo_server.query(pg, dbname, "SELECT count(*) FROM res_partner")[0][0] if _base_state(pg, dbname) else None,
    }


def test_db_name_without_createdb_skips_auto_creation(pg, odoo_template, odoo_servers, double_role):  # pylint: disable=unused-argument
    """A missing db_name entry with a role lacking CREATEDB: not created, logged, the server serves on."""
    found = {}
    with scratch_dirs("odoo_ops-parity-dbn-") as (root,):
        for side, role, password in (("real", odoo_template.role, odoo_template.password), ("double", DOUBLE_ROLE, DOUBLE_PASSWORD)):
            name = "missing_%s" % side
            log = start_with_db_name(side, pg, role, password, os.path.join(root, side), name, odoo_servers)
            found[side] = (
                bool(odoo_server.query(pg, "postgres", "SELECT 1 FROM pg_database WHERE datname = %s", (name,))),
                "Could not determine if database %s exists, skipping auto-creation: permission denied to create database" % name in log,
            )
    agree(found, (False, True))


def test_db_name_creates_databases_and_installs_base_into_the_first_only(pg, odoo_template, odoo_servers, double_role):
    """With CREATEDB (odoo/cli/server.py): missing entries are created; when one was, base goes into the
    FIRST listed database only - installed with demo data when it is new, re-initialised when it existed -
    and a later created one stays empty ("not initialized")."""
    found = {}
    sides = (("real", odoo_template.role, odoo_template.password), ("double", DOUBLE_ROLE, DOUBLE_PASSWORD))
    with scratch_dirs("odoo_ops-parity-dbc-") as (root,), createdb(pg, odoo_template.role, double_role):
        try:
            for side, role, password in sides:
                old, new, later = "dbn_old_%s" % side, "dbn_new_%s" % side, "dbn_later_%s" % side
                if side == "real":
                    odoo_template.copy(old, os.path.join(root, "unused"))
                else:
                    create_odoo_fixture({"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}, old, owner=role)

                def written(db=old):
                    return odoo_server.query(pg, db, "SELECT write_date FROM ir_module_module WHERE name = 'base'")[0][0]

                before = written()
                start_with_db_name(side, pg, role, password, os.path.join(root, side + "1"), "%s,%s" % (new, old), odoo_servers)
                seen = {"new first": _module_facts(pg, new), "existing second re-initialised": written() != before}
                before = written()
                log = start_with_db_name(side, pg, role, password, os.path.join(root, side + "2"), "%s,%s" % (old, later), odoo_servers)
                seen["existing first re-initialised"] = written() != before
                seen["new second"] = _module_facts(pg, later)
                seen["not initialized logged"] = "Database %s not initialized, you can force it with `-i base`" % later in log
                found[side] = seen
        finally:
            for side, _role, _password in sides:
                for db in ("dbn_old_%s" % side, "dbn_new_%s" % side, "dbn_later_%s" % side):
                    odoo_server.drop_database(pg, db)
    agree(
        found,
        {
            "new first": {"base": "installed", "demo": True, "partners": 41},
            "existing second re-initialised": False,
            "existing first re-initialised": True,
            "new second": {"base": None, "demo": None, "partners": None},
            "not initialized logged": True,
        },
    )
