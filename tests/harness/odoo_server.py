"""Real Odoo for tests: Odoo itself (not the test double in odoo_workload.py), run as a process.

The source tree is read from $ODOO_OPS_ODOO_SOURCE or ../shared/odoo-18.0 beside the checkout and
never copied into the repository. Pieces, each usable alone:

- find_source() / read_version(): where the tree is (or why there is none) and its release;
- build_venv(): Odoo's virtual environment, built once from /usr/bin/python3 (a venv made from a
  Python under /root cannot be run by other users) into <checkout>/.cache/odoo-venv/<key>, the key
  hashing the requirements file (requirements-debian12.txt when the tree has it) and the Python
  version; re-used while they are unchanged, rebuilt when they change;
- OdooInstall: tree + venv + the non-root OS user Odoo runs as; runs `odoo-bin` commands
  (`-i base`, `db dump`, `db load`, `neutralize`, ...) against a configuration;
- OdooServer: one server process (own odoo.conf, data_dir, free loopback ports for http and gevent,
  `http_interface = 127.0.0.1`), ready when /web/health answers, stopped by its process group;
- OdooTemplate: a `-i base --without-demo=all` database made once, owned by a given role, that
  tests copy with CREATE DATABASE ... TEMPLATE (and its filestore) in well under a second.

Every wait is bounded in time; logs are kept and shown on failure.
"""

import contextlib
import hashlib
import os
import pwd
import runpy
import shutil
import subprocess
import time

import psycopg2
from psycopg2 import sql

from .http import request
from .process import ServiceError, file_lock, free_port, log_tail, pid_alive, stop_pid, wait_until
from .services import PG_BIN, REPO_ROOT

SOURCE_ENV = "ODOO_OPS_ODOO_SOURCE"
SYSTEM_PYTHON = "/usr/bin/python3"
OS_USER = "odoo_ops_odoo"  # the system user real Odoo runs as in tests (created when missing)
PIP_BOOTSTRAP = ("setuptools<70", "wheel")  # Odoo 18's pinned sdists build with these, without isolation
VENV_COMPLETE = ".odoo_ops_complete"
CACHE = os.path.join(REPO_ROOT, ".cache")


def find_source(repo_root=REPO_ROOT):
    """(path, None) of the Odoo tree, or (None, the reason there is none)."""
    path = os.environ.get(SOURCE_ENV) or os.path.join(os.path.dirname(repo_root), "shared", "odoo-18.0")
    where = "$%s" % SOURCE_ENV if os.environ.get(SOURCE_ENV) else "../shared/odoo-18.0 beside the checkout"
    if not os.path.isfile(os.path.join(path, "odoo-bin")):
        return None, "no Odoo source tree at %s (%s): set %s to an Odoo tree to run the real-Odoo tests" % (path, where, SOURCE_ENV)
    return os.path.abspath(path), None


def read_version(tree):
    """{'version': '18.0-20250506', 'major_version': '18.0', 'version_info': [...]} from odoo/release.py."""
    release = runpy.run_path(os.path.join(tree, "odoo", "release.py"))
    return {"version": release["version"], "major_version": release["major_version"], "version_info": list(release["version_info"])}


def requirements_file(tree):
    """requirements-debian12.txt when the tree has it (Odoo's own pins do not install on Debian 12)."""
    debian = os.path.join(tree, "requirements-debian12.txt")
    return debian if os.path.isfile(debian) else os.path.join(tree, "requirements.txt")


def python_version(python=SYSTEM_PYTHON):
    return subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, timeout=30, check=True).stdout.strip()


def venv_key(requirements, python=SYSTEM_PYTHON):
    digest = hashlib.sha256()
    with open(requirements, "rb") as handle:
        digest.update(handle.read())
    digest.update(("\0%s\0%s" % (python_version(python), " ".join(PIP_BOOTSTRAP))).encode())
    return digest.hexdigest()[:16]


