"""odoo_backup and odoo_tenant's from_backup against real PostgreSQL 15 and SeaweedFS S3 over TLS."""

import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import zipfile

import botocore.config
import botocore.exceptions
import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import sign_sidecar
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import MultipartWriter, ObjectStore, S3Error
from tests.harness.contract import assert_same_plan_keys
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.pg import query
from tests.harness.playbook import last_result as run
from tests.harness.playbook import run_tasks
from tests.harness.tcp_proxy import CuttableProxy

FLEET = "backup_fleet"  # each test module has its own roles: they share one PostgreSQL
ODOO_TABLES = ("res_users", "ir_config_parameter", "ir_module_module", "ir_attachment", "ir_cron", "ir_mail_server", "ir_act_server", "payment_provider")


@pytest.fixture(scope="module")
def env(harness):
    state = harness.up("postgres", "s3")
    pg, s3 = state["postgres"], state["s3"]
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
    root = tempfile.mkdtemp(prefix="odoo_ops-backup-fs-")
    os.chmod(root, 0o755)
    with contextlib.closing(psycopg2.connect(dbname="postgres", **superuser)) as conn:
        conn.autocommit = True
        conn.cursor().execute("CREATE ROLE %s LOGIN" % FLEET)
    create_odoo_fixture(superuser, "golden_b", owner=FLEET, filestore_root=root)
    client = s3_client(s3)
    client.create_bucket(Bucket="backups")
    client.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    data = {
        "superuser": superuser,
        "root": root,
        "s3": client,
        "login": login_options(pg),
        "s3_options": s3_options(s3),
        "s3_endpoint": s3["endpoint"],
        "s3_port": s3["port"],
        "secrets": [pg["admin_password"], s3["secret_key"]],
    }
    run(tenant(data, name="bkacme", template="golden_b", base_url="https://bkacme.erp.test"))
    yield data
    shutil.rmtree(root, ignore_errors=True)


def tenant(env, **args):
    options = dict(env["login"], **env["s3_options"])
    options.update(filestore_root=env["root"], owner=FLEET)
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_tenant": options}


def backup(env, **args):
    options = dict(env["login"], **env["s3_options"])
    options.update(name="bkacme", bucket="backups", filestore_root=env["root"])
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_backup": options}


def table_checksums(env, dbname):
    """{table: (row count, md5 of the rows in id order)} for the Odoo tables."""
    return {
        table: query(env, "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM %s t" % table, dbname=dbname)[0]
        for table in ODOO_TABLES
    }


def filestore_sha1(env, dbname):
    base = os.path.join(env["root"], dbname)
    return {
        os.path.relpath(os.path.join(d, f), base): hashlib.sha1(open(os.path.join(d, f), "rb").read()).hexdigest()
        for d, _s, files in os.walk(base)
        for f in files
    }


def keys(env, bucket="backups", prefix=""):
    return sorted(o["Key"] for o in env["s3"].list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_backup_check_mode_writes_nothing_then_backup_layout_and_sidecar(env):
    before = keys(env)
    check = run(backup(env), check=True)
    assert check["changed"] and keys(env) == before
    result = run(backup(env))
    assert result["changed"] and result["key"].startswith("odoo/bkacme/bkacme_") and result["throughput"] > 0
    assert_same_plan_keys(check, result)
    assert check["diff"]["after"]["format"] == result["diff"]["after"]["format"] == "zip" and check["diff"]["after"]["size"] > 0
    assert len(check["steps"]) == len(result["steps"]) == 2 and result["steps"][0] == "write s3://backups/%s" % result["key"]
    body = env["s3"].get_object(Bucket="backups", Key=result["key"])["Body"].read()
    assert len(body) == result["size"] and hashlib.sha256(body).hexdigest() == result["sha256"]
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert names[:2] == ["dump.sql", "manifest.json"] and all(n.startswith("filestore/") for n in names[2:])
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest) == {"odoo_dump", "db_name", "version", "version_info", "major_version", "pg_version", "modules"}
    assert manifest["db_name"] == "bkacme" and manifest["modules"]["base"] == "18.0.1.3"
    sidecar = json.loads(env["s3"].get_object(Bucket="backups", Key=result["manifest_key"])["Body"].read())
    assert sidecar["sha256"] == result["sha256"] and sidecar["tenant"] == "bkacme"
    for name in names:
        assert sidecar["members"][name]["sha256"] == hashlib.sha256(archive.read(name)).hexdigest(), name
    tags = {t["Key"]: t["Value"] for t in env["s3"].get_object_tagging(Bucket="backups", Key=result["key"])["TagSet"]}
    assert tags["tenant"] == "bkacme" and tags["kind"] == "odoo-zip" and tags["tier"] == "1"
    recent = run(backup(env, if_older_than=3600))
    assert recent["changed"] is False and recent["key"] == result["key"]


