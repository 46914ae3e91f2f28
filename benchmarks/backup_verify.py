"""backup_verify's three figures, each beside its baseline on the same machine and data:

1. `objects` level over 100 backups of one tenant (every object read and hashed, sidecars read,
   retention and age computed), the whole module process as Ansible runs it. Goal: <= 10 s.
2. `restore` level on a tenant backup of a 200 MB database + 500 MB filestore (download with
   SHA-256, dump in one transaction with ON_ERROR_STOP, filestore staged, pg_amcheck
   --heapallindexed, Odoo assertions, every attachment's SHA-1, cleanup) beside a raw restore of
   the same backup as Odoo's database manager does it (download, `unzip -p dump.sql | psql`, unzip
   the filestore), both as the PostgreSQL superuser. Goal: <= 1.3x the raw restore.
   Baseline: a boto3 loop in this process that lists the objects and GETs and hashes each one.
3. Hashing throughput: the module's reader (hashlib SHA-256 over 1 MB chunks) beside `sha256sum`
   on the same file.

Run: .venv/bin/python -m benchmarks.backup_verify [--db-mb 200] [--filestore-mb 500] [--rounds 2]
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time


from benchmarks.benchlib import FreshPlatform, finish_module, start_module
from tests.harness.odoo_fixture import create_fleet_role, create_odoo_fixture
from tests.harness.options import login_options, s3_client, s3_options


def options(state, superuser=False):
    pg = state["postgres"]
    login = {"login_unix_socket": pg["socket_dir"], "login_port": pg["port"], "login_user": "postgres"} if superuser else login_options(pg)
    return dict(login, **s3_options(state["s3"]))


def timed_module(name, args, timeout=3600):
    start = time.perf_counter()
    result = finish_module(start_module(name, args), timeout=timeout)
    return time.perf_counter() - start, result


def plant_copies(client, made, count):
    """count - 1 more backups of the tenant, one a day back: server-side copies with their sidecars."""
    sidecar = json.loads(client.get_object(Bucket="bench", Key=made["manifest_key"])["Body"].read())
    now = datetime.datetime.now(datetime.timezone.utc)
    for back in range(1, count):
        created = now - datetime.timedelta(days=back)
        key = "odoo/small/small_%s.zip" % created.strftime("%Y%m%dT%H%M%SZ")
        client.copy_object(Bucket="bench", Key=key, CopySource={"Bucket": "bench", "Key": made["key"]})
        entry = dict(sidecar, key=key, created=created.isoformat(), objects=[{"key": key, "size": sidecar["size"], "sha256": sidecar["sha256"]}])
        client.put_object(Bucket="bench", Key=key + ".manifest.json", Body=json.dumps(entry).encode())


def raw_restore(state, client, key, work):
    """What Odoo's database manager does with a backup zip: download, psql the dump, unzip the filestore."""
    pg = state["postgres"]
    env = dict(os.environ, PGHOST=pg["socket_dir"], PGPORT=str(pg["port"]), PGUSER="postgres")
    path, target = os.path.join(work, "raw.zip"), os.path.join(work, "raw-filestore")
    start = time.perf_counter()
    client.download_file("bench", key, path)
    subprocess.run(["createdb", "-T", "template0", "raw_restore"], env=env, check=True)
    subprocess.run("unzip -p %s dump.sql | psql -q -o /dev/null raw_restore" % path, shell=True, env=env, check=True)
    subprocess.run(["unzip", "-q", path, "filestore/*", "-d", target], check=True)
    seconds = time.perf_counter() - start
    subprocess.run(["dropdb", "raw_restore"], env=env, check=True)
    shutil.rmtree(target)
    return seconds, path


def hashing(path):
    digest, start = hashlib.sha256(), time.perf_counter()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["sha256sum", path], check=True, capture_output=True)
    return ours, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-mb", type=int, default=200)
    parser.add_argument("--filestore-mb", type=int, default=500)
    parser.add_argument("--backups", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with FreshPlatform("postgres", "s3") as state:
        pg, s3 = state["postgres"], state["s3"]
        superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
        root, work = tempfile.mkdtemp(prefix="odoo_ops-bench-fs-"), tempfile.mkdtemp(prefix="odoo_ops-bench-work-")
        try:
            create_fleet_role(superuser, "bench_fleet")
            create_odoo_fixture(superuser, "small", owner="bench_fleet", filestore_root=root, filestore_mb=2)
            create_odoo_fixture(superuser, "big", owner="bench_fleet", filestore_root=root, db_mb=args.db_mb, filestore_mb=args.filestore_mb, attachments=300)
            client = s3_client(s3)
            client.create_bucket(Bucket="bench")
            base = dict(options(state), bucket="bench", filestore_root=root, tier=2)
            _seconds, small = timed_module("odoo_backup", dict(base, name="small"))
            _seconds, big = timed_module("odoo_backup", dict(base, name="big"))
            plant_copies(client, small, args.backups)
            print("%d cores; object store and PostgreSQL on this machine" % os.cpu_count())

            verify = dict(bucket="bench", tier=2, work_dir=work, fail_on_error=False)
            seconds, result = timed_module("backup_verify", dict(verify, **options(state), name="small", level=["objects"], scope="all"))
            assert result["verified"], result["msg"]
            start = time.perf_counter()
            listing = client.list_objects_v2(Bucket="bench", Prefix="odoo/small/")["Contents"]
            for obj in (o for o in listing if o["Key"].endswith(".zip")):
                hashlib.sha256(client.get_object(Bucket="bench", Key=obj["Key"])["Body"].read()).hexdigest()
            plain = time.perf_counter() - start
            print(
                "1. objects level over %d backups of %.1f MB each (all hashed): %.1f s - %s the 10 s goal; "
                "baseline (one boto3 loop: list, GET and SHA-256 each object, in-process) %.1f s"
                % (args.backups, small["size"] / 1e6, seconds, "meets" if seconds <= 10 else "MISSES", plain)
            )

            raws, ours = [], []
            for _round in range(args.rounds):
                seconds, zip_path = raw_restore(state, client, big["key"], work)
                raws.append(seconds)
                os.unlink(zip_path)
                seconds, result = timed_module("backup_verify", dict(verify, **options(state, superuser=True), name="big", key=big["key"], level=["restore"]))
                assert result["verified"], result["msg"]
                ours.append(seconds)
            raw, our = statistics.median(raws), statistics.median(ours)
            print("2. restore level on %.0f MB (zip of a %d MB database + %d MB filestore):" % (big["size"] / 1e6, args.db_mb, args.filestore_mb))
            print("   raw restore (download, unzip -p | psql, unzip filestore) %6.1f s" % raw)
            print(
                "   backup_verify level=restore                            %6.1f s  = %.2fx raw: %s the 1.3x goal"
                % (our, our / raw, "meets" if our <= 1.3 * raw else "MISSES")
            )
            print("     its checks: %s" % ", ".join("%s %.1f s" % (c["name"], c["seconds"]) for c in result["checks"]))
            print(
                "   (median of %d interleaved rounds; raw %s, ours %s)" % (args.rounds, "/".join("%.1f" % s for s in raws), "/".join("%.1f" % s for s in ours))
            )

            path = os.path.join(work, "hash.zip")
            client.download_file("bench", big["key"], path)
            py, coreutils = hashing(path)
            size = os.path.getsize(path) / 1e6
            print(
                "3. SHA-256 of the same %.0f MB: the module's reader %.0f MB/s, sha256sum %.0f MB/s (%.2fx)"
                % (size, size / py, size / coreutils, coreutils / py)
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
