"""The Odoo test workload (a test double of an Odoo server, tests/harness/odoo_workload.py) keeps the
parts of Odoo's contract the collection depends on; checked here as a process on 127.0.0.1, against
the harness's PostgreSQL."""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys

import psycopg2
import pytest

from tests.harness.example_backend import encode_frame, read_frame
from tests.harness.odoo_fixture import create_odoo_server_role
from tests.harness.process import free_port, scratch_dirs
from tests.harness.services import REPO_ROOT

# as a module: run as a script, tests/harness/http.py would shadow the standard library's http
WORKLOAD = ["-m", "tests.harness.odoo_workload"]


def write_conf(folder, pg, **options):
    values = {
        "db_host": "127.0.0.1",
        "db_port": pg["port"],
        "db_user": "wl_odoo",
        "db_password": "wl-secret",
        "data_dir": folder,
        "http_interface": "127.0.0.1",
        "list_db": False,
        "proxy_mode": True,
        "dbfilter": "^%d$",
        "workers": 2,
    }
    values.update(options)
    path = os.path.join(folder, "odoo-%d.conf" % len(os.listdir(folder)))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[options]\n" + "".join("%s = %s\n" % item for item in values.items()))
    return path


@contextlib.contextmanager
def workload(conf):
    proc = subprocess.Popen(
        [sys.executable] + WORKLOAD + ["-c", conf],
        stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT),
        cwd=REPO_ROOT,
    )
    try:
        assert b"serving on" in proc.stdout.readline()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def get(port, host, path="/web/login", headers=None, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict({"Host": host}, **(headers or {})))
        answer = conn.getresponse()
        return answer.status, answer.read().decode(), answer.getheader("Location")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def env(harness):
    pg = harness.up("postgres")["postgres"]
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres", "dbname": "postgres"}
    create_odoo_server_role({k: v for k, v in superuser.items() if k != "dbname"}, "wl_odoo", "wl-secret")
    with scratch_dirs("odoo_ops-workload-") as (folder,):
        ports = {"http_port": free_port(), "gevent_port": free_port()}
        conf = write_conf(folder, pg, **ports)
        for name in ("wla", "wlb"):
            done = subprocess.run(
                [sys.executable] + WORKLOAD + ["-c", conf, "-d", name, "-i", "base", "--stop-after-init"],
                capture_output=True,
                text=True,
                timeout=120,
                env=dict(os.environ, PYTHONPATH=REPO_ROOT),
                cwd=REPO_ROOT,
                check=False,
            )
            assert done.returncode == 0 and "base installed" in done.stdout, done.stdout + done.stderr
        yield {"pg": pg, "folder": folder, "conf": conf, "superuser": superuser, **ports}


def test_init_creates_the_odoo_tables_and_filestore(env):
    conn = psycopg2.connect(**dict(env["superuser"], dbname="wla"))
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT state FROM ir_module_module WHERE name = 'base'")
        assert cur.fetchone() == ("installed",)
        cur.execute("SELECT count(*), count(store_fname) FROM ir_attachment")
        assert cur.fetchone() == (12, 10)
    files = [f for d, _s, fs in os.walk(os.path.join(env["folder"], "filestore", "wla")) if "checklist" not in d for f in fs]
    assert files and all(len(name) == 40 for name in files)


def test_dbfilter_by_host_proxy_mode_health_manager_and_websocket(env):
    http_port, gevent_port = env["http_port"], env["gevent_port"]
    with workload(env["conf"]):
        for name in ("wla", "wlb"):
            status, body, _location = get(http_port, "%s.erp.test:8069" % name)
            assert status == 200 and 'data-database="%s"' % name in body
        assert get(http_port, "www.wla.erp.test")[0] == 200  # %h drops a leading www.
        status, _body, location = get(http_port, "nobody.erp.test")
        assert status == 303 and location == "/web/database/selector"
        # proxy_mode: X-Forwarded-Host decides
        assert 'data-database="wlb"' in get(http_port, "wla.erp.test", headers={"X-Forwarded-Host": "wlb.erp.test"})[1]
        for port in (http_port, gevent_port):
            assert get(port, "anything", "/web/health")[:2] == (200, json.dumps({"status": "pass"}))
        status, body, _location = get(http_port, "wla.erp.test", "/web/database/manager")
        assert status == 200 and "The database manager has been disabled by the administrator" in body
        upgrade = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Origin": "http://wla.erp.test",
        }
        assert get(http_port, "wla.erp.test", "/websocket", headers=upgrade)[0] == 500  # prefork HTTP worker
        no_origin = {k: v for k, v in upgrade.items() if k != "Origin"}
        assert get(gevent_port, "wla.erp.test", "/websocket", headers=no_origin)[0] == 400
        with socket.create_connection(("127.0.0.1", gevent_port), timeout=10) as sock:
            sock.sendall(("GET /websocket HTTP/1.1\r\nHost: wla.erp.test\r\n%s\r\n" % "".join("%s: %s\r\n" % item for item in upgrade.items())).encode())
            with sock.makefile("rb") as stream:  # (an open makefile keeps the socket open after close())
                assert b" 101 " in stream.readline()
                while stream.readline() not in (b"\r\n", b""):
                    pass
                sock.sendall(encode_frame(b"ping", mask=os.urandom(4)))
                assert read_frame(stream) == (0x1, b"ping")


def test_without_proxy_mode_the_forwarded_host_is_ignored_and_uploads_land_by_sha1(env):
    ports = {"http_port": free_port(), "gevent_port": free_port()}
    conf = write_conf(env["folder"], env["pg"], proxy_mode=False, **ports)
    with workload(conf) as proc:
        body = get(ports["http_port"], "wla.erp.test", headers={"X-Forwarded-Host": "wlb.erp.test"})[1]
        assert 'data-database="wla"' in body
        content = b"invoice 42 " + os.urandom(64)
        status, answer, _location = get(ports["http_port"], "wlb.erp.test", "/web/test/attachment", method="POST", body=content)
        sha1 = hashlib.sha1(content).hexdigest()
        assert status == 201 and json.loads(answer)["store_fname"] == "%s/%s" % (sha1[:2], sha1)
        with open(os.path.join(env["folder"], "filestore", "wlb", sha1[:2], sha1), "rb") as handle:
            assert handle.read() == content
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # on SIGTERM, within the bound