def test_round_trip_same_rows_and_files(env):
    result = run(backup(env))
    restored = run(tenant(env, name="bkacme_rt", copy=False, from_backup={"bucket": "backups", "key": result["key"]}))
    assert restored["changed"] and restored["origin"]["sha256_verified"], restored
    assert table_checksums(env, "bkacme_rt") == table_checksums(env, "bkacme")
    assert filestore_sha1(env, "bkacme_rt") == filestore_sha1(env, "bkacme")
    assert query(env, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", dbname="bkacme_rt") == [(FLEET,)]
    assert not [n for n in os.listdir(env["root"]) if n.startswith(".odoo-restore-")]  # download removed
    again = run(tenant(env, name="bkacme_rt", copy=False, from_backup={"bucket": "backups", "key": result["key"]}))
    assert again["changed"] is False
    copy = run(tenant(env, name="bkacme_rt_copy", base_url="https://copy.erp.test", from_backup={"bucket": "backups", "key": result["key"]}))
    assert copy["changed"]
    params = dict(query(env, "SELECT key, value FROM ir_config_parameter", dbname="bkacme_rt_copy"))
    original = dict(query(env, "SELECT key, value FROM ir_config_parameter", dbname="bkacme"))
    assert params["database.uuid"] != original["database.uuid"] and "database.enterprise_code" not in params


def test_custom_format_round_trip_with_parallel_restore(env):
    result = run(backup(env, format="custom"))
    assert result["changed"] and result["key"].endswith(".dump") and result["format"] == "custom", result
    tar_key = result["key"][: -len(".dump")] + ".filestore.tar"
    assert [o["key"] for o in result["objects"]] == [result["key"], tar_key]
    sidecar = json.loads(env["s3"].get_object(Bucket="backups", Key=result["manifest_key"])["Body"].read())
    for obj in result["objects"]:
        body = env["s3"].get_object(Bucket="backups", Key=obj["key"])["Body"].read()
        assert len(body) == obj["size"] and hashlib.sha256(body).hexdigest() == obj["sha256"]
    assert body[:5] != b"PGDMP"  # the last one is the tar
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        names = archive.getnames()
        assert names[0] == "manifest.json" and all(n.startswith("filestore/") for n in names[1:])
        for name in names[1:]:
            assert sidecar["members"][name]["sha256"] == hashlib.sha256(archive.extractfile(name).read()).hexdigest()
    dump = env["s3"].get_object(Bucket="backups", Key=result["key"])["Body"].read()
    assert dump[:5] == b"PGDMP" and sidecar["members"]["dump"]["sha256"] == hashlib.sha256(dump).hexdigest()
    tags = {t["Key"]: t["Value"] for t in env["s3"].get_object_tagging(Bucket="backups", Key=tar_key)["TagSet"]}
    assert tags["kind"] == "odoo-custom" and tags["tenant"] == "bkacme"
    restored = run(tenant(env, name="bkacme_cu", copy=False, from_backup={"bucket": "backups", "key": result["key"], "jobs": 2}))
    assert restored["changed"] and restored["origin"]["sha256_verified"], restored
    assert table_checksums(env, "bkacme_cu") == table_checksums(env, "bkacme")
    assert filestore_sha1(env, "bkacme_cu") == filestore_sha1(env, "bkacme")
    assert query(env, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", dbname="bkacme_cu") == [(FLEET,)]
    assert not [n for n in os.listdir(env["root"]) if n.startswith(".odoo-restore-")]


def test_custom_format_tampered_filestore_or_broken_dump_leaves_no_half_tenant(env):
    result = run(backup(env, format="custom"))
    tar_key = result["key"][: -len(".dump")] + ".filestore.tar"
    body = bytearray(env["s3"].get_object(Bucket="backups", Key=tar_key)["Body"].read())
    body[-20000] ^= 0xFF  # inside the last attachment's bytes: the tar still reads, the hash does not match
    env["s3"].put_object(Bucket="backups", Key=tar_key, Body=bytes(body))
    before = world(env)
    tampered = run(tenant(env, name="bkacme_tamper", copy=False, from_backup={"bucket": "backups", "key": result["key"]}))
    assert tampered.get("failed") and "SHA-256" in tampered["msg"] and tar_key in tampered["msg"], tampered
    assert world(env) == before
    env["s3"].put_object(Bucket="backups", Key="imports/garbage.dump", Body=b"PGDMP not really a dump")
    env["s3"].put_object(Bucket="backups", Key="imports/garbage.filestore.tar", Body=b"")
    before = world(env)
    broken = run(
        tenant(env, name="bkacme_garbage", copy=False, from_backup={"bucket": "backups", "key": "imports/garbage.dump", "jobs": 2, "allow_unsigned": True})
    )
    assert broken.get("failed") and "pg_restore of the dump into bkacme_garbage failed" in broken["msg"], broken
    assert world(env) == before


def odoo_style_zip(env, dbname, dump_sql=None):
    """A zip laid out as Odoo's database manager writes it (what a customer brings us)."""
    if dump_sql is None:
        dump_sql = subprocess.run(
            ["pg_dump", "--no-owner", "-h", env["superuser"]["host"], "-p", str(env["superuser"]["port"]), "-U", "postgres", dbname],
            capture_output=True,
            check=True,
        ).stdout
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr("dump.sql", dump_sql)
        archive.writestr(
            "manifest.json",
            json.dumps(
                {
                    "odoo_dump": "1",
                    "db_name": dbname,
                    "version": "18.0",
                    "version_info": [18, 0, 0, "final", 0, ""],
                    "major_version": "18.0",
                    "pg_version": "15.0",
                    "modules": {"base": "18.0.1.3"},
                },
                indent=4,
            ),
        )
        base = os.path.join(env["root"], dbname)
        for folder, _dirs, files in os.walk(base):
            for name in files:
                path = os.path.join(folder, name)
                archive.write(path, "filestore/" + os.path.relpath(path, base))
    return buffer.getvalue()


def test_a_zip_made_like_odoos_restores(env):
    env["s3"].put_object(Bucket="backups", Key="imports/bkacme_odoo.zip", Body=odoo_style_zip(env, "bkacme"))
    result = run(
        tenant(
            env,
            name="bkacme_import",
            base_url="https://import.erp.test",
            from_backup={"bucket": "backups", "key": "imports/bkacme_odoo.zip", "allow_unsigned": True},
        )
    )
    assert result["changed"] and result["origin"]["sha256_verified"] is False
    assert table_checksums(env, "bkacme_import")["ir_attachment"] == table_checksums(env, "bkacme")["ir_attachment"]
    assert filestore_sha1(env, "bkacme_import") == filestore_sha1(env, "bkacme")


def world(env):
    databases = query(env, "SELECT datname FROM pg_database ORDER BY 1")
    return databases, sorted(os.listdir(env["root"])), keys(env)


def test_restore_failing_part_way_leaves_no_half_tenant(env):
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "-h", env["superuser"]["host"], "-p", str(env["superuser"]["port"]), "-U", "postgres", "bkacme"],
        capture_output=True,
        check=True,
    ).stdout
    middle = dump.index(b"COPY public.ir_attachment")
    broken = dump[:middle] + b"SELECT 1/0;\n" + dump[middle:]
    env["s3"].put_object(Bucket="backups", Key="imports/broken.zip", Body=odoo_style_zip(env, "bkacme", broken))
    before = world(env)
    result = run(
        tenant(env, name="bkacme_broken", base_url="https://b.erp.test", from_backup={"bucket": "backups", "key": "imports/broken.zip", "allow_unsigned": True})
    )
    assert result.get("failed") and "dump.sql failed" in result["msg"] and "division by zero" in result["msg"]
    assert "undone" in result["msg"] and result["changed"] is False
    assert world(env) == before


