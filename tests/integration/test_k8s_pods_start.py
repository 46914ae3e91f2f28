"""The rendered pods start (issue #17): no cluster runs here, so every Deployment and StatefulSet of the
Kubernetes render (inventories/examples/kubernetes, its images pointed at the ones odoo_images builds
locally) is run on the Docker Engine the way a kubelet would run it - the same image, command, args and
environment, its init containers first, the rendered ConfigMaps and test values for the Secrets mounted at
the same paths, the pod's security context (user, group, fsGroup, read-only root, no capability, no
privilege escalation) and memory/CPU limits - against a PostgreSQL reachable under each cluster's service
name. Each container must pass its own probes: the startup and readiness URLs answer as the probes expect,
the cron probe's command exits 0, Redis accepts a connection (and its password). This is the evidence that
the manifests work with the images, short of a cluster."""

import json
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import hash_password
from tests.harness.docker_platform import build_images, docker, odoo_image_tasks
from tests.harness.http import request
from tests.harness.process import scratch_dirs, wait_until
from tests.integration.test_k8s_render import Render, site

DB_PASSWORD = "pod-start-db-%s" % uuid.uuid4().hex[:8]
REDIS_PASSWORD = "pod-start-redis-%s" % uuid.uuid4().hex[:8]
ADMIN_PASSWD = "pod-start-admin-%s" % uuid.uuid4().hex[:8]
PROBE_WAIT = 240  # seconds a container may take to pass its probes here (2 shared cores; Odoo loads base)


@pytest.fixture(scope="module")
def images(odoo_source, harness):
    """The odoo, redis and postgres images odoo_images builds (cached by their inputs). odoo_source comes
    first: without an Odoo tree the test skips, saying why, before any service starts."""
    harness.up("docker")
    with scratch_dirs("odoo_ops-pod-images-") as (cache,):
        built = build_images(odoo_image_tasks(["odoo", "redis", "postgres"], cache, odoo_source), timeout=1800)
        assert built.returncode == 0, built
        yield built.results[-1]["odoo_images_built"]


@pytest.fixture(scope="module")
def render(images, tmp_path_factory):
    """The example inventory rendered with the local images; the cron probe runs on the image's own Python
    (the official image's python3 has psycopg2 from Debian, this one has it in Odoo's virtual environment)."""
    root = str(tmp_path_factory.mktemp("k8s-pods") / "tree")
    overrides = {
        "odoo_ops_k8s_images": {"odoo": images["odoo"], "redis": images["redis"], "postgres": "ghcr.io/cloudnative-pg/postgresql:15.13"},
        "k8s_platform_odoo_python": "/opt/odoo-venv/bin/python",
    }
    first = site(root, "-e", json.dumps(overrides))
    return Render(root, first, first, {})


