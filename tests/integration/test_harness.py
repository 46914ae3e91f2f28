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
from tests.harness.process import pid_alive, spawn, stop_pid


@pytest.fixture(scope="module")
def platform():
    root = tempfile.mkdtemp(prefix="odoo_ops-harness-")
    running = Platform(root)
    try:  # a service that fails to start must not leave the others running
        state = running.up(["docker", "postgres", "s3", "redis", "backend", "traefik"])
        yield running, state
    finally:
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
    again = running.up(["postgres", "s3", "redis", "backend", "traefik"])
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
    try:
        state = running.up(["postgres", "redis", "traefik", "backend"])
        pids = [entry["pid"] for entry in state.values()]
        assert all(pid_alive(pid) for pid in pids)
        running.down()
        assert not any(pid_alive(pid) for pid in pids)
        assert running.load() == {}
    finally:
        running.down()  # nothing left to stop when the test passed
        subprocess.run(["rm", "-rf", root], check=True)


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["stops", "killed-after-timeout"])
def test_stop_pid_alone_signals_one_process_and_leaves_its_children(tmp_path, ignores_sigterm):
    """group=False signals pid only - also the SIGKILL after the timeout: a child in the same process
    group (what a daemon stops by itself) survives; group=True takes the whole group."""
    child_file = tmp_path / "child.pid"
    trap = "trap '' TERM; " if ignores_sigterm else ""
    parent = spawn(["sh", "-c", "%ssleep 300 & echo $! > %s; wait" % (trap, child_file)], str(tmp_path / "log"))
    child = None
    try:
        for _attempt in range(100):  # bounded: about 10 s
            if child_file.exists() and child_file.read_text().strip():
                break
            time.sleep(0.1)
        child = int(child_file.read_text())
        assert os.getpgid(child) == parent  # one process group, led by the parent
        stop_pid(parent, timeout=0.5, group=False)
        assert not pid_alive(parent) and pid_alive(child)
    finally:
        stop_pid(child or parent, timeout=5)  # the child leads no group: signalled alone
    assert not pid_alive(child)


def test_stop_pid_signals_the_whole_group_by_default(tmp_path):
    child_file = tmp_path / "child.pid"
    parent = spawn(["sh", "-c", "sleep 300 & echo $! > %s; wait" % child_file], str(tmp_path / "log"))
    for _attempt in range(100):  # bounded: about 10 s
        if child_file.exists() and child_file.read_text().strip():
            break
        time.sleep(0.1)
    child = int(child_file.read_text())
    stop_pid(parent, timeout=5)
    for _attempt in range(50):  # the child is not ours to reap: wait until init has
        if not pid_alive(child):
            break
        time.sleep(0.1)
    assert not pid_alive(parent) and not pid_alive(child)
