"""The harness itself: every service answers on loopback, and `down` leaves no process behind."""

import os
import socket
import ssl
import subprocess
import tempfile
import time

import psycopg2
import pytest

from tests.harness import Platform
from tests.harness.options import s3_client
from tests.harness.process import pid_alive


@pytest.fixture(scope="module")
def platform():
    root = tempfile.mkdtemp(prefix="odoo_ops-harness-")
    running = Platform(root)
    state = running.up(["docker", "postgres", "s3", "redis", "backend", "traefik"])
    yield running, state
    running.down()
    subprocess.run(["rm", "-rf", root], check=True)


def test_postgres_is_private_and_ready_for_archiving(platform):
    _platform, state = platform
    pg = state["postgres"]
    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["admin_user"], password=pg["admin_password"], dbname="postgres")
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT version(), current_setting('archive_mode'), current_setting('wal_level'),"
            " current_setting('data_checksums'), current_setting('listen_addresses')"
        )
        version, archive_mode, wal_level, checksums, listen = cur.fetchone()
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, True, True)  # the admin role is not a superuser
    conn.close()
    assert "PostgreSQL 15" in version
    assert (archive_mode, wal_level, checksums, listen) == ("on", "replica", "on", "127.0.0.1")


def test_s3_speaks_tls_for_the_host_name_with_object_lock(platform):
    _platform, state = platform
    s3 = state["s3"]
    context = ssl.create_default_context(cafile=s3["ca_file"])
    with socket.create_connection(("127.0.0.1", s3["port"]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:  # SAN names localhost
            assert tls.version().startswith("TLS")
    client = s3_client(s3)
    client.create_bucket(Bucket="harness-locked", ObjectLockEnabledForBucket=True)
    lock = client.get_object_lock_configuration(Bucket="harness-locked")["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    client.put_object(Bucket="harness-locked", Key="k", Body=b"v")
    assert client.get_object(Bucket="harness-locked", Key="k")["Body"].read() == b"v"


def test_redis_requires_its_password(platform):
    _platform, state = platform
    with socket.create_connection(("127.0.0.1", state["redis"]["port"]), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(128).startswith(b"-NOAUTH")


def test_docker_engine_answers(platform):
    _platform, state = platform
    done = subprocess.run(
        ["docker", "-H", state["docker"]["host"], "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr


def test_up_again_reuses_running_services(platform):
    running, state = platform
    started = time.monotonic()
    again = running.up(["postgres", "s3", "redis", "backend", "traefik"])
    assert time.monotonic() - started < 10
    assert {name: again[name]["pid"] for name in again} == {name: state[name]["pid"] for name in again}


def test_every_listener_is_on_loopback(platform):
    _platform, state = platform
    pids = {entry["pid"] for entry in state.values() if entry.get("pid")}
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout.splitlines()
    ours = [line for line in listening if any("pid=%d," % pid in line for pid in pids)]
    assert ours
    for line in ours:
        local = line.split()[3]
        assert local.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:")), line


def test_down_stops_every_process_by_pid():
    root = tempfile.mkdtemp(prefix="odoo_ops-harness-down-")
    os.chmod(root, 0o755)
    running = Platform(root)
    state = running.up(["postgres", "redis", "traefik", "backend"])
    pids = [entry["pid"] for entry in state.values()]
    assert all(pid_alive(pid) for pid in pids)
    running.down()
    assert not any(pid_alive(pid) for pid in pids)
    assert running.load() == {}
    subprocess.run(["rm", "-rf", root], check=True)
