"""backup_verify against real backups: odoo_backup's objects in SeaweedFS S3 over TLS, and a private
PostgreSQL 15 cluster backed up by the pg_backup role (pgBackRest). Every fault of the catalogue is
made for real, then must be found with a message that names it; the clean set has no finding."""

import functools
import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile

import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import sign_sidecar
from tests.harness.contract import assert_same_plan_keys
from tests.harness.odoo_fixture import create_fleet_role, create_odoo_fixture
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.pitr_source import PG_CTL, backup, info, pitr_source, sql, switch_and_wait
from tests.harness.playbook import VENV_BIN, last_result, run_tasks
from tests.harness.process import scratch_dirs
from tests.harness.services import REPO_ROOT
from tests.harness.tls import make_test_ca

UTC = datetime.timezone.utc
FLEET = "verify_fleet"
SIDECAR = ".manifest.json"


@pytest.fixture(scope="module")
def env(harness):
    with scratch_dirs("odoo_ops-verify-fs-", "odoo_ops-verify-work-") as (root, work):
        yield _logical_env(harness, root, work)


def _logical_env(harness, root, work):
    """Three fixture tenants, two buckets (one under object lock), a locked tier-1 backup with a
    history behind it, and a plain tier-2 one."""
    state = harness.up("postgres", "s3")
    pg, s3 = state["postgres"], state["s3"]
    superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
    create_fleet_role(superuser, FLEET)
    for name in ("vfacme", "vfmissing", "vfaltered"):
        create_odoo_fixture(superuser, name, owner=FLEET, filestore_root=root)
    client = s3_client(s3)
    client.create_bucket(Bucket="verify")
    client.create_bucket(Bucket="verify-locked", ObjectLockEnabledForBucket=True)
    login, store = login_options(pg), s3_options(s3)
    data = {
        "superuser": superuser,
        "root": root,
        "work": work,
        "s3": client,
        "login": login,
        "s3_options": store,
        "secrets": [pg["admin_password"], s3["secret_key"]],
    }
    locked = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                login, **store, name="vfacme", bucket="verify-locked", filestore_root=root, tier=1, object_lock_mode="COMPLIANCE", object_lock_days=1
            )
        }
    )
    plain = dict(login, **store)
    plain.update(name="vfacme", bucket="verify", key_prefix="base/", filestore_root=root, tier=2)
    plain = run({"sysgenpro.odoo_ops.odoo_backup": plain})
    assert locked["changed"] and plain["changed"], (locked.get("msg"), plain.get("msg"))
    data.update(locked=locked, plain=plain)
    for created in history_dates(datetime.datetime.now(UTC)):  # a tier-1 history behind the locked backup
        plant(data, locked, "verify-locked", "odoo/", "vfacme", created, lock=True)
    return data


run = functools.partial(last_result, timeout=900)  # a restore and its checks take minutes


def verify(env, **args):
    options = dict(env["login"], **env["s3_options"])
    options.update(name="vfacme", bucket="verify", tier=2, work_dir=env["work"], fail_on_error=False)
    options.update(args)
    return {"sysgenpro.odoo_ops.backup_verify": options}


def failed(result):
    """{check name: detail} of the failed checks."""
    assert result.get("checks"), result
    return {c["name"]: c["detail"] for c in result["checks"] if not c["ok"]}


def plant(env, made, bucket, prefix, tenant, created, lock=False, body=None):
    """A backup as odoo_backup writes it, made at `created`: a server-side copy of a real one (or body),
    with its sidecar rewritten for the new key and time."""
    key = "%s%s/%s_%s.zip" % (prefix, tenant, tenant, created.strftime("%Y%m%dT%H%M%SZ"))
    sidecar = json.loads(env["s3"].get_object(Bucket=made["bucket"], Key=made["manifest_key"])["Body"].read())
    extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": datetime.datetime.now(UTC) + datetime.timedelta(days=1)} if lock else {}
    if body is None:
        env["s3"].copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": made["bucket"], "Key": made["key"]}, **extra)
    else:
        env["s3"].put_object(Bucket=bucket, Key=key, Body=body, **extra)
        archive = zipfile.ZipFile(io.BytesIO(body))
        sidecar.update(
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            members={i.filename: {"size": i.file_size, "sha256": hashlib.sha256(archive.read(i)).hexdigest()} for i in archive.infolist()},
        )
    recorded = {"key": key, "size": sidecar["size"], "sha256": sidecar["sha256"]}
    sidecar.update(key=key, bucket=bucket, created=created.isoformat(), objects=[recorded])
    sidecar = sign_sidecar(sidecar, env["s3_options"]["backup_signing_key"].encode())  # as odoo_backup would
    env["s3"].put_object(Bucket=bucket, Key=key + SIDECAR, Body=json.dumps(sidecar).encode(), **extra)
    return key


