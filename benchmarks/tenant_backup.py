"""odoo_backup on a generated tenant (200 MB database, 500 MB filestore): throughput beside the
baseline `pg_dump | upload` + `tar filestore | upload` (boto3 streaming uploads, no zip, no
hashing) on the same data, and the peak extra local disk of each. Goals: >= 0.9x the baseline's
throughput, <= 64 MB extra disk. Throughput counts the tenant's bytes (database size + filestore).
For reference, the baseline is also run hashing its streams with SHA-256 as they go up - the least
integrity work a verified backup does (odoo_backup hashes the object and each member, and zip adds
CRC-32). Client CPU is that of the backup's own processes (the baseline's pg_dump, tar and boto3; the
module's process and its pg_dump), apart from PostgreSQL and the object store, which here share
the same cores. The module's time is its whole process (Python start and imports included), as Ansible runs it.
Runs are interleaved over --rounds rounds and the median is reported, so a slow moment of the
machine or the store's growth does not favour one side; each run's objects are deleted after it.

Run: .venv/bin/python -m benchmarks.tenant_backup [--db-mb 200] [--filestore-mb 500] [--rounds 3]
"""

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import psycopg2

from benchmarks.benchlib import FreshPlatform, finish_module, start_module
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import s3_client


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


def cpu_seconds():
    """CPU seconds of this process and its finished children (pg_dump, tar, the module's process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Sha256Reader:
    """The baseline's stream, hashed as it goes up (the integrity work a verified backup does)."""

    def __init__(self, source):
        self.source, self.digest = source, hashlib.sha256()

    def read(self, size=-1):
        data = self.source.read(size)
        self.digest.update(data)
        return data


def baseline(state, client, name, root, hashed=False):
    wrap = Sha256Reader if hashed else (lambda stream: stream)
    pg = state["postgres"]
    env = dict(os.environ, PGPASSWORD=pg["admin_password"])
    start = time.perf_counter()
    dump = subprocess.Popen(
        [
            "pg_dump",
            "--no-owner",
            "-h",
            "127.0.0.1",
            "-p",
            str(pg["port"]),
            "-U",  # pylint: disable=consider-using-with
            pg["admin_user"],
            name,
        ],
        stdout=subprocess.PIPE,
        env=env,
    )
    client.upload_fileobj(wrap(dump.stdout), "bench", "baseline/%s.sql" % name)
    assert dump.wait() == 0
    tar = subprocess.Popen(
        ["tar", "-C", os.path.join(root, name), "-cf", "-", "."],  # pylint: disable=consider-using-with
        stdout=subprocess.PIPE,
    )
    client.upload_fileobj(wrap(tar.stdout), "bench", "baseline/%s.tar" % name)
    assert tar.wait() == 0
    return time.perf_counter() - start


def module_run(state, name, root, options):
    pg, s3 = state["postgres"], state["s3"]
    args = {
        "name": name,
        "bucket": "bench",
        "filestore_root": root,
        **options,
        "login_host": "127.0.0.1",
        "login_port": pg["port"],
        "login_user": pg["admin_user"],
        "login_password": pg["admin_password"],
        "s3_endpoint_url": s3["endpoint"],
        "s3_region": s3["region"],
        "s3_access_key": s3["access_key"],
        "s3_secret_key": s3["secret_key"],
        "s3_ca_bundle": s3["ca_file"],
    }
    start = time.perf_counter()
    result = finish_module(start_module("odoo_backup", args), timeout=1800)
    return time.perf_counter() - start, result


def empty_bucket(client):
    for obj in client.list_objects_v2(Bucket="bench").get("Contents", []):
        client.delete_object(Bucket="bench", Key=obj["Key"])


HASHED = "baseline + SHA-256 of each stream"
VARIANTS = [
    ("odoo_backup (defaults: zip)", {}),
    ("odoo_backup format=custom", {"format": "custom"}),
    ("odoo_backup zip compress_level=1", {"compress_level": 1}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-mb", type=int, default=200)
    parser.add_argument("--filestore-mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
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
            create_odoo_fixture(superuser, "big", owner="bench_fleet", filestore_root=root, db_mb=args.db_mb, filestore_mb=args.filestore_mb, attachments=300)
            with contextlib.closing(psycopg2.connect(dbname="postgres", **superuser)) as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_database_size('big')")
                db_bytes = cur.fetchone()[0]
            fs_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(os.path.join(root, "big")) for f in fs)
            total = db_bytes + fs_bytes
            client = s3_client(s3)
            client.create_bucket(Bucket="bench")
            print(
                "tenant: %.0f MB database + %.0f MB filestore; %d cores; object store on this machine (TLS, on /dev/shm)"
                % (db_bytes / 1e6, fs_bytes / 1e6, os.cpu_count())
            )
            runs = {"baseline": [], HASHED: []}
            runs.update((label, []) for label, _options in VARIANTS)
            sizes, inside, cpus = {}, {}, {}
            for _round in range(args.rounds):
                with DiskWatch(root) as disk:
                    cpu = cpu_seconds()
                    seconds = baseline(state, client, "big", root)
                    cpus.setdefault("baseline", []).append(cpu_seconds() - cpu)
                runs["baseline"].append((seconds, disk.peak_extra_mb))
                empty_bucket(client)
                cpu = cpu_seconds()
                seconds = baseline(state, client, "big", root, hashed=True)
                cpus.setdefault(HASHED, []).append(cpu_seconds() - cpu)
                runs[HASHED].append((seconds, 0.0))
                empty_bucket(client)
                for label, options in VARIANTS:
                    with DiskWatch(root) as disk:
                        cpu = cpu_seconds()
                        seconds, result = module_run(state, "big", root, options)
                        cpus.setdefault(label, []).append(cpu_seconds() - cpu)
                    runs[label].append((seconds, disk.peak_extra_mb))
                    inside.setdefault(label, []).append(result["duration"])
                    sizes[label] = result["size"]
                    empty_bucket(client)
            base_rate = total / statistics.median(s for s, _d in runs["baseline"])
            for label, measured in runs.items():
                seconds = statistics.median(s for s, _d in measured)
                extra = max(d for _s, d in measured)
                rate = total / seconds
                verdict = (
                    ""
                    if label in ("baseline", HASHED)
                    else "  %.2fx the baseline: %s; object %.0f MB; %.1f s of it "
                    "inside the module"
                    % (rate / base_rate, "meets" if rate >= 0.9 * base_rate and extra <= 64 else "MISSES", sizes[label] / 1e6, statistics.median(inside[label]))
                )
                print(
                    "  %-34s %6.1f s  %6.1f MB/s  client CPU %4.1f s  peak extra disk %5.1f MB%s"
                    % (label, seconds, rate / 1e6, statistics.median(cpus[label]), extra, verdict)
                )
            print(
                "  (median of %d interleaved rounds; runs: %s)"
                % (
                    args.rounds,
                    "; ".join("%s %s" % (label.split(" (", maxsplit=1)[0], "/".join("%.1f" % s for s, _d in measured)) for label, measured in runs.items()),
                )
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
