"""odoo_backup on a generated tenant (200 MB database, 500 MB filestore): throughput beside the
baseline `pg_dump | upload` + `tar filestore | upload` (boto3 streaming uploads, no zip, no
hashing) on the same data, and the peak extra local disk of each. Goals: >= 0.9x the baseline's
throughput, <= 64 MB extra disk. Throughput counts the tenant's bytes (database size + filestore).

Run: .venv/bin/python -m benchmarks.tenant_backup [--db-mb 200] [--filestore-mb 500]
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time

import boto3
import botocore.config
import psycopg2

from benchmarks.benchlib import FreshPlatform, finish_module, start_module
from tests.harness.odoo_fixture import create_odoo_fixture


class DiskWatch:
    """The lowest free space of a filesystem while the block runs (sampled every 20 ms)."""

    def __init__(self, path):
        self.path, self.lowest, self.stop = path, None, threading.Event()

    def free(self):
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def __enter__(self):
        self.start = self.lowest = self.free()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.02):
            self.lowest = min(self.lowest, self.free())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def peak_extra_mb(self):
        return max(0, self.start - self.lowest) / 1e6


def baseline(state, client, name, root):
    pg = state["postgres"]
    env = dict(os.environ, PGPASSWORD=pg["admin_password"])
    start = time.perf_counter()
    dump = subprocess.Popen(["pg_dump", "--no-owner", "-h", "127.0.0.1", "-p", str(pg["port"]), "-U",  # pylint: disable=consider-using-with
                             pg["admin_user"], name], stdout=subprocess.PIPE, env=env)
    client.upload_fileobj(dump.stdout, "bench", "baseline/%s.sql" % name)
    assert dump.wait() == 0
    tar = subprocess.Popen(["tar", "-C", os.path.join(root, name), "-cf", "-", "."],  # pylint: disable=consider-using-with
                           stdout=subprocess.PIPE)
    client.upload_fileobj(tar.stdout, "bench", "baseline/%s.tar" % name)
    assert tar.wait() == 0
    return time.perf_counter() - start


def module_run(state, name, root, compress_level):
    pg, s3 = state["postgres"], state["s3"]
    args = {"name": name, "bucket": "bench", "filestore_root": root, "compress_level": compress_level,
            "login_host": "127.0.0.1", "login_port": pg["port"], "login_user": pg["admin_user"],
            "login_password": pg["admin_password"], "s3_endpoint_url": s3["endpoint"], "s3_region": s3["region"],
            "s3_access_key": s3["access_key"], "s3_secret_key": s3["secret_key"], "s3_ca_bundle": s3["ca_file"]}
    start = time.perf_counter()
    result = finish_module(start_module("odoo_backup", args), timeout=1800)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-mb", type=int, default=200)
    parser.add_argument("--filestore-mb", type=int, default=500)
    args = parser.parse_args()
    # The services live on /dev/shm: the object store's own files must not count as the
    # backup's extra local disk, which is watched on the filestore's filesystem.
    with FreshPlatform("postgres", "s3", base="/dev/shm") as state:
        pg, s3 = state["postgres"], state["s3"]
        superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
        root = tempfile.mkdtemp(prefix="odoo_ops-bench-fs-")
        try:
            with contextlib.closing(psycopg2.connect(dbname="postgres", **superuser)) as conn:
                conn.autocommit = True
                conn.cursor().execute("CREATE ROLE bench_fleet LOGIN; GRANT bench_fleet TO odoo_ops_admin")
            create_odoo_fixture(superuser, "big", owner="bench_fleet", filestore_root=root, db_mb=args.db_mb,
                                filestore_mb=args.filestore_mb, attachments=300)
            with contextlib.closing(psycopg2.connect(dbname="postgres", **superuser)) as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_database_size('big')")
                db_bytes = cur.fetchone()[0]
            fs_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(os.path.join(root, "big"))
                           for f in fs)
            total = db_bytes + fs_bytes
            client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name=s3["region"], verify=s3["ca_file"],
                                  aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"],
                                  config=botocore.config.Config(s3={"addressing_style": "path"}))
            client.create_bucket(Bucket="bench")
            print("tenant: %.0f MB database + %.0f MB filestore; %d cores; object store on this machine (TLS, on /dev/shm)"
                  % (db_bytes / 1e6, fs_bytes / 1e6, os.cpu_count()))
            with DiskWatch(root) as disk:
                seconds = baseline(state, client, "big", root)
            print("  baseline pg_dump|upload + tar|upload   %6.1f s  %6.1f MB/s  peak extra disk %5.1f MB"
                  % (seconds, total / seconds / 1e6, disk.peak_extra_mb))
            base_rate = total / seconds
            for level in (0, 1):
                with DiskWatch(root) as disk:
                    seconds, result = module_run(state, "big", root, level)
                rate = total / seconds
                print("  odoo_backup compress_level=%d          %6.1f s  %6.1f MB/s  peak extra disk %5.1f MB  "
                      "(object %.0f MB; %.2fx the baseline: %s)"
                      % (level, seconds, rate / 1e6, disk.peak_extra_mb, result["size"] / 1e6, rate / base_rate,
                         "meets" if rate >= 0.9 * base_rate and disk.peak_extra_mb <= 64 else "MISSES"))
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