class Pod:
    """One pod template run on Docker as a kubelet would, in `work` (its volumes as folders)."""

    def __init__(self, render, obj, network, work):
        self.render, self.obj, self.network = render, obj, network
        self.namespace = obj["metadata"]["namespace"]
        self.spec = obj["spec"]["template"]["spec"]
        self.name = "odoo-ops-pod-%s-%s" % (network.rsplit("-", 1)[-1], obj["metadata"]["name"])
        self.work = os.path.join(work, obj["metadata"]["name"])
        os.makedirs(self.work)
        self.paths = {volume["name"]: self._volume(volume) for volume in self.spec.get("volumes", [])}
        self.started = []

    def config_map(self, name):
        found = [o for o in self.render.of("ConfigMap", self.namespace) if o["metadata"]["name"] == name]
        assert found, "%s/%s mounts ConfigMap %s, which is not rendered" % (self.namespace, self.obj["metadata"]["name"], name)
        return found[0]["data"]

    def secret_value(self, name, key):
        """Test values for a Secret the render lists (never in the tree): what its purpose says it holds."""
        listed = [s for s in self.render.secrets if s["namespace"] == self.namespace and s["name"] == name]
        where = "%s/%s" % (self.namespace, self.obj["metadata"]["name"])
        assert listed and key in listed[0]["keys"], "%s: Secret %s key %s is not listed in secrets.yaml" % (where, name, key)
        purpose = listed[0]["purpose"]
        values = {
            "fleet_db": {"username": "odoo_%s" % listed[0].get("fleet"), "password": DB_PASSWORD},
            "odoo_admin_passwd": {"admin_passwd.conf": "admin_passwd = %s\n" % hash_password(ADMIN_PASSWD)},
            "redis": {"auth.conf": "requirepass %s\n" % REDIS_PASSWORD, "password": REDIS_PASSWORD},
        }
        assert purpose in values, "no test value for a Secret of purpose %r" % purpose
        return values[purpose][key]

    def _volume(self, volume):
        path = os.path.join(self.work, "volume-" + volume["name"])
        os.makedirs(path)
        fs_group = self.spec.get("securityContext", {}).get("fsGroup", 0)
        if "configMap" in volume:
            for key, text in self.config_map(volume["configMap"]["name"]).items():
                self._write(os.path.join(path, key), text, 0o644, 0)
            os.chmod(path, 0o755)
        elif "secret" in volume:
            secret = volume["secret"]
            listed = [s for s in self.render.secrets if s["namespace"] == self.namespace and s["name"] == secret["secretName"]]
            assert listed, "Secret %s is not listed in secrets.yaml" % secret["secretName"]
            for key in listed[0]["keys"]:
                self._write(os.path.join(path, key), self.secret_value(secret["secretName"], key), secret.get("defaultMode", 0o644), fs_group)
            os.chmod(path, 0o755)
        elif "emptyDir" in volume:
            os.chmod(path, 0o777)  # as the kubelet makes an emptyDir
        elif "persistentVolumeClaim" in volume:
            os.chown(path, 0, fs_group)
            os.chmod(path, 0o2775)  # fsGroup: group-owned, setgid
        else:
            raise AssertionError("volume %r: a kind this test does not run" % volume)
        return path

    @staticmethod
    def _write(path, text, mode, group):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chown(path, 0, group)
        os.chmod(path, mode)

    def docker_args(self, container):
        pod_security = self.spec.get("securityContext", {})
        security = dict(pod_security, **container.get("securityContext", {}))
        args = ["--network", self.network, "--user", "%s:%s" % (security.get("runAsUser", 0), security.get("runAsGroup", 0))]
        if pod_security.get("fsGroup") is not None:
            args += ["--group-add", str(pod_security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if "ALL" in security.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", "ALL"]
        if security.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            args += ["--memory", quantity_bytes(limits["memory"])]
        if "cpu" in limits:
            args += ["--cpus", "%.2f" % min(quantity_cpus(limits["cpu"]), os.cpu_count() or 1)]
        mounts = container.get("volumeMounts", [])
        for mount in mounts:
            # The kubelet makes the mount points of volumes nested in a ConfigMap or Secret volume (read-only
            # to the container) inside that volume (kubernetes#60342); Docker does not.
            for parent in mounts:
                below = os.path.relpath(mount["mountPath"], parent["mountPath"])
                if parent is not mount and not below.startswith(".."):
                    os.makedirs(os.path.join(self.paths[parent["name"]], below), exist_ok=True)
        for mount in mounts:
            source = os.path.join(self.paths[mount["name"]], mount.get("subPath", ""))
            args += ["-v", "%s:%s%s" % (source.rstrip("/"), mount["mountPath"], ":ro" if mount.get("readOnly") else "")]
        for env in container.get("env", []):
            args += ["-e", "%s=%s" % (env["name"], self._env_value(env))]
        for port in container.get("ports", []):
            args += ["-p", "127.0.0.1::%d" % port["containerPort"]]
        command = container.get("command") or []
        if command:
            args += ["--entrypoint", command[0]]
        return args + [container["image"]] + command[1:] + container.get("args", [])

    def _env_value(self, env):
        if "value" in env:
            return env["value"]
        source = env.get("valueFrom", {})
        if "secretKeyRef" in source:
            return self.secret_value(source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        if "configMapKeyRef" in source:
            return self.config_map(source["configMapKeyRef"]["name"])[source["configMapKeyRef"]["key"]]
        raise AssertionError("env %r: a source this test does not run" % env)

    def start(self):
        """Init containers in order, each to success; then the containers, detached."""
        for index, container in enumerate(self.spec.get("initContainers", [])):
            name = "%s-init-%d" % (self.name, index)
            done = docker("run", "--name", name, *self.docker_args(container), timeout=120)
            logs = docker("logs", "--tail", "20", name).stderr
            docker("rm", "-f", name)
            assert done.returncode == 0, "init container %s of %s failed: %s %s" % (container["name"], self.name, done.stderr, logs)
        for container in self.spec["containers"]:
            name = "%s-%s" % (self.name, container["name"])
            self.started.append(name)
            run = docker("run", "-d", "--name", name, *self.docker_args(container))
            assert run.returncode == 0, run.stderr

    def host_port(self, container, port):
        if isinstance(port, str):
            port = [p["containerPort"] for p in container["ports"] if p["name"] == port][0]
        mapped = docker("port", "%s-%s" % (self.name, container["name"]), "%d/tcp" % port).stdout.split()[0]
        return int(mapped.rsplit(":", 1)[1])

    def probe(self, container, probe):
        """One probe as the kubelet runs it: True when it succeeds."""
        if "httpGet" in probe:
            path = probe["httpGet"].get("path", "/")
            try:
                status = request(self.host_port(container, probe["httpGet"]["port"]), "127.0.0.1", path, timeout=probe.get("timeoutSeconds", 1) + 2)[0]
            except OSError:
                return False
            return 200 <= status < 400
        if "tcpSocket" in probe:
            try:
                with socket.create_connection(("127.0.0.1", self.host_port(container, probe["tcpSocket"]["port"])), timeout=2):
                    return True
            except OSError:
                return False
        if "exec" in probe:
            return docker("exec", "%s-%s" % (self.name, container["name"]), *probe["exec"]["command"], timeout=90).returncode == 0
        raise AssertionError("probe %r: a kind this test does not run" % probe)

    def wait_ready(self, container):
        """The startup probe, then the readiness probe (or, without one, the liveness probe) pass."""
        name = "%s-%s" % (self.name, container["name"])

        def running():
            return docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"

        for kind in ("startupProbe", "readinessProbe" if "readinessProbe" in container else "livenessProbe"):
            if kind in container:
                try:
                    wait_until(lambda k=kind: self.probe(container, container[k]), PROBE_WAIT, "%s of %s" % (kind, name), interval=1, alive=running)
                except Exception:
                    print(docker("logs", "--tail", "40", name).stderr)
                    raise
        return [kind for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in container]

    def remove(self):
        for name in self.started:
            docker("rm", "-f", name)


def quantity_bytes(text):
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", text).groups()
    return str(int(number) * {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, None: 1}[unit])


def quantity_cpus(text):
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.fixture(scope="module")
def pod_network(render, images):
    """A Docker network per run, and on it one PostgreSQL answering under every rendered cluster's service
    name, with each fleet's login role (the test password, no CREATEDB, as CloudNativePG's managed role)."""
    network = "odoo-ops-pods-%s" % uuid.uuid4().hex[:6]
    database = "%s-pg" % network
    services, roles = set(), set()
    for config_map in render.of("ConfigMap"):
        for key, text in config_map["data"].items():
            if key.endswith(".conf") and "db_host" in text:
                services.add(re.search(r"^db_host = (\S+)$", text, re.M).group(1))
                roles.add(re.search(r"^db_user = (\S+)$", text, re.M).group(1))
    assert docker("network", "create", network).returncode == 0
    try:
        aliases = [arg for service in sorted(services) for arg in ("--network-alias", service)]
        run = docker("run", "-d", "--name", database, "--network", network, *aliases, "-e", "POSTGRES_PASSWORD=%s" % DB_PASSWORD, images["postgres"])
        assert run.returncode == 0, run.stderr
        wait_until(lambda: docker("exec", database, "pg_isready", "-q").returncode == 0, 120, "the pods' PostgreSQL", interval=0.5)
        for role in sorted(roles):
            made = docker("exec", database, "psql", "-v", "ON_ERROR_STOP=1", "-qc", "CREATE ROLE %s LOGIN NOCREATEDB PASSWORD '%s'" % (role, DB_PASSWORD))
            assert made.returncode == 0, made.stderr
        yield network
    finally:
        docker("rm", "-f", database)
        subprocess.run(["docker", "network", "rm", network], capture_output=True, timeout=60, check=False)


def workloads(render):
    return [o for o in render.objects if o["kind"] in ("Deployment", "StatefulSet")]


def test_every_rendered_pod_starts_on_the_local_images_and_passes_its_probes(render, pod_network):
    started, proved = [], {}
    with scratch_dirs("odoo_ops-pods-") as (work,):
        try:
            for obj in workloads(render):
                pod = Pod(render, obj, pod_network, work)
                started.append(pod)
                pod.start()
            began = time.monotonic()
            for pod in started:
                for container in pod.spec["containers"]:
                    proved["%s/%s" % (pod.obj["metadata"]["name"], container["name"])] = pod.wait_ready(container)
            print("pods ready in %.1f s: %s" % (time.monotonic() - began, json.dumps(proved, sort_keys=True)))
            kinds = {o["metadata"]["name"].rsplit("-", 1)[-1] for o in workloads(render)}
            assert kinds == {"web", "cron", "redis"}, kinds  # every kind of pod the render has ran here
            for pod in started:
                if pod.obj["metadata"]["name"].endswith("-web"):
                    container = pod.spec["containers"][0]
                    # The gevent port serves too (the /websocket route's backend), and no database is listed.
                    gevent_port = pod.host_port(container, "websocket")
                    try:
                        wait_until(lambda p=gevent_port: answers(p, "/web/health") == 200, PROBE_WAIT, "the gevent port of %s" % pod.name, interval=1)
                    except Exception:
                        print(docker("logs", "--tail", "60", "%s-%s" % (pod.name, container["name"])).stderr)
                        raise
                    status, _headers, body = request(pod.host_port(container, "http"), "127.0.0.1", "/web/database/manager", timeout=30)
                    assert status == 200 and b"disabled by the administrator" in body, (status, body[:200])
                if pod.obj["metadata"]["name"].endswith("-redis"):
                    port = pod.host_port(pod.spec["containers"][0], "redis")
                    assert redis_says(port, "PING") == b"-NOAUTH"
                    assert redis_says(port, "AUTH %s" % REDIS_PASSWORD) == b"+OK"
        finally:
            for pod in started:
                pod.remove()


def answers(port, path):
    """The status of GET path on 127.0.0.1:port, or None while nothing answers."""
    try:
        return request(port, "127.0.0.1", path, timeout=10)[0]
    except OSError:
        return None


def redis_says(port, command):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(command.encode() + b"\r\n")
        return conn.recv(64).split(b" ")[0].strip()
