"""pg_pitr_restore's recovery time beside a raw pgBackRest restore of the same backup and WAL.

The data: a ~1 GB database (pgbench, scale 68) in a private PostgreSQL 15 cluster archived by the
pg_backup role (pgBackRest 2.45 into SeaweedFS S3 over TLS on this machine, zstd, AES-256, async
archive-push, process-max 2), a full backup of it, then ~10 minutes' worth of WAL: the transactions of
10 minutes of a TPC-B-like workload at 200 transactions per second (120 000 by default), generated
faster than that - pgbench without a rate limit - and all archived before the restores start. The
source is then stopped, so every restore replays the same archive.

Measured, in interleaved rounds on the same backup and archive, each into a new directory:
- module: the pg_pitr_restore process as Ansible runs it (its own Python process, as the PostgreSQL OS
  user), target `latest` (restore, start, replay to the end of the archive, promote, proven); beside
  its own durations (restore = pgbackrest restore; replay = start, recovery, promotion, proof).
- raw: `pgbackrest restore --type=default` (pgBackRest's own restore_command, the configuration's async
  archive-get and spool), `pg_ctl start`, then polling every 50 ms until pg_is_in_recovery() is false.
Restore MB/s is the backup's database size over the restore phase; replay MB/s the WAL from the
backup's stop to the archive's end over the replay phase. Goal: module total <= 1.10x raw total.
(pgbench's rows compress very well: the repository holds a few percent of the database's size, so
the restore phase measures decompression and writing more than the object store.)

Run: .venv/bin/python -m benchmarks.pitr [--scale 68] [--transactions 120000] [--rounds 2]
(as root, which runs PostgreSQL and the module as the postgres OS user; ~15-25 minutes)
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg2

from benchmarks.benchlib import COLLECTIONS, FreshPlatform
from tests.harness.pitr_source import PG_CTL, backup, info, pitr_source, sql
from tests.harness.process import free_port
from tests.harness.services import REPO_ROOT

PG_BIN = os.path.dirname(PG_CTL)
MODULE = os.path.join(REPO_ROOT, "plugins", "modules", "pg_pitr_restore.py")
RATE = 200  # transactions per second of the workload whose 10 minutes the WAL stands for
STEP_TIMEOUT = 1800  # every wait below is bounded by this (seconds)


def as_postgres(argv, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, capture_output=True, text=True, check=True, timeout=STEP_TIMEOUT, **kwargs)


def lsn_bytes(lsn):
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def wait_archived(source, timeout=STEP_TIMEOUT):
    """Switch the WAL segment and wait until the archive has it; returns the LSN of the switch."""
    segment, end = sql(source["superuser"], "SELECT pg_walfile_name(pg_switch_wal()), pg_current_wal_lsn()")[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        archived = sql(source["superuser"], "SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
        if archived and archived[-24:] >= segment[-24:]:
            return end
        time.sleep(0.5)
    raise RuntimeError("WAL segment %s was not archived within %d s" % (segment, timeout))


def make_data(source, scale, transactions):
    """The database, a full backup of it, then the WAL; returns (figures of the generation)."""
    pg = source["pg"]
    conn = ["-h", pg["socket_dir"], "-p", str(pg["port"]), "-U", "postgres"]
    sql(source["superuser"], "CREATE DATABASE bench")
    start = time.monotonic()
    as_postgres([os.path.join(PG_BIN, "pgbench")] + conn + ["-i", "-q", "-s", str(scale), "bench"])
    loaded = time.monotonic() - start
    size = sql(dict(source["superuser"], dbname="bench"), "SELECT pg_database_size('bench')")[0][0]
    wait_archived(source)
    start = time.monotonic()
    backup(source, "full")
    backed_up = time.monotonic() - start
    clients = 4
    start = time.monotonic()
    as_postgres([os.path.join(PG_BIN, "pgbench")] + conn + ["-n", "-c", str(clients), "-j", "2", "-t", str(transactions // clients), "bench"])
    generated = time.monotonic() - start
    start = time.monotonic()
    end = wait_archived(source)
    archived = time.monotonic() - start
    return {
        "db_bytes": size,
        "load_s": loaded,
        "backup_s": backed_up,
        "workload_s": generated,
        "archive_wait_s": archived,
        "end_lsn": end,
        "transactions": transactions // clients * clients,
    }


def stop_cluster(data_dir):
    if os.path.exists(os.path.join(data_dir, "postmaster.pid")):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", PG_CTL, "-D", data_dir, "-m", "immediate", "-w", "-t", "60", "stop"],
            capture_output=True,
            timeout=90,
            check=False,
        )
    shutil.rmtree(data_dir, ignore_errors=True)


def run_module(source, dest, port):
    """pg_pitr_restore in its own Python process as the postgres OS user; (wall seconds, result)."""
    args = {
        "stanza": source["stanza"],
        "pgbackrest_config": source["config"],
        "data_dir": dest,
        "port": port,
        "target": {"type": "latest"},
        "wait_timeout": STEP_TIMEOUT,
    }
    fd, args_file = tempfile.mkstemp(suffix=".json", prefix="odoo_ops-bench-args-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        shutil.chown(args_file, "postgres", "postgres")
        start = time.perf_counter()
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", "env", "PYTHONPATH=%s" % COLLECTIONS, sys.executable, MODULE, args_file],
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT + 120,
            check=False,
            cwd="/tmp",
        )
        seconds = time.perf_counter() - start
    finally:
        os.unlink(args_file)
    result = json.loads(done.stdout or "{}")
    if done.returncode or result.get("failed") or not result.get("reached_target"):
        raise RuntimeError("module failed: %s %s" % (result.get("msg"), done.stderr[-800:]))
    return seconds, result


def run_raw(source, dest, port, label):
    """What an operator runs by hand; (restore seconds, start-to-promoted seconds)."""
    spool = os.path.join(source["work"], "spool", "archive", source["stanza"], "in")
    shutil.rmtree(spool, ignore_errors=True)  # nothing prefetched by an earlier round
    os.makedirs(dest, 0o700)
    shutil.chown(dest, "postgres", "postgres")
    start = time.perf_counter()
    as_postgres(
        [
            "pgbackrest",
            "--config=%s" % source["config"],
            "--stanza=%s" % source["stanza"],
            "--pg1-path=%s" % dest,
            "--set=%s" % label,
            "--type=default",
            "--archive-mode=off",
            "--log-level-console=warn",
            "restore",
        ]
    )
    restored = time.perf_counter()
    options = "-c port=%d -c unix_socket_directories=%s -c listen_addresses='' -c archive_mode=off" % (port, dest)
    as_postgres([PG_CTL, "-D", dest, "-l", os.path.join(dest, "raw.log"), "-W", "-o", options, "start"])
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with (
                contextlib.closing(psycopg2.connect(host=dest, port=port, user="postgres", dbname="postgres", connect_timeout=5)) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SELECT pg_is_in_recovery()")
                if not cur.fetchone()[0]:
                    break
        except psycopg2.OperationalError:
            pass  # starting, or before consistency
        time.sleep(0.05)
    else:
        raise RuntimeError("the raw restore was not promoted within %d s" % STEP_TIMEOUT)
    promoted = time.perf_counter()
    return restored - start, promoted - restored


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=68, help="pgbench scale (68: ~1 GB)")
    parser.add_argument("--transactions", type=int, default=RATE * 600, help="pgbench transactions after the backup (default: 10 minutes at %d/s)" % RATE)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the cluster and the module run as the postgres OS user")
    with FreshPlatform("s3") as state, pitr_source(state["s3"], "bench", "bench-pitr") as source:
        made = make_data(source, args.scale, args.transactions)
        newest = info(source)["backup"][-1]
        wal = lsn_bytes(made["end_lsn"]) - lsn_bytes(newest["lsn"]["stop"])
        subprocess.run(
            ["runuser", "-u", "postgres", "--", PG_CTL, "-D", source["pg"]["data_dir"], "-m", "fast", "-w", "-t", "120", "stop"],
            check=True,
            capture_output=True,
            timeout=180,
        )
        print("%d cores; PostgreSQL 15, pgBackRest 2.45 and SeaweedFS S3 (TLS) on this machine" % os.cpu_count())
        print(
            "data: database %.0f MB (pgbench scale %d, loaded in %.0f s); full backup %s: %.0f MB, %.0f MB in the "
            "repository (zstd, AES-256), %.0f s"
            % (
                made["db_bytes"] / 1e6,
                args.scale,
                made["load_s"],
                newest["label"],
                newest["info"]["size"] / 1e6,
                newest["info"]["repository"]["size"] / 1e6,
                made["backup_s"],
            )
        )
        print(
            "WAL: %d transactions (10 minutes at %.0f/s) generated in %.0f s unthrottled: %.0f MB of WAL "
            "(%.1f MB/s over 10 minutes), archived %.0f s after the workload ended"
            % (made["transactions"], made["transactions"] / 600.0, made["workload_s"], wal / 1e6, wal / 600e6, made["archive_wait_s"])
        )
        work = tempfile.mkdtemp(prefix="odoo_ops-bench-pitr-")
        os.chmod(work, 0o755)
        shutil.chown(work, "postgres", "postgres")
        modules, raws = [], []
        try:
            for round_ in range(args.rounds):
                for kind in ("module", "raw") if round_ % 2 == 0 else ("raw", "module"):
                    dest = os.path.join(work, "%s%d" % (kind, round_))
                    os.sync()  # the previous round's writes are not flushed on this one's clock
                    try:
                        if kind == "module":
                            seconds, result = run_module(source, dest, free_port())
                            modules.append((seconds, result["durations"]["restore"], result["durations"]["replay"], result["durations"]["total"]))
                        else:
                            restore_s, replay_s = run_raw(source, dest, free_port(), newest["label"])
                            raws.append((restore_s + replay_s, restore_s, replay_s))
                    finally:
                        stop_cluster(dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        size = newest["info"]["size"]
        mod = [statistics.median(column) for column in zip(*modules)]
        raw = [statistics.median(column) for column in zip(*raws)]
        print(
            "medians of %d interleaved rounds (module %s s, raw %s s):"
            % (args.rounds, "/".join("%.1f" % m[0] for m in modules), "/".join("%.1f" % r[0] for r in raws))
        )
        print(
            "  (restore phases: module %s s, raw %s s; replay phases: module %s s, raw %s s)"
            % (
                "/".join("%.1f" % m[1] for m in modules),
                "/".join("%.1f" % r[1] for r in raws),
                "/".join("%.1f" % m[2] for m in modules),
                "/".join("%.1f" % r[2] for r in raws),
            )
        )
        print(
            "  raw      total %6.1f s = restore %6.1f s (%5.0f MB/s) + start to promoted %6.1f s (replay %5.1f MB/s)"
            % (raw[0], raw[1], size / 1e6 / raw[1], raw[2], wal / 1e6 / raw[2])
        )
        print(
            "  module   total %6.1f s (process) / %6.1f s (its durations.total) = restore %6.1f s (%5.0f MB/s) + "
            "replay %6.1f s (%5.1f MB/s)" % (mod[0], mod[3], mod[1], size / 1e6 / mod[1], mod[2], wal / 1e6 / mod[2])
        )
        overhead = mod[0] / raw[0] - 1
        print("  module overhead %+.1f %% of raw (process total): %s the <= 10 %% goal" % (100 * overhead, "meets" if overhead <= 0.10 else "MISSES"))


if __name__ == "__main__":
    main()
