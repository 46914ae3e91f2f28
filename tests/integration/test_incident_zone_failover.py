"""incident_zone_failover.yml on a real primary + streaming standby (the docker_postgres role's pair, one
pair for the whole module): check mode and the refusal (the primary still accepts writes, no fence)
change nothing; then a failover while a client writes a row every 100 ms - the old primary fenced
(stopped, recorded), the standby promoted on timeline 2, every acknowledged row present, writes
accepted, the report's figures; a re-run changes nothing and the role refuses to start the fenced
primary again (no split brain)."""

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest

from tests.harness.docker_platform import docker, postgres_pair
from tests.harness.options import ensure_bucket
from tests.harness.playbook import VENV_BIN, run_tasks
from tests.harness.services import REPO_ROOT

PASSWORD = "pg-" + uuid.uuid4().hex
REPLICATION = "repl-" + uuid.uuid4().hex
OPERATOR, OPERATOR_PASSWORD = "failover_op", "op-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def pair(harness):
    s3 = harness.up("docker", "s3")["s3"]
    with postgres_pair("odoo-ops-zf", PASSWORD, REPLICATION) as made:
        # Archiving as site.yml sets it up: the role (primary, then the standby cloned) and only then pg_backup,
        # whose ALTER SYSTEM the standby's postgresql.auto.conf, copied before, does not hold.
        ca_mount = {"type": "bind", "source": s3["ca_file"], "target": s3["ca_file"], "read_only": True}
        made["vars"].update(docker_postgres_pgbackrest=True, docker_postgres_extra_mounts=[ca_mount])
        up = apply_role(made["vars"])
        assert up.returncode == 0, up
        primary = made["ports"]["postgres"]
        stanza = made["name"]
        ensure_bucket(s3, stanza)
        archiving = apply_pg_backup(made, s3, stanza)
        assert archiving.returncode == 0, archiving
        # The runbook's role: reads both servers (pg_monitor) and may promote - no superuser.
        with connect(primary) as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s IN ROLE pg_monitor" % OPERATOR, (OPERATOR_PASSWORD,))
            cur.execute("GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO %s" % OPERATOR)
            cur.execute("CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz DEFAULT now())")
        yield dict(made, work=made["config"], reports=os.path.join(made["config"], "reports"), stanza=stanza)