def build_venv(tree, cache_dir=None, python=SYSTEM_PYTHON, timeout=900):
    """Odoo's virtual environment for `tree`: {'path', 'python', 'key', 'built', 'seconds'}.

    Cached as <cache_dir>/<key> (key: requirements file + Python version); a folder without its
    completion marker (an interrupted build) is removed and built again; other keys are pruned.
    """
    cache_dir = cache_dir or os.path.join(CACHE, "odoo-venv")
    requirements = requirements_file(tree)
    key = venv_key(requirements, python)
    path = os.path.join(cache_dir, key)
    os.makedirs(cache_dir, mode=0o755, exist_ok=True)
    started = time.monotonic()
    built = False
    with file_lock(os.path.join(cache_dir, ".lock"), timeout):  # two sessions or workers never build the same venv at once
        if not os.path.exists(os.path.join(path, VENV_COMPLETE)):
            shutil.rmtree(path, ignore_errors=True)
            log = os.path.join(cache_dir, "%s.log" % key)
            try:
                with open(log, "wb") as out:
                    for argv in (
                        [python, "-m", "venv", path],
                        [os.path.join(path, "bin", "pip"), "install"] + list(PIP_BOOTSTRAP),
                        [os.path.join(path, "bin", "pip"), "install", "--no-build-isolation", "-r", requirements],
                    ):
                        left = timeout - (time.monotonic() - started)
                        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=max(left, 1), check=False)
                        if done.returncode:
                            raise ServiceError("building Odoo's venv failed: %s\n%s" % (" ".join(argv), log_tail(log)))
            except (ServiceError, subprocess.TimeoutExpired):
                shutil.rmtree(path, ignore_errors=True)
                raise
            with open(os.path.join(path, VENV_COMPLETE), "w", encoding="utf-8") as marker:
                marker.write("%s\n%s\n" % (requirements, python_version(python)))
            built = True
        for other in os.listdir(cache_dir):  # a changed requirements file leaves its old venv behind
            if other != key and os.path.isdir(os.path.join(cache_dir, other)):
                shutil.rmtree(os.path.join(cache_dir, other), ignore_errors=True)
    return {
        "path": path,
        "python": os.path.join(path, "bin", "python"),
        "key": key,
        "built": built,
        "requirements": requirements,
        "seconds": round(time.monotonic() - started, 1),
    }


