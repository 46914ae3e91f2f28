"""A private copy of the local platform (inventories/local) on Docker: site.yml run with its own
ports, container names and folders, so that tests and benchmarks never touch ./run.sh site's
platform; and a constant load through Traefik that counts what went wrong."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid

import psycopg2

from .http import post_json, request
from .playbook import run_tasks
from .process import ServiceError, file_lock, free_port, scratch_dirs
from .services import REPO_ROOT

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
# Kept in the checkout between sessions, each folder named by its inputs: the wheels of the Odoo
# image (pip wheel of Odoo's requirements; test_odoo_image_from_source uses the same folder) and the
# images' build contexts. A fresh folder per platform built the wheels again in every session (a
# scratch venv and pip wheel: 30 s under load) and copied the Odoo tree into a new build context;
# wheels built from sdists are the same bytes only while pip's own cache holds them, so a new build
# could also tag - and build - a new odoo image.
ODOO_WHEELS = os.path.join(REPO_ROOT, ".cache", "odoo-wheels")
IMAGE_CONTEXTS = os.path.join(REPO_ROOT, ".cache", "platform-images")
PLATFORM_PORTS = ("postgres", "postgres_standby", "redis", "web", "websecure", "api")
MONITORING_PORTS = ("prometheus", "node_exporter", "postgres_exporter", "redis_exporter", "blackbox_exporter")
# Held by every run of the odoo_images role from the tests (pytest-xdist runs two workers): two runs
# at once would build the same odoo-ops/* image twice, or write the same cached folder (ODOO_WHEELS,
# IMAGE_CONTEXTS) while the other hashes or copies it.
IMAGE_BUILD_LOCK = os.path.join(REPO_ROOT, ".cache", "image-builds.lock")


def docker(*args, timeout=120):
    """The docker CLI (CompletedProcess, text), bounded by `timeout`; the caller checks returncode."""
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, check=False)


def stop_container(name, grace=20):
    """`docker stop -t grace`; True when the container ended on SIGTERM, not killed after the grace
    period (Docker's SIGKILL leaves exit code 137)."""
    if docker("stop", "-t", str(grace), name, timeout=grace + 60).returncode != 0:
        return False
    state = docker("inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name).stdout.split()
    return state[:1] != ["137"] and state[1:] == ["false"]


def ephemeral_low():
    """The first port of the kernel's ephemeral range: outgoing connections take local ports from
    there, so a port chosen now and bound minutes later (a rolling update's new slot) must lie below."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_range(count, attempts=50):
    """The first of `count` consecutive ports on 127.0.0.1, below the ephemeral range, that nothing
    listens on."""
    for _attempt in range(attempts):
        first = free_port(20000, ephemeral_low() - count)
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise ServiceError("no %d consecutive free ports after %d attempts" % (count, attempts))


def platform_ports(fleet_count):
    """({name: port} of PLATFORM_PORTS, [port_base of each fleet]): one block of free ports for a
    whole platform, so that none of its ports collide (a fleet's range: odoo_fleet_plan's port layout)."""
    # Imported here: the collection is on sys.path once the tests' conftest or benchlib has run.
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import PORT_SPAN  # pylint: disable=import-outside-toplevel

    names = PLATFORM_PORTS + MONITORING_PORTS
    first = free_port_range(len(names) + PORT_SPAN * fleet_count)
    ports = {name: first + offset for offset, name in enumerate(names)}
    return ports, [first + len(names) + PORT_SPAN * index for index in range(fleet_count)]


def image_tasks(build, cache):
    """Tasks running the odoo_images role for `build` (cache folder `cache`, the Traefik binary of
    this virtual environment, the Odoo test workload of this checkout) and showing odoo_images_built."""
    role = {
        "name": "odoo_images",
        "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.odoo_images"},
        "vars": {
            "odoo_images_build": build,
            "odoo_images_cache_dir": cache,
            "odoo_images_traefik_binary": os.path.join(VENV_BIN, "traefik"),
            "odoo_images_test_workload_source": os.path.join(REPO_ROOT, "tests", "harness"),
        },
    }
    return [role, {"name": "show", "ansible.builtin.debug": {"var": "odoo_images_built"}}]


def odoo_image_tasks(build, cache, odoo_source):
    """image_tasks(build, cache) building the odoo image from the Odoo tree odoo_source, its wheels cached
    in ODOO_WHEELS."""
    tasks = image_tasks(build, cache)
    tasks[0]["vars"].update({"odoo_images_odoo_source": odoo_source, "odoo_images_pip_wheel_dir": ODOO_WHEELS})
    return tasks


@contextlib.contextmanager
def image_builds(timeout=1800):
    """The image-build lock, waited for at most timeout s (a cold build of the Odoo image with its
    wheels takes minutes)."""
    os.makedirs(os.path.dirname(IMAGE_BUILD_LOCK), exist_ok=True)
    with file_lock(IMAGE_BUILD_LOCK, timeout, "the image-build lock %s" % IMAGE_BUILD_LOCK):
        yield


def build_images(tasks, timeout=1500):
    """run_tasks(tasks) - tasks from image_tasks() - under the image-build lock; the PlaybookRun."""
    with image_builds():
        return run_tasks(tasks, timeout=timeout)


@contextlib.contextmanager
def postgres_pair(prefix, password, replication_password):
    """The docker_postgres role's variables for a primary and its streaming standby of 512 MB each on free
    ports (the image built, or cached by its inputs; a private config folder): {name, vars, ports,
    config}. Nothing is started here; on exit every container and volume named <name>* is removed."""
    name = "%s%s" % (prefix, uuid.uuid4().hex[:6])
    with scratch_dirs("odoo_ops-images-", "odoo_ops-pgconf-") as (cache, config):
        built = build_images(image_tasks(["postgres"], cache))
        assert built.returncode == 0, built
        ports, _fleets = platform_ports(0)
        role_vars = {
            "docker_postgres_name": name,
            "docker_postgres_image": built.results[-1]["odoo_images_built"]["postgres"],
            "docker_postgres_port": ports["postgres"],
            "docker_postgres_password": password,
            "docker_postgres_memory_mb": 512,
            "docker_postgres_cpus": 1,
            "docker_postgres_max_connections": 50,
            "docker_postgres_config_dir": config + "/postgres",
            "docker_postgres_standby": True,
            "docker_postgres_standby_port": ports["postgres_standby"],
            "docker_postgres_replication_password": replication_password,
        }
        try:
            yield {"name": name, "vars": role_vars, "ports": ports, "config": config}
        finally:
            listed = docker("ps", "-aq", "--filter", "name=^%s" % name).stdout.split()
            if listed:
                docker("rm", "-f", *listed)
            volumes = docker("volume", "ls", "-q", "--filter", "name=^%s" % name).stdout.split()
            if volumes:
                docker("volume", "rm", "-f", *volumes)


class DockerPlatform:
    """site.yml on inventories/local, pointed at a root folder, ports and a container prefix of its own."""

    def __init__(self, root, s3_state, fleets=None):
        self.root = root
        self.prefix = "odoo-ops-t%s" % uuid.uuid4().hex[:6]
        self.s3 = s3_state
        with open(os.path.join(root, "state.json"), "w", encoding="utf-8") as handle:
            json.dump({"s3": s3_state}, handle)
        fleets = fleets or [
            {"name": "shared1", "kind": "shared", "tenants": ["acme", "globex"], "cpus": 1, "memory_mb": 1024, "web_containers": 2, "cron_threads": 1},
            {"name": "initech", "kind": "dedicated", "tenants": ["initech"], "cpus": 1, "memory_mb": 1024, "cron_threads": 1},
        ]
        self.ports, bases = platform_ports(len(fleets))
        self.fleets = [dict(fleet, port_base=base) for fleet, base in zip(fleets, bases)]
        self.extra = {
            "odoo_ops_local_root": root,
            "odoo_ops_container_prefix": self.prefix,
            "odoo_ops_postgres_port": self.ports["postgres"],
            "odoo_ops_postgres_standby_port": self.ports["postgres_standby"],
            "odoo_ops_redis_port": self.ports["redis"],
            "odoo_ops_public_port": self.ports["web"],
            "odoo_ops_public_tls_port": self.ports["websecure"],
            "odoo_ops_traefik_api_port": self.ports["api"],
            "odoo_ops_fleets": self.fleets,
            "odoo_ops_backup_bucket": "site-" + self.prefix[-6:],
            "odoo_ops_monitoring_ports": {name: self.ports[name] for name in MONITORING_PORTS},
            "odoo_ops_images_cache": IMAGE_CONTEXTS,
            "odoo_images_pip_wheel_dir": ODOO_WHEELS,
        }

    def site(self, *args, extra=None, timeout=1500):
        """ansible-playbook playbooks/site.yml; returns the CompletedProcess (stdout has the recap).
        A run that may build images (odoo_images runs unless odoo_ops_build_images is false) holds
        the image-build lock."""
        if (extra or {}).get("odoo_ops_build_images") is False or "--check" in args:
            return self.playbook("site", *args, extra=extra, timeout=timeout)
        with image_builds():
            return self.playbook("site", *args, extra=extra, timeout=timeout)

    def playbook(self, name, *args, extra=None, timeout=1500):
        """ansible-playbook playbooks/<name>.yml on this platform (its inventory and names)."""
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        argv = [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/%s.yml" % name, "-e", json.dumps(dict(self.extra, **(extra or {})))] + list(args)
        return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def secrets(self):
        """{name: value} of the secrets the local inventory generated (files of the password lookup)."""
        folder = os.path.join(self.root, "secrets")
        found = {}
        for parent, _dirs, files in os.walk(folder):
            for name in sorted(files):
                with open(os.path.join(parent, name), encoding="utf-8") as handle:
                    # "<password>[ salt=...]"; the tenants' administrator passwords as "tenants/<name>-admin"
                    found[os.path.relpath(os.path.join(parent, name), folder)] = handle.read().split()[0]
        return found

    def connect(self, server="postgres"):
        """A psycopg2 connection as the superuser to database postgres on `server` (postgres or postgres_standby)."""
        return psycopg2.connect(
            host="127.0.0.1", port=self.ports[server], user="postgres", password=self.secrets()["postgres"], dbname="postgres", connect_timeout=10
        )

    def tenant_password(self, tenant):
        """The password site.yml generated for the tenant's Odoo administrator."""
        with open(os.path.join(self.root, "secrets", "tenants", "%s-admin" % tenant), encoding="utf-8") as handle:
            return handle.read().strip()

    def login(self, host, tenant, database=None):
        """Odoo's JSON-RPC login through Traefik with host: (db served, error name) - the tenant's
        administrator asking for `database` (default: the tenant's own)."""
        _status, _cookie, answer = post_json(
            self.ports["web"], "/web/session/authenticate", {"db": database or tenant, "login": "admin", "password": self.tenant_password(tenant)}, host
        )
        result, error = answer.get("result") or {}, (answer.get("error") or {}).get("data", {}).get("name")
        return result.get("db"), error

    def mark_tenants(self, tenants):
        """Each tenant's web.web_app_name set to its name (and Odoo's parameter cache told, as its own
        processes tell each other), so that /web/manifest.webmanifest says which database answered."""
        for tenant in tenants:
            conn = psycopg2.connect(
                host="127.0.0.1", port=self.ports["postgres"], user="postgres", password=self.secrets()["postgres"], dbname=tenant, connect_timeout=10
            )
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO ir_config_parameter (key, value) VALUES ('web.web_app_name', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        (tenant,),
                    )
                    cur.execute("SELECT nextval('base_cache_signaling_default')")
            finally:
                conn.close()

    def containers(self):
        """{name: labels} of this platform's containers, running or not."""
        listed = subprocess.run(
            ["docker", "ps", "-a", "--filter", "name=^%s-" % self.prefix, "--format", "{{.Names}}\t{{json .Labels}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        found = {}
        for line in listed.stdout.splitlines():
            name, labels = line.split("\t", 1)
            found[name] = dict(item.split("=", 1) for item in json.loads(labels).split(",") if "=" in item)
        return found

    def remove(self):
        """Every container, volume and network of this platform, then its folder."""
        names = list(self.containers())
        if names:
            subprocess.run(["docker", "rm", "-f"] + names, capture_output=True, timeout=120, check=False)
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", "name=^%s-" % self.prefix], capture_output=True, text=True, timeout=60, check=False
        ).stdout.split()
        if volumes:
            subprocess.run(["docker", "volume", "rm", "-f"] + volumes, capture_output=True, timeout=60, check=False)
        networks = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", "label=odoo_ops_platform=%s" % self.prefix], capture_output=True, text=True, timeout=60, check=False
        ).stdout.split()
        if networks:
            subprocess.run(["docker", "network", "rm"] + networks, capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def tenant_of(host):
    """The tenant a host of the local platform belongs to (its first label after a leading www.)."""
    return (host[4:] if host.startswith("www.") else host).split(".")[0]


class ConstantLoad:
    """Threads sending GET /web/login through Traefik to the given hosts at a bounded rate; counts
    answers by status and connection errors. Use as a context manager."""

    def __init__(self, port, hosts, threads=4, interval=0.01, timeout=5):
        self.port, self.hosts, self.interval, self.timeout = port, hosts, interval, timeout
        self.statuses, self.errors, self.wrong_database = {}, [], 0
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self.started = self.seconds = None

    def _run(self, offset):
        count = offset
        while not self._stop.is_set():
            host = self.hosts[count % len(self.hosts)]
            count += 1
            try:
                # The web app manifest names the tenant (DockerPlatform.mark_tenants): real Odoo and the
                # test workload alike, read from Odoo's cached parameters.
                status, _headers, body = request(self.port, host, "/web/manifest.webmanifest", timeout=self.timeout)
                wrong = status == 200 and json.loads(body or b"{}").get("name") != tenant_of(host)
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.wrong_database += int(wrong)
            except OSError as exc:
                with self._lock:
                    self.errors.append("%s: %s" % (host, exc))
            self._stop.wait(self.interval)

    def __enter__(self):
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.seconds = time.monotonic() - self.started

    @property
    def total(self):
        return sum(self.statuses.values()) + len(self.errors)

    def report(self):
        server_errors = sum(count for status, count in self.statuses.items() if status >= 500)
        return {
            "requests": self.total,
            "seconds": round(self.seconds or 0, 1),
            "rate": round(self.total / self.seconds, 1) if self.seconds else 0,
            "statuses": dict(sorted(self.statuses.items())),
            "server_errors": server_errors,
            "connection_errors": len(self.errors),
            "wrong_database": self.wrong_database,
            "first_errors": self.errors[:3],
        }


@contextlib.contextmanager
def docker_platform(root, s3_state, fleets=None):
    platform = DockerPlatform(root, s3_state, fleets)
    try:
        yield platform
    finally:
        platform.remove()
