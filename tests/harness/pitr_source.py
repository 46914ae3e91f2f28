"""A private PostgreSQL 15 cluster backed up by the pg_backup role (pgBackRest into SeaweedFS S3 over
TLS), for tests that restore or verify physical backups; and the small helpers they share."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import psycopg2

from .options import s3_client
from .platform import Platform
from .playbook import run_tasks

PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


@contextlib.contextmanager
def pitr_source(s3, stanza, bucket, archive_async=True, extra_vars=None):
    """A cluster of its own (ticks table, commit timestamps on) with stanza in bucket and a first
    full backup; every copy left under its `restores` folder is stopped and removed at the end.
    archive_async=False: the pg_backup role's configuration without archive-async (WAL pushed
    synchronously), as most pgBackRest configurations are. extra_vars: more pg_backup role variables."""
    s3_client(s3).create_bucket(Bucket=bucket)
    work = tempfile.mkdtemp(prefix="odoo_ops-pitr-")
    os.chmod(work, 0o755)
    platform = Platform(os.path.join(work, "platform"))
    try:
        pg = platform.up(["postgres"])["postgres"]
        data = _prepare(pg, s3, work, stanza, bucket, dict(extra_vars or {}, pg_backup_archive_async=archive_async))
        yield data
    finally:
        restores = os.path.join(work, "r")
        for name in os.listdir(restores) if os.path.isdir(restores) else []:
            stop_copy(os.path.join(restores, name))
        platform.down()
        shutil.rmtree(work, ignore_errors=True)


def _prepare(pg, s3, work, stanza, bucket, extra_vars):
    restores = os.path.join(work, "r")
    os.makedirs(restores)
    shutil.chown(restores, "postgres", "postgres")
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres", "dbname": "postgres"}
    sql(superuser, "ALTER SYSTEM SET track_commit_timestamp = on")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", PG_CTL, "-D", pg["data_dir"], "-l", pg["log"], "-w", "-t", "60", "restart"],
        check=True,
        capture_output=True,
        timeout=90,
    )
    sql(superuser, "CREATE TABLE ticks (id serial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT clock_timestamp())")
    config = os.path.join(work, "etc", "pgbackrest.conf")
    role_vars = {
        "pg_backup_stanza": stanza,
        "pg_backup_tier": 1,
        "pg_backup_pg_data": pg["data_dir"],
        "pg_backup_pg_port": pg["port"],
        "pg_backup_pg_socket_dir": pg["socket_dir"],
        "pg_backup_config_path": config,
        "pg_backup_spool_path": os.path.join(work, "spool"),
        "pg_backup_log_path": os.path.join(work, "log"),
        "pg_backup_lock_path": os.path.join(work, "lock"),
        "pg_backup_repo_endpoint": s3["host"],
        "pg_backup_repo_port": s3["port"],
        "pg_backup_repo_bucket": bucket,
        "pg_backup_repo_region": s3["region"],
        "pg_backup_repo_ca_file": s3["ca_file"],
        "pg_backup_repo_key": s3["access_key"],
        "pg_backup_repo_key_secret": s3["secret_key"],
        "pg_backup_cipher_pass": "cipher-" + os.urandom(12).hex(),
        "pg_backup_scheduler": "cron",
        "pg_backup_cron_dir": work,
        "pg_backup_bin_dir": work,
        "ansible_become_method": "ansible.builtin.su",
    }
    role_vars.update(extra_vars)
    applied = run_tasks([{"name": "pg_backup", "ansible.builtin.include_role": {"name": "sysgenpro.odoo_ops.pg_backup"}, "vars": role_vars}], timeout=600)
    assert applied.returncode == 0, applied
    return {
        "pg": pg,
        "superuser": superuser,
        "config": config,
        "work": work,
        "restores": restores,
        "s3": s3,
        "stanza": stanza,
        "bucket": bucket,
        "secrets": [role_vars["pg_backup_cipher_pass"], s3["secret_key"]],
        "cipher_pass": role_vars["pg_backup_cipher_pass"],
        "archive_async": role_vars["pg_backup_archive_async"],
        "script": os.path.join(work, "pgbackrest-%s-backup" % stanza),
    }


def config_variant(source, name, drop=(), add=()):
    """A copy of the source's pgbackrest.conf (owned by postgres) without the options named in drop
    and with the `name=value` lines of add at the top of [global]; returns its path."""
    kept = [line for line in open(source["config"], encoding="utf-8").read().splitlines() if line.split("=", 1)[0].strip() not in drop]
    at = kept.index("[global]") + 1
    path = os.path.join(source["work"], "etc", name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(kept[:at] + list(add) + kept[at:]) + "\n")
    shutil.chown(path, "postgres", "postgres")
    os.chmod(path, 0o600)
    return path


def sql(conninfo, statement, args=None):
    with contextlib.closing(psycopg2.connect(**conninfo)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else None


def stop_copy(dest):
    if os.path.exists(os.path.join(dest, "postmaster.pid")):
        subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", dest, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60, check=False)
    shutil.rmtree(dest, ignore_errors=True)


def pgbackrest(source, *args):
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % source["config"], "--stanza=%s" % source["stanza"]] + list(args),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout


def info(source):
    return json.loads(pgbackrest(source, "info", "--output=json"))[0]


def backup(source, kind):
    """A pgBackRest backup (full, diff, incr) made the way the role's schedule makes it."""
    subprocess.run(["runuser", "-u", "postgres", "--", source["script"], kind], check=True, timeout=300, capture_output=True)


def switch_and_wait(source):
    """Close the current WAL segment and wait until it is archived."""
    segment = sql(source["superuser"], "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        archived = sql(source["superuser"], "SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
        if archived and archived[-24:] >= segment[-24:]:
            return segment
        time.sleep(0.2)
    raise AssertionError("WAL segment %s was not archived within 60 s" % segment)