def ensure_os_user(name=OS_USER):
    """(uid, gid) of the non-root user Odoo runs as: created as a system user when missing; the
    current user when not root (useradd needs root, and then nothing is run as another user)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        try:  # exit 9: another pytest-xdist worker created it in between, which is as good
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ServiceError("useradd %s failed (%s): %s" % (name, made.returncode, made.stderr.strip())) from None
    return entry.pw_uid, entry.pw_gid


def chown_tree(path, uid, gid):
    for folder, dirs, files in os.walk(path):
        os.chown(folder, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def write_conf(path, options, uid=None, gid=None):
    """An odoo.conf with [options] (booleans and None written as Odoo reads them)."""

    def text(value):
        if value is None:
            return "False"
        if isinstance(value, bool):
            return "True" if value else "False"
        return str(value)

    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write("[options]\n" + "".join("%s = %s\n" % (k, text(v)) for k, v in sorted(options.items())))
    if uid is not None:
        os.chown(path, uid, gid)
    return path


class OdooInstall:
    """An Odoo tree, its virtual environment and the OS user it runs as."""

    def __init__(self, tree, venv, user=OS_USER):
        self.tree, self.venv = tree, venv
        self.version = read_version(tree)
        self.user = user if os.geteuid() == 0 else None
        self.uid, self.gid = ensure_os_user(user)
        # Byte code of the (read-only, shared) tree goes to a cache the user owns, never into the tree.
        self.pycache = os.path.join(CACHE, "odoo-pycache")
        os.makedirs(self.pycache, mode=0o755, exist_ok=True)
        os.chown(self.pycache, self.uid, self.gid)

    @property
    def addons_path(self):
        return os.path.join(self.tree, "odoo", "addons")

    def env(self, home):
        return {"PATH": "%s:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" % PG_BIN, "HOME": home, "LANG": "C.UTF-8", "PYTHONPYCACHEPREFIX": self.pycache}

    def argv(self, *args):
        return [self.venv["python"], os.path.join(self.tree, "odoo-bin")] + [str(a) for a in args]

    def as_user(self):
        """subprocess arguments that run a child as the OS user: no runuser in between, so that a
        signal to the process group reaches Odoo once (runuser would forward a second SIGTERM, which
        Odoo's master takes for "forced shutdown")."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []} if self.user else {}

    def base_options(self, pg, db_user, db_password, data_dir):
        return {
            "addons_path": self.addons_path,
            "data_dir": data_dir,
            "db_host": "127.0.0.1",
            "db_port": pg["port"],
            "db_user": db_user,
            "db_password": db_password,
            "pg_path": PG_BIN,
            "http_interface": "127.0.0.1",
            "admin_passwd": "test-master-password",
            "log_level": "info",
        }

    def run(self, args, home, timeout=300, stdout=None):
        """`odoo-bin <args>` as the OS user, waited for at most `timeout` s; CompletedProcess (text)."""
        return subprocess.run(
            self.argv(*args),
            capture_output=stdout is None,
            stdout=stdout,
            text=stdout is None,
            env=self.env(home),
            cwd=home,
            timeout=timeout,
            check=False,
            **self.as_user(),
        )

    def db_dump(self, conf, dbname, path, home, timeout=300):
        """`odoo-bin db dump` (Odoo's zip: dump.sql, manifest.json, filestore/) into path, written by us
        from Odoo's stdout (the OS user need not be able to write there)."""
        with open(path, "wb") as out:
            return self.run(["db", "-c", conf, "dump", dbname], home, timeout=timeout, stdout=out)

    def db_load(self, conf, dbname, path, home, neutralize=False, timeout=300):
        """`odoo-bin db load` (creates the database: the role needs CREATEDB; restores as a copy)."""
        shutil.chown(path, self.uid, self.gid)
        return self.run(["db", "-c", conf, "load"] + (["--neutralize"] if neutralize else []) + [dbname, path], home, timeout=timeout)

    def neutralize(self, conf, dbname, home, timeout=300):
        """`odoo-bin neutralize -d dbname`: every installed module's data/neutralize.sql."""
        return self.run(["neutralize", "-c", conf, "-d", dbname], home, timeout=timeout)

    def folder(self, path):
        """A folder the OS user owns (data_dir, configuration)."""
        os.makedirs(path, mode=0o750, exist_ok=True)
        os.chown(path, self.uid, self.gid)
        return path


class OdooServer:
    """One real Odoo server: `odoo-bin -c <root>/odoo.conf`, ports chosen free on 127.0.0.1."""

    def __init__(self, install, pg, db_user, db_password, root, **options):
        self.install, self.root = install, install.folder(root)
        self.data_dir = install.folder(os.path.join(self.root, "data"))
        self.log = os.path.join(self.root, "odoo.log")
        self.http_port, self.gevent_port = free_port(), free_port()
        self.options = install.base_options(pg, db_user, db_password, self.data_dir)
        self.options.update(
            {"http_port": self.http_port, "gevent_port": self.gevent_port, "workers": 0, "max_cron_threads": 0, "proxy_mode": True, "list_db": False}
        )
        self.options.update(options)
        self.conf = write_conf(os.path.join(self.root, "odoo.conf"), self.options, install.uid, install.gid)
        self.pid = None
        self.started_seconds = None

    def start(self, timeout=90):
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.pid = subprocess.Popen(  # pylint: disable=consider-using-with  # runs detached, stopped by PID
                self.install.argv("-c", self.conf),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.install.env(self.root),
                cwd=self.root,
                start_new_session=True,
                **self.install.as_user(),
            ).pid
        ports = [self.http_port] + ([self.gevent_port] if int(self.options.get("workers") or 0) > 0 else [])
        try:
            for port in ports:
                left = max(timeout - (time.monotonic() - started), 1)
                wait_until(
                    lambda p=port: request(p, "localhost", "/web/health", timeout=2)[0] == 200,
                    left,
                    "Odoo on port %d" % port,
                    self.log,
                    interval=0.2,
                    alive=lambda: pid_alive(self.pid),
                )
        except ServiceError:
            self.stop()
            raise
        self.started_seconds = round(time.monotonic() - started, 1)
        return self

    def stop(self, timeout=30):
        if self.pid:
            stop_pid(self.pid, timeout=timeout)  # the process group: master, workers, gevent process
            self.pid = None

    def request(self, path, host="localhost", headers=None, timeout=10, port=None):
        """(status, headers, body) of GET path with this Host on the http port (or `port`)."""
        return request(port or self.http_port, host, path, headers=headers, timeout=timeout)

    def log_tail(self, lines=40):
        return log_tail(self.log, lines)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def pg_connect(pg, dbname="postgres", autocommit=True):
    """A superuser connection to the harness's PostgreSQL (Unix socket)."""
    conn = psycopg2.connect(host=pg["socket_dir"], port=pg["port"], user=pg["superuser"], dbname=dbname, connect_timeout=10)
    conn.autocommit = autocommit
    return conn


def ensure_role(pg, role, password, createdb=False):
    """A LOGIN role (no superuser, CREATEDB only when asked), with this password."""
    with contextlib.closing(pg_connect(pg)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(
            sql.SQL("%s ROLE {} LOGIN NOSUPERUSER %s PASSWORD {}" % (verb, "CREATEDB" if createdb else "NOCREATEDB")).format(
                sql.Identifier(role), sql.Literal(password)
            )
        )


class OdooTemplate:
    """A `-i <modules> --without-demo=all` database owned by `role` (modules: base unless given),
    initialised once, copied by tests."""

    def __init__(self, install, pg, role, password, root, name=None, modules="base"):
        self.modules = modules
        self.install, self.pg, self.role, self.password = install, pg, role, password
        self.name = name or "odoo_tpl_%s" % role
        self.root = install.folder(root)
        self.data_dir = install.folder(os.path.join(self.root, "data"))
        self.conf = write_conf(os.path.join(self.root, "odoo.conf"), install.base_options(pg, role, password, self.data_dir), install.uid, install.gid)
        self.seconds = None

    def init(self, timeout=300):
        ensure_role(self.pg, self.role, self.password)
        with contextlib.closing(pg_connect(self.pg)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0").format(
                    sql.Identifier(self.name), sql.Identifier(self.role)
                )
            )
        with contextlib.closing(pg_connect(self.pg, self.name)) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # as Odoo does when it creates a database
        started = time.monotonic()
        done = self.install.run(
            ["-c", self.conf, "-d", self.name, "-i", self.modules, "--without-demo=all", "--stop-after-init", "--no-http"], self.root, timeout=timeout
        )
        self.seconds = round(time.monotonic() - started, 1)
        if done.returncode:
            output = (done.stdout + done.stderr)[-4000:]
            raise ServiceError("odoo-bin -i base into %s failed (%s)\n%s" % (self.name, done.returncode, output))
        return self

    def copy(self, name, data_dir, owner_uid=None, owner_gid=None):
        """Database `name` = CREATE DATABASE ... TEMPLATE this one (owned by the template's role), and
        the template's filestore copied to <data_dir>/filestore/<name> (owned by owner_uid, default
        the OS user of the install)."""
        with contextlib.closing(pg_connect(self.pg)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.role), sql.Identifier(self.name)))
        source = os.path.join(self.data_dir, "filestore", self.name)
        target = os.path.join(data_dir, "filestore", name)
        if os.path.isdir(source):
            shutil.copytree(source, target)
            uid = self.install.uid if owner_uid is None else owner_uid
            gid = self.install.gid if owner_gid is None else owner_gid
            chown_tree(os.path.join(data_dir, "filestore"), uid, gid)
        return name


def drop_database(pg, name):
    """Drop a database, a sealed template too (odoo_tenant state=template marks it IS_TEMPLATE)."""
    with contextlib.closing(pg_connect(pg)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", (name,))
        if cur.fetchone():
            cur.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def query(pg, dbname, statement, args=None):
    """Rows of one statement as the superuser in `dbname` (autocommit)."""
    with contextlib.closing(pg_connect(pg, dbname)) as conn, conn.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else []
