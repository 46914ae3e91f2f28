"""The pg_backup role: pgBackRest on a real PostgreSQL 15 with a SeaweedFS S3 repository over TLS; its
molecule scenario (molecule/pg_backup: converge, idempotence, verify - pgbackrest check and a backup by
the schedule's script) run step by step on the same cluster and repository."""

import contextlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config
import psycopg2
import pytest

from tests.harness.molecule import RoleScenario
from tests.harness.playbook import run_tasks


@pytest.fixture(scope="module")
def setup(harness):
    state = harness.up("postgres", "s3")
    pg, s3 = state["postgres"], state["s3"]
    boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3["region"],
        verify=s3["ca_file"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    ).create_bucket(Bucket="pgbackrest")
    work = tempfile.mkdtemp(prefix="odoo_ops-pgbackrest-")
    os.chmod(work, 0o755)
    cipher = "cipher-" + os.urandom(12).hex()
    role_vars = {
        "pg_backup_stanza": "main",
        "pg_backup_tier": 1,
        "pg_backup_pg_data": pg["data_dir"],
        "pg_backup_pg_port": pg["port"],
        "pg_backup_pg_socket_dir": pg["socket_dir"],
        "pg_backup_config_path": os.path.join(work, "etc", "pgbackrest.conf"),
        "pg_backup_spool_path": os.path.join(work, "spool"),
        "pg_backup_log_path": os.path.join(work, "log"),
        "pg_backup_lock_path": os.path.join(work, "lock"),
        "pg_backup_repo_endpoint": s3["host"],
        "pg_backup_repo_port": s3["port"],
        "pg_backup_repo_bucket": "pgbackrest",
        "pg_backup_repo_region": s3["region"],
        "pg_backup_repo_ca_file": s3["ca_file"],
        "pg_backup_repo_key": s3["access_key"],
        "pg_backup_repo_key_secret": s3["secret_key"],
        "pg_backup_cipher_pass": cipher,
        "pg_backup_scheduler": "cron",
        "pg_backup_cron_dir": work,
        "pg_backup_bin_dir": work,
        # root becomes postgres with su here (no sudo on these machines)
        "ansible_become_method": "ansible.builtin.su",
    }
    try:
        yield {"vars": role_vars, "work": work, "pg": pg, "secrets": [cipher, s3["secret_key"]]}
    finally:
        # The session's cluster is shared: stop it archiving into the configuration removed below.
        with contextlib.closing(psycopg2.connect(host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres")) as conn, conn.cursor() as cur:
            conn.autocommit = True
            for statement in ("ALTER SYSTEM RESET archive_command", "ALTER SYSTEM RESET archive_timeout", "SELECT pg_reload_conf()"):
                cur.execute(statement)
        subprocess.run(["rm", "-rf", work], check=False)


def apply_role(setup, verbosity=0, check=False, **overrides):
    task = {"name": "pg_backup", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.pg_backup"}, "vars": dict(setup["vars"], **overrides)}
    show = {"name": "show", "ansible.builtin.debug": {"var": "pg_backup_status"}}
    return run_tasks([task, show], verbosity=verbosity, check=check, timeout=600)


def pgbackrest(setup, *args):
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % setup["vars"]["pg_backup_config_path"], "--stanza=main"] + list(args),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout


def archiver(setup):
    pg = setup["pg"]
    with contextlib.closing(psycopg2.connect(host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT archived_count, failed_count FROM pg_stat_archiver")
        return cur.fetchone()


def setting(setup, name):
    pg = setup["pg"]
    with contextlib.closing(psycopg2.connect(host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting(%s)", (name,))
        return cur.fetchone()[0]


def test_bad_input_writes_nothing(setup):
    config = os.path.join(setup["work"], "refused", "pgbackrest.conf")
    run = apply_role(setup, pg_backup_cipher_pass="short", pg_backup_config_path=config)
    assert run.returncode != 0 and "pg_backup_cipher_pass must be set" in run.output
    assert not os.path.exists(os.path.dirname(config))


def test_role_archives_backs_up_and_is_idempotent(setup):
    planned = apply_role(setup, check=True)  # a new host: nothing written, nothing created, no failure
    assert planned.returncode == 0 and planned.stats["changed"] > 0, planned
    assert not os.path.exists(setup["vars"]["pg_backup_config_path"])
    assert setup["vars"]["pg_backup_config_path"] not in setting(setup, "archive_command")
    scenario = RoleScenario("pg_backup", setup["work"], setup["vars"])
    scenario.converge()
    info = json.loads(pgbackrest(setup, "info", "--output=json"))[0]
    assert info["status"]["code"] == 0 and [b["type"] for b in info["backup"]] == ["full"]
    archived, failed = archiver(setup)
    assert archived > 0 and failed == 0
    config = setup["vars"]["pg_backup_config_path"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o640
    assert "repo1-cipher-type=aes-256-cbc" in open(config).read()
    # A second run changes nothing (molecule fails the step on any changed task).
    assert "idempotence" in scenario.step("idempotence")

    # verify: pgbackrest check, then the schedule's own script makes the differential backup.
    assert "The stanza is ok, the role's full backup then the differential one" in scenario.step("verify")
    script = os.path.join(setup["work"], "pgbackrest-main-backup")
    info = json.loads(pgbackrest(setup, "info", "--output=json"))[0]
    assert [b["type"] for b in info["backup"]] == ["full", "diff"]
    cron = open(os.path.join(setup["work"], "pgbackrest-main")).read()
    assert "0 1 * * 0 postgres %s full" % script in cron and "0 1 * * 1-6 postgres %s diff" % script in cron

    second = apply_role(setup)
    assert second.returncode == 0 and second.stats["changed"] == 0, second
    status = second.results[-1]["pg_backup_status"]
    assert status["stanza"] == "main" and status["tier"] == 1 and status["status"] == "ok" and status["backups"] == 2
    assert status["last_backup"]["type"] == "diff" and status["last_backup"]["stop"].endswith("+00")
    assert status["archive"]["max"] and status["archiver"]["failed_count"] == 0
    assert apply_role(setup, check=True).stats["changed"] == 0


def test_secrets_never_in_output(setup):
    run = apply_role(setup, verbosity=3)
    assert run.returncode == 0, run
    for secret in setup["secrets"]:
        assert secret not in run.output and secret not in run.stderr


def test_the_scheduler_takes_the_next_backup_itself_and_writes_its_metrics(setup):
    """The scheduler role on this cluster (systemd units written, not enabled: no systemd here), its
    schedule shortened by a variable: the job runner takes the next differential backup by itself,
    through pg_backup's script as postgres, and its metrics (docs/observability.md) show it."""
    work = setup["work"]
    folders = {name: os.path.join(work, "scheduler", name) for name in ("config", "units", "metrics", "reports")}
    role = {
        "scheduler_mode": "systemd",
        "scheduler_systemd_enable": False,
        "scheduler_stanza": "main",
        "scheduler_cluster_backup_script": os.path.join(work, "pgbackrest-main-backup"),
        "scheduler_cluster_backup_user": "postgres",
        "scheduler_intervals": {"cluster_backup-diff": 1},
        "scheduler_config_dir": folders["config"],
        "scheduler_systemd_dir": folders["units"],
        "scheduler_textfile_dir": folders["metrics"],
        "scheduler_report_dir": folders["reports"],
        "scheduler_python": sys.executable,
    }
    os.makedirs(folders["units"])  # systemd's own folder, there on a host
    task = {"name": "scheduler", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.scheduler"}, "vars": role}
    first = run_tasks([task])
    assert first.returncode == 0, first
    assert run_tasks([task]).stats["changed"] == 0
    full_timer = open(os.path.join(folders["units"], "odoo-ops-job-cluster_backup-full-main.timer")).read()
    assert "OnCalendar=Sun *-*-* 01:00:00\n" in full_timer and "Persistent=true\n" in full_timer and "RandomizedDelaySec=900\n" in full_timer
    diff_timer = open(os.path.join(folders["units"], "odoo-ops-job-cluster_backup-diff-main.timer")).read()
    assert "OnUnitActiveSec=1\n" in diff_timer and "RandomizedDelaySec=0\n" in diff_timer  # shortened
    before = [b["label"] for b in json.loads(pgbackrest(setup, "info", "--output=json"))[0]["backup"]]
    started = time.time()
    # serve: the diff is due in a second (the full one next Sunday); one run, bounded.
    served = subprocess.run(
        [sys.executable, os.path.join(folders["config"], "odoo_ops_scheduler.py"), "serve", "--jobs", os.path.join(folders["config"], "jobs.json"),
         "--textfile-dir", folders["metrics"], "--max-runs", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr[-3000:]
    backups = json.loads(pgbackrest(setup, "info", "--output=json"))[0]["backup"]
    assert len(backups) == len(before) + 1 and backups[-1]["type"] == "diff", served.stderr[-3000:]
    text = open(os.path.join(folders["metrics"], "odoo_ops_job-cluster_backup-main.prom")).read()
    labels = '{job_name="cluster_backup",subject="main",tier="1"}'
    values = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("odoo_ops_job_")}
    assert "odoo_ops_job_bytes%s " % labels in text
    assert values["odoo_ops_job_last_success_timestamp_seconds"] > started and values["odoo_ops_job_bytes"] == backups[-1]["info"]["repository"]["delta"] > 0
    assert values["odoo_ops_job_max_age_seconds"] == 26 * 3600 and values["odoo_ops_job_duration_seconds"] > 0
    assert stat.S_IMODE(os.stat(os.path.join(folders["config"], "job-vars.json")).st_mode) == 0o600