def history_dates(now):
    """A tier-1 history: 7 daily, 4 weekly and 3 monthly backups, counted back from now."""
    dates = [now - datetime.timedelta(days=d, minutes=5) for d in range(1, 7)]
    dates += [now - datetime.timedelta(weeks=w) for w in range(1, 4)]
    month = now.replace(day=15, hour=12, minute=0, second=0, microsecond=0)
    for _back in range(2):
        month = (month.replace(day=1) - datetime.timedelta(days=1)).replace(day=15)
        dates.append(month)
    return dates


def leftovers(env):
    """Temporary databases, downloads or staging folders a verification left behind."""
    with contextlib.closing(psycopg2.connect(dbname="postgres", **env["superuser"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'odoo_ops_verify_%'")
        return cur.fetchall() + [n for n in os.listdir(env["work"]) if "odoo" in n]


def test_clean_tier1_set_has_no_finding_and_reports_agree(env):
    reports = os.path.join(env["work"], "reports")
    os.makedirs(reports)
    result = run(verify(env, bucket="verify-locked", tier=1, level=["objects", "restore"], scope="all", report_dir=reports, textfile_dir=reports))
    assert result["verified"] and not failed(result), result["msg"]
    assert result["changed"] is False and result["restore_seconds"] > 0
    names = [c["name"] for c in result["checks"]]
    for name in (
        "objects.integrity",
        "objects.age",
        "objects.retention",
        "objects.protection",
        "restore.logical",
        "restore.odoo_base",
        "restore.odoo_admin",
        "restore.attachments",
    ):
        assert name in names, names
    assert "12 backup(s)" in next(c["detail"] for c in result["checks"] if c["name"] == "objects.integrity")
    report = json.load(open(result["reports"]["json"]))
    assert report["verified"] is True and report["checks"] == result["checks"]
    assert "**VERIFIED**" in open(result["reports"]["markdown"]).read()
    metrics = open(result["reports"]["textfile"]).read()
    assert 'backup_verify_success{tenant="vfacme"} 1' in metrics and 'backup_restore_seconds{tenant="vfacme"}' in metrics
    assert not leftovers(env)
    again = run(verify(env, bucket="verify-locked", tier=1, level=["objects"]), check=True)
    assert again["verified"] and again["changed"] is False


@pytest.mark.parametrize(
    "fault, check, words",
    [
        ("flipped_bit", "objects.integrity", "has SHA-256"),
        ("truncated", "objects.integrity", "(truncated)"),
        ("missing", "objects.present", "missing object"),
        ("sidecar_checksum", "objects.integrity", "signature of the sidecar"),  # an altered sidecar no longer verifies
        ("older_than_rpo", "objects.age", "older than the RPO"),
        ("no_object_lock", "objects.protection", "no object lock retention"),
        ("no_weekly", "objects.retention", "weekly: no backup in"),
    ],
)
def test_object_faults_are_named(env, fault, check, words):
    prefix, now = "%s/" % fault, datetime.datetime.now(UTC)
    key = plant(env, env["plain"], "verify", prefix, "vfacme", now - datetime.timedelta(days=3 if fault == "older_than_rpo" else 0))
    args = {"key_prefix": prefix, "level": ["objects"]}
    if fault == "flipped_bit":
        body = bytearray(env["s3"].get_object(Bucket="verify", Key=key)["Body"].read())
        body[len(body) // 2] ^= 0x10
        env["s3"].put_object(Bucket="verify", Key=key, Body=bytes(body))
    elif fault == "truncated":
        body = env["s3"].get_object(Bucket="verify", Key=key)["Body"].read()
        env["s3"].put_object(Bucket="verify", Key=key, Body=body[: len(body) - 1000])
    elif fault == "missing":
        env["s3"].delete_object(Bucket="verify", Key=key)
        plant(env, env["plain"], "verify", prefix, "vfacme", now - datetime.timedelta(hours=1))
    elif fault == "sidecar_checksum":
        sidecar = json.loads(env["s3"].get_object(Bucket="verify", Key=key + SIDECAR)["Body"].read())
        sidecar["objects"][0]["sha256"] = "0" * 64
        env["s3"].put_object(Bucket="verify", Key=key + SIDECAR, Body=json.dumps(sidecar).encode())
    elif fault == "no_object_lock":
        args["tier"] = 1
        args["retention"] = {"daily": 1, "weekly": 1, "monthly": 1}
    elif fault == "no_weekly":
        for created in [now - datetime.timedelta(days=d, minutes=1) for d in range(1, 7)] + [now - datetime.timedelta(days=40)]:
            plant(env, env["plain"], "verify", prefix, "vfacme", created)
    result = run(verify(env, **args))
    found = failed(result)
    assert result["verified"] is False and check in found and words in found[check], (fault, found)
    assert check in result["msg"] and words in result["msg"]
    assert set(found) == {check}, found
    strict = run(verify(env, fail_on_error=True, **args))
    assert strict.get("failed") and check in strict["msg"], strict


def zip_with(body, replace):
    """A copy of an Odoo backup zip with some members' content replaced."""
    source, out = zipfile.ZipFile(io.BytesIO(body)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, replace.get(item.filename, source.read(item.filename)))
    return out.getvalue()


@pytest.mark.parametrize(
    "fault, words",
    [
        ("file_missing", "missing from the backup's filestore"),
        ("file_altered", "no longer matches their SHA-1"),
        ("failing_statement", "dump.sql failed"),
    ],
)
def test_restore_faults_are_named_and_leave_nothing(env, fault, words):
    tenant = {"file_missing": "vfmissing", "file_altered": "vfaltered", "failing_statement": "vfacme"}[fault]
    folder = os.path.join(env["root"], tenant)
    stored = sorted(os.path.join(d, f) for d, _s, files in os.walk(folder) for f in files if "checklist" not in d)
    if fault == "file_missing":
        os.unlink(stored[0])  # the database still points at it: the backup goes without it
    elif fault == "file_altered":
        with open(stored[1], "r+b") as handle:
            handle.write(b"bit rot")
    prefix = "%s/" % fault
    if fault == "failing_statement":
        body = env["s3"].get_object(Bucket="verify", Key=env["plain"]["key"])["Body"].read()
        dump = zipfile.ZipFile(io.BytesIO(body)).read("dump.sql")
        broken = dump + b"\nINSERT INTO public.res_users (id, login) VALUES (1, 'duplicate id');\n"
        plant(env, env["plain"], "verify", prefix, tenant, datetime.datetime.now(UTC), body=zip_with(body, {"dump.sql": broken}))
    else:
        options = dict(env["login"], **env["s3_options"])
        options.update(name=tenant, bucket="verify", key_prefix=prefix, filestore_root=env["root"], tier=2)
        made = run({"sysgenpro.odoo_ops.odoo_backup": options})
        assert made["changed"], made
    result = run(verify(env, name=tenant, key_prefix=prefix, level=["objects", "restore"]))
    found = failed(result)
    check = "restore.logical" if fault == "failing_statement" else "restore.attachments"
    assert set(found) == {check} and words in found[check], found
    if fault == "failing_statement":
        assert "duplicate key" in found[check], found
    assert not leftovers(env)


def test_custom_format_backup_verifies_and_a_tampered_tar_is_named(env):
    options = dict(env["login"], **env["s3_options"])
    options.update(name="vfacme", bucket="verify", key_prefix="custom/", filestore_root=env["root"], tier=2, format="custom")
    made = run({"sysgenpro.odoo_ops.odoo_backup": options})
    assert made["changed"] and made["key"].endswith(".dump"), made
    result = run(verify(env, key_prefix="custom/", level=["objects", "restore"], jobs=2))
    assert result["verified"] and not failed(result), result["msg"]
    assert "2 backup(s)" not in result["checks"][2]["detail"] and not leftovers(env)
    alone = run(verify(env, key_prefix="custom/", level=["restore"]))  # the restore level alone still gives RPO/RTO
    assert alone["verified"] and alone["figures"]["vfacme"]["backup"] == made["key"], alone["msg"]
    assert alone["figures"]["vfacme"]["backup_age_seconds"] >= 0 and alone["restore_seconds"] > 0
    tar = made["objects"][1]["key"]
    body = bytearray(env["s3"].get_object(Bucket="verify", Key=tar)["Body"].read())
    body[-2000] ^= 0x01
    env["s3"].put_object(Bucket="verify", Key=tar, Body=bytes(body))
    found = failed(run(verify(env, key_prefix="custom/", level=["objects", "restore"])))
    assert tar in found["objects.integrity"] and "has SHA-256" in found["objects.integrity"], found
    assert "restore.logical" in found and not leftovers(env), found


def test_server_side_encryption_required(env):
    options = dict(env["login"], **env["s3_options"])
    options.update(name="vfacme", bucket="verify", key_prefix="sse/", filestore_root=env["root"], tier=2, server_side_encryption="AES256")
    assert run({"sysgenpro.odoo_ops.odoo_backup": options})["changed"]
    encrypted = run(verify(env, key_prefix="sse/", require_encryption=True))
    assert encrypted["verified"] and "server-side encryption" in encrypted["checks"][-1]["detail"], encrypted["msg"]
    found = failed(run(verify(env, key_prefix="base/", require_encryption=True)))
    assert set(found) == {"objects.protection"} and "is not encrypted server-side" in found["objects.protection"]


def test_bad_input_is_refused_and_writes_nothing(env):
    reports = os.path.join(env["work"], "bad-reports")
    os.makedirs(reports)
    cases = [
        ({"name": "Bad Tenant"}, "is not a valid tenant id"),
        ({"level": ["repository"]}, "give stanza"),
        ({"name": None, "level": ["objects"]}, "give name and bucket"),
        ({"stanza": "x y"}, "not a valid stanza name"),
        ({"stanza": "verify", "level": ["restore"], "target": {"type": "time", "value": "2026-11-23 10:00:00"}}, "has no time zone"),
        ({"textfile_dir": "/nonexistent/textfiles"}, "textfile_dir /nonexistent/textfiles does not exist"),
        ({"level": ["restore"], "work_dir": "/nonexistent/work"}, "work_dir /nonexistent/work does not exist"),
    ]
    for args, words in cases:
        result = run(verify(env, report_dir=reports, fail_on_error=True, **args))
        assert result.get("failed") and words in result["msg"], (args, result.get("msg"))
    assert not os.listdir(reports)
    missing = run(verify(env, bucket="no-such-bucket", report_dir=reports, textfile_dir=reports))
    assert failed(missing) == {"objects.listing": failed(missing)["objects.listing"]}
    assert "bucket no-such-bucket is missing" in failed(missing)["objects.listing"]
    assert 'backup_verify_success{tenant="vfacme"} 0' in open(missing["reports"]["textfile"]).read()
    unreachable = run(verify(env, s3_endpoint_url="https://localhost:9", s3_retries=1))
    assert "localhost:9" in failed(unreachable)["objects.listing"]


def playbook(name, extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "playbooks/%s" % name, "-e", json.dumps(extra)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_dr_drill_and_backup_verify_playbooks_report_every_tenant(env):
    reports = os.path.join(env["work"], "drill")
    os.makedirs(reports)
    tenants = [{"name": "vfacme", "tier": 1, "backup_bucket": "verify-locked"}, {"name": "vfnobackup", "tier": 1}, {"name": "vfmissing", "tier": 2}]
    extra = {
        "odoo_ops_tenants": tenants,
        "dr_drill_bucket": "verify",
        "odoo_ops_s3": env["s3_options"],
        "odoo_ops_postgres": env["login"],
        "dr_drill_report_dir": reports,
        "dr_drill_work_dir": env["work"],
    }
    done = playbook("dr_drill.yml", extra)
    assert done.returncode != 0 and "vfnobackup failed the drill" in done.stdout, done.stdout[-3000:]
    (name,) = [n for n in os.listdir(reports) if n.startswith("dr-drill-") and n.endswith(".json")]
    report = json.load(open(os.path.join(reports, name)))
    rows = {row["subject"]: row for row in report["subjects"]}
    assert sorted(rows) == ["vfacme", "vfnobackup"] and report["passed"] is False  # tier 2 is not drilled
    acme = rows["vfacme"]
    assert acme["verified"] is True and acme["objectives_met"] is True, acme
    assert 0 < float(acme["rto_seconds"]) <= float(acme["rto_objective"]) and acme["backup"].startswith("odoo/vfacme/")
    assert rows["vfnobackup"]["verified"] is False and "objects.present" in rows["vfnobackup"]["failed_checks"]
    assert "| vfacme | tenant | True |" in open(os.path.join(reports, name[:-5] + ".md")).read()
    assert not leftovers(env)
    verified = playbook(
        "backup_verify.yml",
        {
            "odoo_ops_tenants": tenants,
            "backup_verify_tenants": ["vfacme"],
            "backup_verify_bucket": "verify",
            "odoo_ops_s3": env["s3_options"],
            "odoo_ops_postgres": env["login"],
        },
    )
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert "backup verification of vfacme passed" in verified.stdout


def test_check_mode_runs_the_read_only_levels_and_writes_nothing(env):
    """Check mode: the objects level as a real run has it, the restore level skipped (it would create a
    database), no report or textfile written - their paths given - and no verdict either way."""
    folder = os.path.join(env["work"], "check-reports")
    os.makedirs(folder)
    args = dict(level=["objects", "restore"], report_dir=folder, textfile_dir=folder, bucket="verify-locked", tier=1)
    planned = run(verify(env, **args), check=True)
    real = run(verify(env, level=["objects"], bucket="verify-locked", tier=1))
    assert planned["verified"] is None and planned["skipped_levels"] == ["restore"] and planned["levels"] == ["objects"], planned
    names = [c["name"] for c in planned["checks"]], [c["name"] for c in real["checks"]]
    assert names[0] == names[1] and real["verified"] is True, (names, real["msg"])
    assert sorted(planned["reports"]) == ["json", "markdown", "textfile"] and not os.listdir(folder)
    assert planned["changed"] is False and not leftovers(env)
    assert_same_plan_keys(planned, real, all_keys=True)


@contextlib.contextmanager
def tls_only_admin(pg, superuser, directory):
    """The cluster serves TLS with a private CA's certificate, and the admin role may log in over TCP
    only with TLS (pg_hba hostnossl ... reject), for the duration of the block."""
    paths = make_test_ca(directory, hosts=("localhost",))
    shutil.chown(directory, "postgres", "postgres")  # the server reads its certificate and key from here
    os.chmod(directory, 0o755)
    for name in ("server.crt", "server.key"):
        shutil.chown(paths[name], "postgres", "postgres")
    hba = os.path.join(pg["data_dir"], "pg_hba.conf")
    original = open(hba).read()
    try:
        with open(hba, "w") as handle:
            handle.write("hostnossl all %s 127.0.0.1/32 reject\n%s" % (pg["admin_user"], original))
        sql(superuser, "ALTER SYSTEM SET ssl = on")
        sql(superuser, "ALTER SYSTEM SET ssl_cert_file = '%s'" % paths["server.crt"])
        sql(superuser, "ALTER SYSTEM SET ssl_key_file = '%s'" % paths["server.key"])
        sql(superuser, "SELECT pg_reload_conf()")
        yield paths["ca.crt"]
    finally:
        with open(hba, "w") as handle:
            handle.write(original)
        for setting in ("ssl", "ssl_cert_file", "ssl_key_file"):
            sql(superuser, "ALTER SYSTEM RESET %s" % setting)
        sql(superuser, "SELECT pg_reload_conf()")


def test_runbook_honours_postgres_verify_full_and_the_store_private_ca(env, harness):
    """backup_verify.yml at the restore level takes its connections from odoo_ops_postgres and
    odoo_ops_s3 alone: against a server that refuses the admin role without TLS, with ssl_mode
    verify-full and the server's CA it restores and verifies; with another CA it fails on the
    certificate - for PostgreSQL and for the object store alike - so both options reached every module."""
    pg = harness.up("postgres")["postgres"]
    os.makedirs(os.path.join(env["work"], "other-ca"))
    other_ca = make_test_ca(os.path.join(env["work"], "other-ca"))["ca.crt"]
    extra = {"odoo_ops_tenants": [{"name": "vfacme", "tier": 1, "backup_bucket": "verify-locked"}], "backup_verify_levels": ["objects", "restore"]}
    with scratch_dirs("odoo_ops-verify-pg-tls-") as (pg_tls,):
        with tls_only_admin(pg, env["superuser"], pg_tls) as pg_ca:
            postgres = dict(env["login"], login_host="localhost", ssl_mode="verify-full", ca_cert=pg_ca)
            without_tls = playbook("backup_verify.yml", dict(extra, odoo_ops_s3=env["s3_options"], odoo_ops_postgres=dict(env["login"], ssl_mode="disable")))
            assert without_tls.returncode != 0 and "no encryption" in without_tls.stdout, without_tls.stdout[-3000:]
            verified = playbook("backup_verify.yml", dict(extra, odoo_ops_s3=env["s3_options"], odoo_ops_postgres=postgres))
            assert verified.returncode == 0 and "backup verification of vfacme passed" in verified.stdout, verified.stdout[-3000:]
            wrong_pg_ca = playbook("backup_verify.yml", dict(extra, odoo_ops_s3=env["s3_options"], odoo_ops_postgres=dict(postgres, ca_cert=other_ca)))
            # (both test CAs have the same subject: OpenSSL reports the signature that does not verify)
            assert wrong_pg_ca.returncode != 0 and "failed: SSL error" in wrong_pg_ca.stdout, wrong_pg_ca.stdout[-3000:]
            wrong_s3_ca = playbook("backup_verify.yml", dict(extra, odoo_ops_s3=dict(env["s3_options"], s3_ca_bundle=other_ca), odoo_ops_postgres=postgres))
            assert wrong_s3_ca.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in wrong_s3_ca.stdout.upper().replace(" ", "_"), wrong_s3_ca.stdout[-3000:]
    assert not leftovers(env)


def test_secrets_never_in_results_or_verbose_output(env):
    result = run_tasks([verify(env, level=["objects", "restore"], key_prefix="base/")], verbosity=3)
    assert result.returncode == 0, result
    for secret in env["secrets"]:
        assert secret not in result.output and secret not in result.stderr


# --- physical backups (pgBackRest) -----------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(harness):
    with pitr_source(harness.up("s3")["s3"], "verify", "verify-repo") as source:
        sql(source["superuser"], "CREATE ROLE phys_fleet")
        server = {k: v for k, v in source["superuser"].items() if k != "dbname"}
        create_odoo_fixture(server, "phys_acme", owner="phys_fleet")
        backup(source, "diff")
        sql(source["superuser"], "INSERT INTO ticks DEFAULT VALUES")
        switch_and_wait(source)
        yield source


def physical(cluster, **args):
    options = {
        "stanza": "verify",
        "pgbackrest_config": cluster["config"],
        "level": ["repository", "restore"],
        "work_dir": cluster["restores"],
        "fail_on_error": False,
    }
    options.update(args)
    return {"sysgenpro.odoo_ops.backup_verify": options, "become": True, "become_user": "postgres", "vars": {"ansible_become_method": "ansible.builtin.su"}}


def test_physical_clean_then_corrupted_backup_file(cluster):
    clean = run(physical(cluster))
    assert clean["verified"] and not failed(clean), clean["msg"]
    names = {c["name"]: c["detail"] for c in clean["checks"]}
    assert "archive replayed to its end" in names["restore.physical"]
    assert "no corruption" in names["restore.amcheck"] and "no bad checksum" in names["restore.checksums"]
    assert "phys_acme: base" in names["restore.odoo_base"]
    assert not os.listdir(cluster["restores"])
    client, label = s3_client(cluster["s3"]), info(cluster)["backup"][-1]["label"]
    key = "pgbackrest/verify/backup/verify/%s/pg_data/global/pg_control.zst" % label
    original = client.get_object(Bucket="verify-repo", Key=key)["Body"].read()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    client.put_object(Bucket="verify-repo", Key=key, Body=bytes(flipped))
    try:
        result = run(physical(cluster, level=["repository"]))
    finally:
        client.put_object(Bucket="verify-repo", Key=key, Body=original)
    found = failed(result)
    assert set(found) == {"repository.verify"} and "checksum invalid" in found["repository.verify"], found
    assert "pg_control" in found["repository.verify"]


def test_deleted_wal_segment_after_the_latest_backup(cluster):
    sql(cluster["superuser"], "INSERT INTO ticks DEFAULT VALUES")
    switch_and_wait(cluster)
    sql(cluster["superuser"], "INSERT INTO ticks DEFAULT VALUES")
    switch_and_wait(cluster)
    latest = info(cluster)["backup"][-1]
    stop = latest["archive"]["stop"]
    following = "%s%08X" % (stop[:16], int(stop[16:], 16) + 1)
    client = s3_client(cluster["s3"])
    listing = client.list_objects_v2(Bucket="verify-repo", Prefix="pgbackrest/verify/archive/", MaxKeys=1000)
    key = next(k["Key"] for k in listing["Contents"] if "/%s-" % following in k["Key"])
    saved = client.get_object(Bucket="verify-repo", Key=key)["Body"].read()
    client.delete_object(Bucket="verify-repo", Key=key)
    try:
        result = run(physical(cluster))
    finally:
        client.put_object(Bucket="verify-repo", Key=key, Body=saved)
    found = failed(result)
    assert "repository.wal_continuity" in found and following in found["repository.wal_continuity"], found
    assert "restore.physical" in found and "recovery ended at WAL" in found["restore.physical"], found
    assert not os.listdir(cluster["restores"])


def test_dr_drill_restores_the_cluster_and_measures_rto_rpo(cluster):
    reports = os.path.join(cluster["work"], "drill")
    os.makedirs(reports)
    shutil.chown(reports, "postgres", "postgres")  # the cluster's verification runs as postgres and writes here
    conninfo = "host=%s port=%d user=postgres dbname=postgres" % (cluster["pg"]["socket_dir"], cluster["pg"]["port"])
    done = playbook(
        "dr_drill.yml",
        {
            "odoo_ops_tenants": [],
            "dr_drill_report_dir": reports,
            "dr_drill_stanza": "verify",
            "odoo_ops_pgbackrest": {"pgbackrest_config": cluster["config"]},
            "odoo_ops_postgres": {},  # not the local inventory's platform
            "odoo_ops_s3": {},
            "dr_drill_work_dir": cluster["restores"],
            "dr_drill_switch_wal_conninfo": conninfo,
            "ansible_become_method": "ansible.builtin.su",
        },
    )
    assert done.returncode == 0, done.stdout[-3000:]
    (name,) = [n for n in os.listdir(reports) if n.startswith("dr-drill-") and n.endswith(".json")]
    assert [n for n in os.listdir(reports) if n.startswith("backup-verify-verify-")]  # the module's own evidence
    (row,) = json.load(open(os.path.join(reports, name)))["subjects"]
    assert row["subject"] == "verify" and row["kind"] == "cluster" and row["verified"] is True, row
    assert row["objectives_met"] is True and 0 <= float(row["rpo_seconds"]) <= 300 and float(row["rto_seconds"]) > 0
    assert not os.listdir(cluster["restores"])


def test_heap_corruption_found_by_amcheck(cluster):
    """A damaged heap page (checksums on: the page no longer matches its checksum), backed up as is."""
    superuser, pg = cluster["superuser"], cluster["pg"]
    sql(superuser, "CREATE TABLE victim AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 2000) g")
    sql(superuser, "CHECKPOINT")
    path = os.path.join(pg["data_dir"], sql(superuser, "SELECT pg_relation_filepath('victim')")[0][0])
    subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", pg["data_dir"], "-m", "fast", "-w", "stop"], check=True, capture_output=True, timeout=90)
    with open(path, "r+b") as handle:
        handle.seek(4000)
        handle.write(b"\xde\xad\xbe\xef" * 16)
    subprocess.run(
        ["runuser", "-u", "postgres", "--", PG_CTL, "-D", pg["data_dir"], "-l", pg["log"], "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
        timeout=90,
    )
    try:
        backup(cluster, "full")
        switch_and_wait(cluster)
        result = run(physical(cluster))
    finally:
        sql(superuser, "DROP TABLE victim")
    found = failed(result)
    assert "restore.amcheck" in found and "corruption" in found["restore.amcheck"], found
    assert "victim" in found["restore.amcheck"] or "invalid page" in found["restore.amcheck"], found
    assert not os.listdir(cluster["restores"])
