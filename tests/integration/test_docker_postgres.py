"""The docker_postgres role on a real Docker Engine, with the image the odoo_images role builds:
bad input refused before anything exists, check mode on a new host, a primary with a streaming
standby, idempotent (the role's molecule scenario, molecule/docker_postgres: converge, idempotence,
verify against the real cluster), and a cluster whose pg_hba.conf trusts TCP connections refused by name."""

import contextlib
import uuid

import psycopg2
import pytest

from tests.harness.docker_platform import docker, postgres_pair
from tests.harness.molecule import RoleScenario
from tests.harness.playbook import run_tasks

PASSWORD = "pg-" + uuid.uuid4().hex
REPLICATION = "repl-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def cluster(harness):
    harness.up("docker")
    with postgres_pair("odoo-ops-pg", PASSWORD, REPLICATION) as pair:
        yield pair


def apply(cluster, check=False, **overrides):
    task = {"name": "postgres", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.docker_postgres"}, "vars": dict(cluster["vars"], **overrides)}
    return run_tasks([task], check=check, timeout=600)


def connect(port):
    return contextlib.closing(psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=PASSWORD, dbname="postgres", connect_timeout=10))


def containers(cluster):
    return sorted(docker("ps", "-a", "--format", "{{.Names}}", "--filter", "name=^%s" % cluster["name"]).stdout.split())


def test_bad_input_is_refused_before_anything_exists(cluster):
    run = apply(cluster, docker_postgres_replication_password="short")
    assert run.returncode != 0 and "docker_postgres_replication_password (at least 16 characters)" in run.output
    run = apply(cluster, docker_postgres_standby_port=cluster["ports"]["postgres"])
    assert run.returncode != 0 and "docker_postgres_standby_port other than docker_postgres_port" in run.output
    assert containers(cluster) == []


def test_check_mode_on_a_new_host_creates_nothing(cluster):
    run = apply(cluster, check=True)
    assert run.returncode == 0 and run.stats["changed"] > 0, run
    assert containers(cluster) == [] and docker("volume", "inspect", cluster["name"] + "-data").returncode != 0


def test_primary_and_standby_streaming_idempotent(cluster):
    scenario = RoleScenario("docker_postgres", cluster["config"], cluster["vars"], cluster["name"])
    scenario.converge()
    assert containers(cluster) == [cluster["name"], cluster["name"] + "-standby"]
    # A second run changes nothing (molecule fails the step on any changed task), then the cluster's own answers.
    assert "idempotence" in scenario.step("idempotence")
    assert "PostgreSQL runs with what the role was given" in scenario.step("verify")
    assert apply(cluster, check=True).stats["changed"] == 0
    with connect(cluster["ports"]["postgres"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = 'replicator'")
        assert cur.fetchone() == (True, False)
        cur.execute("SELECT s.active, r.state FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid")
        assert cur.fetchall() == [(True, "streaming")]
        cur.execute("SELECT current_setting('max_slot_wal_keep_size'), current_setting('archive_mode')")
        assert cur.fetchone() == ("4GB", "off")
    with connect(cluster["ports"]["postgres_standby"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        assert cur.fetchone() == (True,)
    # The replication password is in no container's configuration or command line.
    for name in containers(cluster):
        assert REPLICATION not in docker("inspect", name).stdout and PASSWORD not in docker("inspect", name).stdout


def test_a_cluster_trusting_tcp_connections_is_refused(cluster):
    prepend = 'sed -i \'1i host all all 127.0.0.1/32 trust\' "$PGDATA/pg_hba.conf" && pg_ctl -D "$PGDATA" reload'
    assert docker("exec", cluster["name"], "sh", "-c", prepend).returncode == 0
    try:
        run = apply(cluster)
        assert run.returncode != 0
        assert "%s: pg_hba.conf trusts TCP connections without a password (lines 1)" % cluster["name"] in run.output
    finally:
        docker("exec", cluster["name"], "sh", "-c", 'sed -i \'1d\' "$PGDATA/pg_hba.conf" && pg_ctl -D "$PGDATA" reload')
    assert apply(cluster).returncode == 0
