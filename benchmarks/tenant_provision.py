"""Tenant provisioning: odoo_tenant creating a tenant from a 20 MB template with a 10 MB
filestore, beside raw `createdb -T` + `cp -a` on the same data; CREATE DATABASE strategies
(file_copy, wal_log) and filestore modes (copy, hardlink) compared, with the WAL each writes;
then one ansible-playbook run creating 100 tenants and its re-run, as one task per tenant (a
loop) and as one task for all (the `tenants` option).

Goals (2 cores): <= 0.5 s per tenant in the module's own work and p50 <= 1.5x the raw commands'
p50; 100 tenants <= 90 s; re-run <= 20 s with changed=0. Run: .venv/bin/python -m benchmarks.tenant_provision [--tenants 20] [--playbook 100]
"""

import argparse
import os
import random
import subprocess
import tempfile
import time

import psycopg2

from benchmarks.benchlib import FreshPlatform, finish_module, go, percentile, start_warm_module, summary
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.playbook import run_tasks

FLEET = "odoo_fleet"
RAW = "raw createdb -T + cp -a (postgres superuser)"
GOAL_RATIO = 1.5  # issue 16: the module's p50 against the raw commands' p50


def setup(state, root):
    pg = state["postgres"]
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
    conn = psycopg2.connect(dbname="postgres", **superuser)
    conn.autocommit = True
    conn.cursor().execute("CREATE ROLE %s LOGIN" % FLEET)
    conn.close()
    create_odoo_fixture(superuser, "golden", owner=FLEET, filestore_root=root, db_mb=20, filestore_mb=10, attachments=200)
    login = {"login_host": "127.0.0.1", "login_port": pg["port"], "login_user": pg["admin_user"], "login_password": pg["admin_password"]}
    return superuser, login


def database_size(superuser, name):
    conn = psycopg2.connect(dbname="postgres", **superuser)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(%s)", (name,))
        size = cur.fetchone()[0]
    conn.close()
    return size


def raw_create(state, root, name):
    """The baseline: what an operator would type, as the postgres superuser."""
    pg = state["postgres"]
    start = time.perf_counter()
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            os.path.join(pg["bin_dir"], "createdb"),
            "-h",
            pg["socket_dir"],
            "-p",
            str(pg["port"]),
            "-T",
            "golden",
            "-O",
            FLEET,
            name,
        ],
        check=True,
    )
    subprocess.run(["cp", "-a", os.path.join(root, "golden"), os.path.join(root, name)], check=True)
    return time.perf_counter() - start


def wal_lsn(superuser):
    conn = psycopg2.connect(dbname="postgres", **superuser)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        lsn = cur.fetchone()[0]
    conn.close()
    return lsn


def wal_bytes(superuser, start, end):
    conn = psycopg2.connect(dbname="postgres", **superuser)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(%s, %s)::bigint", (end, start))
        size = cur.fetchone()[0]
    conn.close()
    return size


def module_create(login, root, name, strategy, filestore_copy):
    args = dict(
        login,
        name=name,
        template="golden",
        owner=FLEET,
        base_url="https://%s.test" % name.replace("_", "-"),  # a host name holds no underscore
        filestore_root=root,
        strategy=strategy,
        filestore_copy=filestore_copy,
        connection_limit=20,
    )
    proc = start_warm_module("odoo_tenant", args)
    start = time.perf_counter()
    go(proc)
    finish_module(proc)
    return time.perf_counter() - start


def per_tenant(state, root, login, superuser, count):
    """Each series once per round, round after round: the cluster grows evenly under all of them."""
    if not count:
        return
    series = {RAW: lambda i: raw_create(state, root, "raw_%d" % i)}
    for strategy in ("file_copy", "wal_log"):
        for mode in ("copy", "hardlink"):
            series["odoo_tenant strategy=%s filestore=%s" % (strategy, mode)] = lambda i, s=strategy, m=mode: module_create(
                login, root, "m_%s_%s_%d" % (s[0], m[0], i), s, m
            )
    times = {label: [] for label in series}
    wal = {label: [] for label in series}
    for index in range(count):
        order = list(series.items())
        random.Random(index).shuffle(order)  # no series always runs right after another's writes
        for label, create in order:
            start = wal_lsn(superuser)
            times[label].append(create(index))
            wal[label].append(wal_bytes(superuser, start, wal_lsn(superuser)))
    print(
        "\nper tenant (n=%d each, interleaved; module timed after the interpreter and ansible.module_utils.basic load; WAL = bytes written per create)" % count
    )
    for label in series:
        print("  %-52s %s  WAL %5.1f MB" % (label, summary(times[label]), sum(wal[label]) / len(wal[label]) / 1e6))
    raw = percentile(times[RAW], 50)
    for label in [label for label in series if label != RAW]:
        print("  %-52s p50 %.2fx the raw commands (goal <= %.1fx)" % (label, percentile(times[label], 50) / raw, GOAL_RATIO))


def playbook(login, root, count):
    names = ["pb_%03d" % i for i in range(count)]
    common = dict(login, template="golden", owner=FLEET, filestore_root=root, filestore_copy="hardlink", connection_limit=20, statement_timeout=300)
    loop = [
        {
            "name": "one task per tenant",
            "sysgenpro.odoo_ops.odoo_tenant": dict(common, name="{{ item }}", base_url="https://{{ item | replace('_', '-') }}.test"),
            "loop": names,
        }
    ]
    batch = [
        {
            "name": "one task for the fleet",
            "sysgenpro.odoo_ops.odoo_tenant": dict(
                common, tenants=[{"name": "b" + name, "base_url": "https://b%s.test" % name.replace("_", "-")} for name in names]
            ),
        }
    ]
    for form, tasks in (("loop", loop), ("tenants", batch)):
        for label in ("first run", "re-run"):
            start = time.perf_counter()
            run = run_tasks(tasks, diff=False, timeout=1800)
            elapsed = time.perf_counter() - start
            result = run.results[0]
            items = result.get("results") or result.get("tenants") or []
            changed = sum(1 for r in items if r.get("changed"))
            print(
                "  ansible-playbook, %d tenants, %-7s %-9s %6.1f s  (tenants changed=%d, failed=%s)"
                % (count, form, label, elapsed, changed, run.stats.get("failures", 0))
            )
            for failure in [r for r in items + [result] if r.get("failed") and r.get("msg")][:3]:
                print("    failed: %s" % failure["msg"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--playbook", type=int, default=100)
    args = parser.parse_args()
    with FreshPlatform("postgres") as state:
        root = tempfile.mkdtemp(prefix="odoo_ops-bench-fs-")
        try:
            superuser, login = setup(state, root)
            print(
                "template: %.1f MB database, %.1f MB filestore; %d cores"
                % (
                    database_size(superuser, "golden") / 1e6,
                    sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(os.path.join(root, "golden")) for f in fs) / 1e6,
                    os.cpu_count(),
                )
            )
            per_tenant(state, root, login, superuser, args.tenants)
            if args.playbook:
                playbook(login, root, args.playbook)
        finally:
            subprocess.run(["rm", "-rf", root], check=False)


if __name__ == "__main__":
    main()