def apply_pg_backup(made, s3, stanza):
    """pg_backup as site.yml applies it to the pair (pgBackRest in the primary's container, the standby's port given)."""
    config = made["config"] + "/postgres/pgbackrest"
    role_vars = {
        "pg_backup_container": made["name"],
        "pg_backup_stanza": stanza,
        "pg_backup_pg_data": "/var/lib/postgresql/data",
        "pg_backup_pg_port": made["ports"]["postgres"],
        "pg_backup_pg_host": "127.0.0.1",
        "pg_backup_pg_password": PASSWORD,
        "pg_backup_standby_port": made["ports"]["postgres_standby"],
        "pg_backup_config_path": config + "/pgbackrest.conf",
        "pg_backup_repo_endpoint": s3["host"],
        "pg_backup_repo_port": s3["port"],
        "pg_backup_repo_bucket": stanza,
        "pg_backup_repo_region": s3["region"],
        "pg_backup_repo_ca_file": s3["ca_file"],
        "pg_backup_repo_key": s3["access_key"],
        "pg_backup_repo_key_secret": s3["secret_key"],
        "pg_backup_cipher_pass": "cipher-" + uuid.uuid4().hex,
        "pg_backup_scheduler": "none",
        "pg_backup_bin_dir": made["config"],
        "pg_backup_initial_full": False,  # archiving is what a failover must keep; no backup needed for that
    }
    task = {"name": "pg_backup", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.pg_backup"}, "vars": role_vars}
    return run_tasks([task], timeout=600)


def pgbackrest_info(pair, container):
    """`pgbackrest info` of the pair's stanza, run in `container` (its repository as that server sees it)."""
    argv = ["exec", "--user", "postgres", container, "pgbackrest", "--config=%s/postgres/pgbackrest/pgbackrest.conf" % pair["config"]]
    return json.loads(docker(*argv, "--stanza=" + pair["stanza"], "--output=json", "info").stdout)[0]


def apply_role(role_vars):
    task = {"name": "postgres", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.docker_postgres"}, "vars": role_vars}
    return run_tasks([task], timeout=600)


def connect(port, user="postgres", password=PASSWORD):
    return contextlib.closing(psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="postgres", connect_timeout=5))


def sql(port, statement):
    with connect(port) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(statement)
        return cur.fetchall() if cur.description else None


def runbook(pair, check=False, **extra):
    variables = {
        "incident_zone_failover_confirm": True,
        "incident_zone_failover_primary_container": pair["name"],
        "incident_zone_failover_standby_port": pair["ports"]["postgres_standby"],
        "incident_zone_failover_config_dir": pair["work"] + "/postgres",
        "incident_zone_failover_report_dir": pair["reports"],
        "incident_zone_failover_stanza": pair["stanza"],
        "incident_zone_failover_pgbackrest_config": pair["config"] + "/postgres/pgbackrest/pgbackrest.conf",
        "odoo_ops_postgres": {"login_host": "127.0.0.1", "login_port": pair["ports"]["postgres"], "login_user": OPERATOR, "login_password": OPERATOR_PASSWORD},
    }
    variables.update(extra)
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/incident_zone_failover.yml", "-e", json.dumps(variables)] + (["--check"] if check else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def running(name):
    return docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


def reports(pair):
    return sorted(os.listdir(pair["reports"])) if os.path.isdir(pair["reports"]) else []


class Writer:
    """A client inserting a row every 100 ms into the primary, remembering each acknowledged id; it
    stops at its first error (the primary went away) or when told."""

    def __init__(self, port):
        self.port, self.acknowledged, self.error = port, [], None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            with connect(self.port) as conn, conn.cursor() as cur:
                conn.autocommit = True
                for number in range(1, 3000):  # bounded: 5 minutes at most
                    if self._stop.is_set():
                        return
                    cur.execute("INSERT INTO ticks (id) VALUES (%s)", (number,))
                    self.acknowledged.append(number)
                    time.sleep(0.1)
        except psycopg2.Error as exc:
            self.error = exc

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


def test_check_mode_and_a_refusal_change_nothing(pair):
    primary, standby = pair["ports"]["postgres"], pair["ports"]["postgres_standby"]
    # Cloned before pg_backup's ALTER SYSTEM, the standby holds the same archive settings all the same (promoted, it archives).
    archive_command = "pgbackrest --config=%s/postgres/pgbackrest/pgbackrest.conf --stanza=%s archive-push %%p" % (pair["config"], pair["stanza"])
    assert sql(standby, "SHOW archive_command") == sql(primary, "SHOW archive_command") == [(archive_command,)]
    planned = runbook(pair, check=True, incident_zone_failover_fence=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert "fence %s" % pair["name"] in planned.stdout and "decision: refused" in planned.stdout
    refused = runbook(pair)  # the primary accepts writes and no fence was asked
    assert refused.returncode != 0 and "still accepts writes" in refused.stdout, refused.stdout[-3000:]
    assert running(pair["name"]) and sql(primary, "SELECT pg_is_in_recovery()") == [(False,)]
    assert sql(standby, "SELECT pg_is_in_recovery()") == [(True,)]
    assert not os.path.exists(pair["work"] + "/postgres/topology.json")
    # The refusal is reported (why, and what both servers said), nothing else is written.
    (report_json,) = [n for n in reports(pair) if n.endswith(".json")]
    report = json.load(open(os.path.join(pair["reports"], report_json), encoding="utf-8"))
    assert report["outcome"].startswith("refused: the primary at 127.0.0.1:%d still accepts writes" % primary), report
    assert report["old_primary"]["at_decision"]["accepts_writes"] is True and report["switch"] is None
    assert [step["step"] for step in report["steps"]] == ["started", "decided", "stopped"]
    for name in reports(pair):
        os.remove(os.path.join(pair["reports"], name))


def test_failover_under_writes_fences_promotes_and_reports(pair):
    primary, standby = pair["ports"]["postgres"], pair["ports"]["postgres_standby"]
    with Writer(primary) as writer:
        time.sleep(1.5)
        done = runbook(pair, incident_zone_failover_fence=True)
        time.sleep(0.3)  # bounded by the writer's own stop: it fails once the primary is stopped
    assert done.returncode == 0, done.stdout[-4000:]
    assert len(writer.acknowledged) >= 10 and writer.error is not None  # it wrote before and was cut by the fence
    # The old primary is fenced: stopped, never restarted by policy, recorded.
    assert not running(pair["name"]) and docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", pair["name"]).stdout.strip() == "no"
    record = json.load(open(pair["work"] + "/postgres/topology.json", encoding="utf-8"))
    assert record["fenced"] == [pair["name"]] and record["primary"]["name"] == pair["name"] + "-standby" and record["primary"]["timeline"] == 2
    # The standby is the primary: every acknowledged row is there, and it takes writes.
    assert sql(standby, "SELECT pg_is_in_recovery()") == [(False,)]
    present = {row[0] for row in sql(standby, "SELECT id FROM ticks")}
    assert set(writer.acknowledged) <= present, sorted(set(writer.acknowledged) - present)
    sql(standby, "INSERT INTO ticks (id) VALUES (100000)")
    assert sql(standby, "SELECT count(*) FROM ticks WHERE id = 100000") == [(1,)]
    (report_json,) = [n for n in reports(pair) if n.endswith(".json")]
    report = json.load(open(os.path.join(pair["reports"], report_json), encoding="utf-8"))
    figures = {key: report[key] for key in ("switch", "data_loss", "rto_seconds", "phase_seconds", "promotion_seconds")}
    print("zone failover figures (acknowledged rows %d):" % len(writer.acknowledged), json.dumps(figures))  # shown with -s
    assert report["outcome"] == "failed over" and report["switch"]["timeline"] == 2, report
    # A clean stop ships the primary's last WAL (its shutdown checkpoint) to the standby: nothing lost.
    assert report["data_loss"] == {"bytes": 0, "known": True, "wal_range": None}, report["data_loss"]
    assert report["old_primary"]["lsn_source"].startswith("pg_control (shut down")
    assert report["old_primary"]["state"] == "fenced (container stopped)" and report["decision"]["lag_override"] is False
    assert [step["step"] for step in report["steps"]] == ["started", "decided", "fenced", "promoted", "archive checked"]
    assert float(report["rto_seconds"]) > 0 and set(report["phase_seconds"]) == {"decided", "fenced", "promoted", "archive checked"}
    # Archiving continues from the new primary on the new timeline: `pgbackrest check` passed there (it
    # switched a segment and waited for it in the repository), and the repository holds timeline 2's WAL.
    assert report["archive"] == "pgbackrest check passed", report
    archived = pgbackrest_info(pair, pair["name"] + "-standby")
    assert archived["archive"][-1]["max"].startswith("00000002"), archived  # no backup taken here: status "no valid backups"
    assert sql(standby, "SELECT failed_count FROM pg_stat_archiver") == [(0,)]
    markdown = open(os.path.join(pair["reports"], report_json[:-5] + ".md"), encoding="utf-8").read()
    assert "| switch point | timeline 2 from %s |" % report["switch"]["lsn"] in markdown and "| data lost | 0 bytes |" in markdown
    # Again: nothing to do (already promoted); the role refuses to start the fenced primary (split brain).
    again = runbook(pair, incident_zone_failover_fence=True)
    assert again.returncode == 0, again.stdout[-3000:]
    (second,) = [n for n in reports(pair) if n.endswith(".json") and n != report_json]
    second = json.load(open(os.path.join(pair["reports"], second), encoding="utf-8"))
    assert [step["step"] for step in second["steps"]] == ["started", "decided", "promoted", "archive checked"]
    assert second["switch"]["lsn"] == report["switch"]["lsn"]
    assert json.load(open(pair["work"] + "/postgres/topology.json", encoding="utf-8")) == record
    restart = apply_role(pair["vars"])
    assert restart.returncode != 0 and "%s is fenced" % pair["name"] in restart.output, restart
    assert not running(pair["name"]) and sql(standby, "SELECT pg_is_in_recovery()") == [(False,)]