def test_object_lock_makes_the_backup_immutable(env):
    refused = run(backup(env, object_lock_mode="COMPLIANCE"))
    assert refused.get("failed") and "bucket backups has no object lock" in refused["msg"]
    result = run(backup(env, bucket="locked", tier=1, object_lock_mode="COMPLIANCE", object_lock_days=1))
    assert result["changed"], result
    head = env["s3"].head_object(Bucket="locked", Key=result["key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(botocore.exceptions.ClientError):
        env["s3"].delete_object(Bucket="locked", Key=result["key"], VersionId=head["VersionId"])
    assert env["s3"].head_object(Bucket="locked", Key=result["key"], VersionId=head["VersionId"])


def test_bad_input_writes_nothing(env):
    with contextlib.closing(psycopg2.connect(dbname="postgres", **env["superuser"])) as conn:
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE bk_not_odoo TEMPLATE template0")  # a superuser's, not Odoo's
        conn.cursor().execute("CREATE DATABASE bk_not_odoo2 TEMPLATE template0 OWNER %s" % FLEET)
    before = world(env)
    for args, message in [
        ({"bucket": "no-such-bucket"}, "bucket no-such-bucket is missing"),
        ({"name": "bk_not_odoo"}, "postgres is a superuser"),
        ({"name": "bk_not_odoo2"}, "is not an Odoo database"),
        ({"backup_signing_key": None}, "backup_signing_key (or ODOO_OPS_BACKUP_SIGNING_KEY) is required"),
        ({"backup_signing_key": "short"}, "at least 16 characters"),
        ({"name": "ghost"}, "tenant ghost does not exist"),
        ({"name": "Bad Name"}, "is not a valid tenant id"),
        ({"part_size_mb": 1}, "part_size_mb must be 5-1024"),
        ({"s3_endpoint_url": "https://localhost:1"}, "localhost:1"),
    ]:
        result = run(backup(env, **args))
        assert result.get("failed") and message in result["msg"], (args, result)
        assert world(env) == before
    missing = run(tenant(env, name="from_nothing", base_url="https://x.test", from_backup={"bucket": "backups", "key": "odoo/none.zip"}))
    assert missing.get("failed") and "does not exist or cannot be read" in missing["msg"]
    assert world(env) == before


def test_multipart_writer_parts_content_and_crc(env):
    """The writer's parts are exactly part_size (the last one the rest), the object is every byte
    written in order although part buffers are reused and callers reuse theirs, and the store
    checks each part's CRC-32 header."""
    part = 5 * 1024 * 1024
    store = ObjectStore(env["s3_options"])
    writer = MultipartWriter(store, "backups", "writer/parts.bin", part, {}, concurrency=2)
    expected = hashlib.sha256()
    reused = bytearray(3 * 1024 * 1024 + 7)  # odd-sized, crossing part ends, rewritten after each write
    for number in range(9):
        reused[:] = os.urandom(len(reused))
        expected.update(reused)
        writer.write(reused)
        tail = memoryview(bytes([number]) * 1000)[10:]
        expected.update(tail)
        writer.write(tail)
    writer.finish()
    sizes = [p["Size"] for p in env["s3"].list_parts(Bucket="backups", Key="writer/parts.bin", UploadId=writer.upload_id)["Parts"]]
    writer.complete()
    body = env["s3"].get_object(Bucket="backups", Key="writer/parts.bin")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == expected.hexdigest() == writer.hash.hexdigest()
    assert writer.size == len(body) and sizes == [part] * (len(body) // part) + [len(body) % part]
    assert env["s3_endpoint"].startswith("https://")
    assert store.client.meta.config.s3["payload_signing_enabled"] is False  # TLS + CRC-32, no third pass

    broken = MultipartWriter(store, "backups", "writer/broken.bin", part, {}, concurrency=1)
    with pytest.raises(S3Error, match="BadDigest"):
        store.call(
            "upload part 1",
            "upload_part",
            Bucket="backups",
            Key="writer/broken.bin",
            UploadId=broken.upload_id,
            PartNumber=1,
            Body=b"x" * 1024,
            ChecksumCRC32="AAAAAA==",
        )
    broken.abort()
    env["s3"].delete_object(Bucket="backups", Key="writer/parts.bin")
    assert not keys(env, prefix="writer/")


@pytest.mark.parametrize("backup_format", ["zip", "custom"])
def test_store_unreachable_mid_upload_leaves_no_object(env, backup_format):
    big = os.path.join(env["root"], "bkacme", "ff")
    os.makedirs(big, exist_ok=True)
    with open(os.path.join(big, "ff" + "0" * 38), "wb") as handle:
        handle.write(os.urandom(24 * 1024 * 1024))  # a large attachment: several 5 MiB parts
    proxy = CuttableProxy(env["s3_port"], cut_after=8 * 1024 * 1024)
    try:
        before = keys(env, prefix="odoo/bkacme/")
        result = run(backup(env, format=backup_format, part_size_mb=5, compress_level=0, s3_retries=2, s3_endpoint_url="https://localhost:%d" % proxy.port))
        assert result.get("failed") and "localhost:%d" % proxy.port in result["msg"], result
        assert proxy.cut.is_set()
        assert keys(env, prefix="odoo/bkacme/") == before  # nothing under any final key
    finally:
        proxy.close()
        shutil.rmtree(big)


@pytest.mark.parametrize("backup_format", ["zip", "custom"])
def test_database_connection_killed_mid_dump_leaves_no_object(env, backup_format):
    with contextlib.closing(psycopg2.connect(dbname="bkacme", **env["superuser"])) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("SET ROLE %s" % FLEET)  # Odoo's tables belong to the fleet's role
        cur.execute("CREATE TABLE IF NOT EXISTS big_ledger AS SELECT g AS id, md5(g::text) || repeat('x', 900) AS line FROM generate_series(1, 200000) g")
    killed = []

    def kill_dump():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            rows = query(env, "SELECT pid FROM pg_stat_activity WHERE datname = 'bkacme' AND query LIKE 'COPY %%'")
            for (pid,) in rows:
                query(env, "SELECT pg_terminate_backend(%s)", args=(pid,))
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_dump)
    killer.start()
    try:
        before = keys(env, prefix="odoo/bkacme/")
        result = run(backup(env, format=backup_format, compress_level=0))
    finally:
        killer.join()
        query(env, "SELECT 1")
        with contextlib.closing(psycopg2.connect(dbname="bkacme", **env["superuser"])) as conn:
            conn.autocommit = True
            conn.cursor().execute("DROP TABLE big_ledger")
    assert killed, "the dump finished before its connection could be cut"
    assert result.get("failed") and "pg_dump of bkacme failed" in result["msg"], result
    assert keys(env, prefix="odoo/bkacme/") == before


def test_secrets_never_in_output(env):
    result = run_tasks([backup(env), backup(env, bucket="no-such-bucket")], verbosity=3)
    assert result.results
    for secret in env["secrets"]:
        assert secret not in result.output and secret not in result.stderr


def test_backup_result_is_a_valid_final_backup(env):
    run(tenant(env, name="leaver", template="golden_b", base_url="https://leaver.erp.test"))
    taken = run(backup(env, name="leaver"))
    removed = run(tenant(env, name="leaver", state="absent", final_backup=taken))
    assert removed["changed"] and removed["final_backup"]["key"] == taken["key"]
    run(tenant(env, name="leaver2", template="golden_b", base_url="https://leaver2.erp.test"))
    stale = run(backup(env, name="leaver2"))  # the sidecar's time counts: older than a max age of 0 s
    refused = run(tenant(env, name="leaver2", state="absent", final_backup=stale, final_backup_max_age=0))
    assert refused.get("failed") and "older than final_backup_max_age" in refused["msg"]


def backup_history(env, bucket, name, days, lock_days=None, backup_format="zip"):
    """A tenant's backup history: a small object (a dump and a tar for the custom format) and a
    sidecar per day, the newest now."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    extra = {}
    if lock_days:
        extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": now + datetime.timedelta(days=lock_days)}
    for day in range(days):
        created = now - datetime.timedelta(days=day)
        stem = "odoo/%s/%s_%s" % (name, name, created.strftime("%Y%m%dT%H%M%SZ"))
        key = stem + (".zip" if backup_format == "zip" else ".dump")
        env["s3"].put_object(Bucket=bucket, Key=key, Body=b"backup", **extra)
        if backup_format == "custom":
            env["s3"].put_object(Bucket=bucket, Key=stem + ".filestore.tar", Body=b"tar", **extra)
        sidecar = sign_sidecar(
            {"tenant": name, "created": created.isoformat(), "size": 6, "bucket": bucket, "key": key}, env["s3_options"]["backup_signing_key"].encode()
        )
        env["s3"].put_object(Bucket=bucket, Key=key + ".manifest.json", **extra, Body=json.dumps(sidecar).encode())


def retention(env, **args):
    options = dict(env["s3_options"], bucket="backups")
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_backup_retention": options}


def test_retention_classes_keep_and_delete(env):
    backup_history(env, "backups", "hist", 40)
    before = keys(env, prefix="odoo/hist/")
    check = run(retention(env, name="hist"), check=True)
    assert check["changed"] and check["delete"] and keys(env, prefix="odoo/hist/") == before
    kept = {k["key"]: k["reasons"] for k in check["keep"]}
    assert sum("daily" in r for r in kept.values()) == 7 and sum("weekly" in r for r in kept.values()) == 4
    assert max(kept) == max(k for k in before if k.endswith(".zip"))  # the newest is kept
    applied = run(retention(env, name="hist"))
    assert applied["changed"] and sorted(applied["delete"]) == sorted(check["delete"])
    assert_same_plan_keys(check, applied, all_keys=True)
    assert applied["diff"] == check["diff"] and applied["steps"] == check["steps"]
    remaining = keys(env, prefix="odoo/hist/")
    assert remaining == sorted(list(kept) + [k + ".manifest.json" for k in kept])
    assert run(retention(env, name="hist"))["changed"] is False


def test_retention_reports_locked_backups_and_leaves_them(env):
    backup_history(env, "locked", "lockhist", 12, lock_days=1)
    before = keys(env, bucket="locked", prefix="odoo/lockhist/")
    result = run(retention(env, name="lockhist", bucket="locked", keep_daily=3, keep_weekly=0, keep_monthly=0))
    assert result["changed"] is False and result["delete"] == []
    assert len(result["locked"]) == 9 and all(entry["retain_until"] for entry in result["locked"])
    assert keys(env, bucket="locked", prefix="odoo/lockhist/") == before


def test_retention_bad_input_changes_nothing(env):
    backup_history(env, "backups", "keepme", 10)
    before = keys(env, prefix="odoo/keepme/")
    for args, message in [
        ({"name": "keepme", "bucket": "no-such-bucket"}, "bucket no-such-bucket is missing"),
        ({"name": "Keep Me"}, "is not a valid tenant id"),
    ]:
        result = run(retention(env, **args))
        assert result.get("failed") and message in result["msg"], (args, result)
        assert keys(env, prefix="odoo/keepme/") == before


def test_retention_deletes_every_object_of_a_custom_backup(env):
    backup_history(env, "backups", "custhist", 10, backup_format="custom")
    result = run(retention(env, name="custhist", keep_daily=3, keep_weekly=0, keep_monthly=0))
    assert result["changed"] and len(result["delete"]) == 7 and all(k.endswith(".dump") for k in result["delete"])
    kept = sorted(k["key"] for k in result["keep"])
    assert keys(env, prefix="odoo/custhist/") == sorted(
        list(kept) + [k[: -len(".dump")] + ".filestore.tar" for k in kept] + [k + ".manifest.json" for k in kept]
    )


def test_unchecked_store_certificates_are_warned_in_the_result(env):
    """s3_validate_certs: false works (a lab's self-signed store) but every result says so; the
    default never warns."""
    checked, unchecked, verified = run_tasks(
        [
            backup(env),
            backup(env, s3_validate_certs=False),
            {
                "sysgenpro.odoo_ops.backup_verify": dict(
                    env["login"], **env["s3_options"], name="bkacme", bucket="backups", level=["objects"], tier=3, s3_validate_certs=False, fail_on_error=False
                )
            },
        ]
    ).results
    assert checked["changed"] and not any("s3_validate_certs" in w for w in checked.get("warnings", [])), checked
    for result in (unchecked, verified):
        assert not result.get("failed"), result
        assert any("s3_validate_certs is false" in w and env["s3_endpoint"] in w for w in result.get("warnings", [])), result
