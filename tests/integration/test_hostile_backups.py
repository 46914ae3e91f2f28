"""Hostile backups (issue #14): a backup is input from a bucket anyone with its keys can rewrite, and a
tenant's own database can hold hostile objects that a legitimate, signed backup then carries.

Every attack runs against real PostgreSQL 15 and SeaweedFS through real ansible-playbook runs, for
both restore paths (odoo_tenant from_backup and backup_verify's restore level), logged in as the
platform's admin role (CREATEDB, CREATEROLE) and as the superuser. Each must be refused or
neutralised, and a snapshot of what an attacker would want changed - roles and memberships,
databases and their rights, per-database settings, postgresql.auto.conf, a marker file a shell
payload would create, another tenant's tables - must be the same afterwards.
"""

import contextlib
import datetime
import hashlib
import io
import json
import os
import subprocess
import tarfile
import zipfile

import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import sign_sidecar
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.playbook import run_tasks
from tests.harness.process import scratch_dirs

FLEET = "hostile_fleet"
VICTIM = "hb_victim"  # another tenant: nothing may reach it
SOURCE = "hb_source"  # a clean tenant whose dump the crafted backups start from
EVIL = "hb_evil"  # a tenant whose own database holds hostile objects (a customer addon's SQL)
BUCKET = "hostile"
PG_BIN = "/usr/lib/postgresql/15/bin"
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def env(harness):
    with scratch_dirs("odoo_ops-hostile-fs-", "odoo_ops-hostile-work-", "odoo_ops-hostile-marks-", mode=0o777) as (root, work, marks):
        state = harness.up("postgres", "s3")
        pg, s3 = state["postgres"], state["s3"]
        superuser = {"host": pg["socket_dir"], "port": pg["port"], "user": "postgres"}
        with connect(superuser) as conn, conn.cursor() as cur:
            cur.execute("CREATE ROLE %s LOGIN; GRANT %s TO %s" % (FLEET, FLEET, pg["admin_user"]))
            # The session roles' group, made once by the first module run anywhere: here before any snapshot.
            cur.execute(
                "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo_ops_sessions') THEN CREATE ROLE odoo_ops_sessions NOLOGIN; END IF; END$$"
            )
        for name in (VICTIM, SOURCE, EVIL):
            create_odoo_fixture(superuser, name, owner=FLEET, filestore_root=root)
        client = s3_client(s3)
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)  # versioned, like tier 1
        data = {
            "pg": pg,
            "superuser": superuser,
            "root": root,
            "work": work,
            "marks": marks,
            "s3": client,
            "s3_options": s3_options(s3),
            "logins": {"admin": login_options(pg), "superuser": {"login_unix_socket": pg["socket_dir"], "login_port": pg["port"], "login_user": "postgres"}},
        }
        for name in (VICTIM, SOURCE, EVIL):  # managed tenants, as odoo_tenant leaves them
            comment = json.dumps({"managed_by": "sysgenpro.odoo_ops", "tenant": name, "pattern": "shared", "tier": 1})
            query(data, "COMMENT ON DATABASE %s IS '%s'; REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC" % (name, comment, name), fetch=False)
        plant_hostile_objects(data)
        yield data


def connect(kwargs, dbname="postgres"):
    conn = psycopg2.connect(dbname=dbname, **kwargs)
    conn.autocommit = True
    return contextlib.closing(conn)


def query(env, statement, dbname="postgres", fetch=True, user=None):
    """As the superuser, or as `user` (a login over the socket, trusted by the harness): hostile
    objects are planted as the fleet role itself, never by a superuser that SET ROLE could undo."""
    login = dict(env["superuser"], user=user) if user else env["superuser"]
    with connect(login, dbname) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall() if fetch else None


def run(*tasks, **kwargs):
    result = run_tasks(list(tasks), timeout=900, **kwargs)
    assert result.results, result
    return result


def marker(env, name):
    return os.path.join(env["marks"], name)


def escalation_sql(env, tag, other_tenants=True, own_database=False):
    """What a payload running as the restoring role tries, each step on its own (errors swallowed, so
    that a restore would go on and report success if the role were privileged). other_tenants: also
    reach into another tenant of the fleet (code that later runs with the fleet role's rights - as the
    tenant's own Odoo does - can; code that runs while a backup is restored must not)."""
    steps = [
        "RESET SESSION AUTHORIZATION",
        "RESET ROLE",
        "SET ROLE NONE",
        "CREATE ROLE hb_%s_super SUPERUSER LOGIN" % tag,
        "GRANT pg_execute_server_program TO CURRENT_USER",
        "GRANT pg_write_server_files TO CURRENT_USER",
        "COPY (SELECT 1) TO PROGRAM 'touch %s'" % marker(env, tag),
        "ALTER ROLE postgres PASSWORD 'pwned'",
        "CREATE EXTENSION IF NOT EXISTS dblink",
        "SELECT dblink_exec('dbname=%s', 'CREATE TABLE pwned (x int)')" % VICTIM,
    ]
    if other_tenants:
        steps += ["ALTER DATABASE %s CONNECTION LIMIT 0" % VICTIM, "ALTER DATABASE %s SET work_mem = '1MB'" % VICTIM]
    body = "".join("BEGIN EXECUTE %s; EXCEPTION WHEN OTHERS THEN NULL; END;" % literal(step) for step in steps)
    if own_database:
        # What a pg_restore TOC entry (DATABASE PROPERTIES, COMMENT ON DATABASE, ACL) would do to the
        # database being restored, whatever the format: the restore must undo it before the hand-over.
        forged = json.dumps({"managed_by": "sysgenpro.odoo_ops", "tenant": VICTIM, "kind": "template"})
        for step in (
            "format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database())",
            "format('ALTER DATABASE %I CONNECTION LIMIT 1', current_database())",
            "format('GRANT ALL ON DATABASE %I TO PUBLIC', current_database())",
            "format('COMMENT ON DATABASE %I IS %L', current_database(), " + literal(forged) + ")",
        ):
            body += "BEGIN EXECUTE %s; EXCEPTION WHEN OTHERS THEN NULL; END;" % step
    return body


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def plant_hostile_objects(env):
    """EVIL's own database holds what a customer's addon could create with the fleet's role: a
    generated column evaluated by every restore's COPY, an index expression evaluated by every
    restore and by pg_amcheck, a trigger on ir_config_parameter fired by the
    collection's own writes, each trying to escalate from whatever role runs it."""
    statements = """
    CREATE TABLE public.hb_log (who text, session_who text, at timestamptz DEFAULT now());
    CREATE FUNCTION public.hb_evil_v(i int) RETURNS int LANGUAGE sql AS 'SELECT i';
    -- A generation expression must be immutable; an immutable function may call a volatile one.
    CREATE FUNCTION public.hb_evil(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
    BEGIN PERFORM public.hb_evil_v(i); RETURN i; END $f$;
    CREATE TABLE public.hb_generated (id int, g int GENERATED ALWAYS AS (public.hb_evil(id)) STORED);
    INSERT INTO public.hb_generated (id) VALUES (1), (2);
    -- An index expression: evaluated again by every restore's CREATE INDEX and by backup_verify's
    -- pg_amcheck --heapallindexed (which a superuser login runs: PostgreSQL must switch to the owner).
    CREATE INDEX hb_generated_evil ON public.hb_generated (public.hb_evil(id));
    -- Armed only now: from here on it runs wherever the rows are computed again (every restore's COPY).
    CREATE OR REPLACE FUNCTION public.hb_evil_v(i int) RETURNS int LANGUAGE plpgsql AS $f$
    BEGIN %(generated)s
      INSERT INTO public.hb_log (who, session_who) VALUES (current_user, session_user);
      RETURN i; END $f$;
    CREATE FUNCTION public.hb_trap() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN %(trigger)s
      INSERT INTO public.hb_log (who, session_who) VALUES (current_user, session_user);
      RETURN NEW; END $f$;
    CREATE TRIGGER hb_trap BEFORE INSERT OR UPDATE ON public.ir_config_parameter
      FOR EACH ROW EXECUTE FUNCTION public.hb_trap();
    DELETE FROM public.hb_log;
    """ % {"generated": escalation_sql(env, "generated", own_database=True), "trigger": escalation_sql(env, "trigger", other_tenants=False)}
    query(env, statements, dbname=EVIL, fetch=False, user=FLEET)


def world(env, ignore=()):
    """What an attacker would want to change, read as the superuser."""
    roles = query(
        env,
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolpassword IS NOT NULL FROM pg_authid ORDER BY 1",
    )
    members = query(env, "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2")
    databases = query(
        env,
        "SELECT datname, pg_get_userbyid(datdba), datacl::text, datallowconn, datconnlimit, "
        "datistemplate, shobj_description(oid, 'pg_database') FROM pg_database ORDER BY 1",
    )
    settings = query(env, "SELECT setdatabase, setrole, setconfig::text FROM pg_db_role_setting ORDER BY 1, 2")
    with open(os.path.join(env["pg"]["data_dir"], "postgresql.auto.conf"), encoding="utf-8") as handle:
        auto_conf = handle.read()
    victim = {
        table: query(env, "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM %s t" % table, dbname=VICTIM)[0]
        for table in ("res_users", "ir_config_parameter", "ir_attachment")
    }
    victim_tables = query(env, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", dbname=VICTIM)
    return {
        "roles": roles,
        "members": members,
        "databases": [d for d in databases if d[0] not in ignore],
        "settings": settings,
        "auto_conf": auto_conf,
        "victim": victim,
        "victim_tables": victim_tables,
        "marks": sorted(os.listdir(env["marks"])),
        "files": sorted(os.listdir(env["work"])),
    }


# -- crafted backups -------------------------------------------------------------------------------
def source_dump(env):
    return subprocess.run(
        [os.path.join(PG_BIN, "pg_dump"), "--no-owner", "-h", env["superuser"]["host"], "-p", str(env["superuser"]["port"]), "-U", "postgres", SOURCE],
        capture_output=True,
        check=True,
    ).stdout


def zip_of(dump_sql, filestore=None, extra_members=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dump.sql", dump_sql)
        archive.writestr("manifest.json", json.dumps({"odoo_dump": "1", "db_name": SOURCE, "version": "18.0"}))
        for name, content in sorted((filestore or {}).items()):
            archive.writestr("filestore/" + name, content)
        for info, content in extra_members:
            archive.writestr(info, content)
    return buffer.getvalue()


def upload(env, name, body, sign=True, tenant=SOURCE, members=None):
    """body under odoo/<tenant>/..., with a sidecar as odoo_backup writes it (signed unless asked not
    to). members: what the sidecar records of the zip's members (default: what the zip holds)."""
    key = "odoo/%s/%s_%s.zip" % (tenant, tenant, name)
    answer = env["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)
    if members is None:
        archive = zipfile.ZipFile(io.BytesIO(body))
        members = {i.filename: {"size": i.file_size, "sha256": hashlib.sha256(archive.read(i)).hexdigest()} for i in archive.infolist()}
    digest = hashlib.sha256(body).hexdigest()
    sidecar = {
        "tenant": tenant,
        "bucket": BUCKET,
        "key": key,
        "created": datetime.datetime.now(UTC).isoformat(),
        "tier": 1,
        "format": "zip",
        "size": len(body),
        "sha256": digest,
        "members": members,
        "objects": [{"key": key, "size": len(body), "sha256": digest, "version_id": answer.get("VersionId")}],
    }
    if sign:
        sidecar = sign_sidecar(sidecar, env["s3_options"]["backup_signing_key"].encode())
    env["s3"].put_object(Bucket=BUCKET, Key=key + ".manifest.json", Body=json.dumps(sidecar).encode())
    return key


def meta_payloads(env):
    """psql meta-commands a rewritten dump.sql could carry: each would run on the host that restores."""

    def m(name):
        return marker(env, name)

    return {
        "shell": "\\! touch %s\n" % m("shell"),
        "copy_program": "\\copy (select 1) to program 'touch %s'\n" % m("copy_program"),
        "output_pipe": "\\o |touch %s\nSELECT 1;\n\\o\n" % m("output_pipe"),
        "gexec": "SELECT 'CREATE ROLE hb_gexec SUPERUSER' \\gexec\n",
        "connect_other": "\\connect %s\nCREATE TABLE public.pwned (x int);\n" % VICTIM,
        "inline": "SELECT 1; \\! touch %s\n" % m("inline"),
        "indented": "   \\! touch %s\n" % m("indented"),
        # A line the filter takes for the start of COPY data (it is inside a string): psql's \restrict holds.
        "decoy_copy": "SELECT $x$\nCOPY public.x FROM stdin;\n$x$;\n\\! touch %s\n\\.\n" % m("decoy_copy"),
        "unrestrict": "\\unrestrict guessed\n\\! touch %s\n" % m("unrestrict"),
        "restrict_twice": "\\restrict other\n\\! touch %s\n" % m("restrict_twice"),
        "crlf": "SELECT 1;\r\n\\! touch %s\r\n" % m("crlf"),
        # Real COPY data with backslash lines (\N), its terminator, then a meta-command after it.
        "after_copy_data": "CREATE TABLE public.hb_c (x text);\nCOPY public.hb_c (x) FROM stdin;\n\\N\n\\.\n\\! touch %s\n" % m("after_copy_data"),
        # A COPY that fails: psql stops there (ON_ERROR_STOP) before it would read on as SQL.
        "failed_copy": "COPY public.hb_no_such (x) FROM stdin;\n\\! touch %s\n\\.\n" % m("failed_copy"),
        # psql cuts a line at a NUL: the meta-command would start mid-line, out of the filter's sight.
        "nul": "SELECT 1; " + "\0" * 2000 + "\\! touch %s\n" % m("nul"),
        "dollar_body": "DO $b$BEGIN\n\\! touch %s\nEND$b$;\n" % m("dollar_body"),
    }


REFUSED_AS = {"failed_copy": "hb_no_such"}  # refused by PostgreSQL itself, before psql reads on


def hostile_dump(env, payload):
    """The clean dump with the payload spliced in before the data (after the header's SET lines)."""
    dump = source_dump(env)
    cut = dump.index(b"\nSET default_tablespace")
    return dump[:cut] + b"\n" + payload.encode() + dump[cut:]


def restore_task(env, login, key, name, **extra):
    options = dict(env["logins"][login], **env["s3_options"])
    options.update(
        name=name,
        owner=FLEET,
        base_url="https://%s.erp.test" % name.replace("_", "-"),
        filestore_root=env["root"],
        from_backup=dict({"bucket": BUCKET, "key": key}, **extra.pop("backup", {})),
    )
    options.update(extra)
    return {"name": name, "sysgenpro.odoo_ops.odoo_tenant": options, "ignore_errors": True}


def verify_task(env, login, key, tenant=SOURCE):
    options = dict(env["logins"][login], **env["s3_options"])
    options.update(name=tenant, bucket=BUCKET, key=key, level=["restore"], tier=1, work_dir=env["work"], fail_on_error=False)
    return {"name": "verify %s" % key, "sysgenpro.odoo_ops.backup_verify": options, "ignore_errors": True}


def restore_check(result):
    return next((c for c in result.get("checks", []) if c["name"] == "restore.logical"), None)


def session_roles(env):
    return query(env, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'odoo\\_ops\\_s\\_%'")


# -- the attacks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("login", ["admin", "superuser"])
def test_meta_commands_in_a_dump_never_run(env, login):
    """Signed (a compromised backup host) or not (a leaked bucket key), a dump carrying psql
    meta-commands is refused by both restore paths; nothing of it runs, nothing is left."""
    payloads = meta_payloads(env)
    keys = {name: upload(env, "%s_meta_%s" % (login, name), zip_of(hostile_dump(env, text))) for name, text in payloads.items()}
    unsigned = upload(env, "%s_meta_unsigned" % login, zip_of(hostile_dump(env, payloads["shell"])), sign=False)
    before = world(env)
    tasks = [restore_task(env, login, key, "hb_%s_%s" % (login[:2], name)) for name, key in keys.items()]
    tasks.append(restore_task(env, login, unsigned, "hb_%s_unsigned" % login[:2]))
    tasks += [verify_task(env, login, key) for key in keys.values()]
    results = run(*tasks).results
    for name, result in zip(list(keys) + ["unsigned"], results[: len(keys) + 1]):
        assert result.get("failed"), (name, result)
        words = ("meta-command", "restricted", "not signed", "NUL byte", REFUSED_AS.get(name, "meta-command"))
        assert any(word in result["msg"] for word in words), (name, result["msg"])
    assert "not signed" in results[len(keys)]["msg"]
    for name, result in zip(keys, results[len(keys) + 1 :]):
        check = restore_check(result)
        assert result["verified"] is False and check and not check["ok"], (name, result)
        assert any(word in check["detail"] for word in ("meta-command", "restricted", "NUL byte", REFUSED_AS.get(name, "meta-command"))), (name, check)
    assert world(env) == before
    assert not session_roles(env)


@pytest.mark.parametrize("login", ["admin", "superuser"])
@pytest.mark.parametrize("backup_format", ["zip", "custom"])
def test_a_tenants_hostile_objects_run_with_no_privilege(env, login, backup_format):
    """EVIL's signed backup carries a generated column and a trigger that try to escalate from the
    role running them. Restored (and verified), they run only as a session role that owns nothing
    but the new database: no superuser role, no server program, no grant, no other tenant touched."""
    made = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                env["logins"][login], **env["s3_options"], name=EVIL, bucket=BUCKET, format=backup_format, filestore_root=env["root"]
            )
        }
    ).results[-1]
    assert made["changed"], made
    target = "hb_restored_%s_%s" % (login[:2], backup_format)
    before = world(env, ignore=(target,))
    results = run(restore_task(env, login, made["key"], target), verify_task(env, login, made["key"], tenant=EVIL)).results
    restored, verified = results
    assert restored["changed"] and not restored.get("failed"), restored.get("msg")
    assert restore_check(verified)["ok"], verified["checks"]
    assert world(env, ignore=(target,)) == before  # no role, grant, setting, file or other tenant changed
    who = query(env, "SELECT DISTINCT who, session_who FROM public.hb_log", dbname=target)
    assert who and all(w.startswith("odoo_ops_s_") and s.startswith("odoo_ops_s_") for w, s in who), who
    assert query(env, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", dbname=target) == [(FLEET,)]
    # What the restore's SQL did to the new database itself (settings, rights, limits, a forged metadata comment) is undone.
    acl, limit, comment = query(
        env, "SELECT datacl::text, datconnlimit, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s" % literal(target)
    )[0]
    assert acl == "{%s=CTc/%s}" % (FLEET, FLEET) and limit == -1, (acl, limit)
    assert json.loads(comment)["tenant"] == target and "kind" not in json.loads(comment), comment
    assert not session_roles(env)
    # Later work on the restored tenant (a new URL) fires the trigger again - still as a session role.
    again = run(restore_task(env, login, made["key"], target, base_url="https://moved.erp.test")).results[-1]
    assert again["changed"] and not again.get("failed"), again.get("msg")
    assert all(w.startswith("odoo_ops_s_") for w, _s in query(env, "SELECT who, session_who FROM public.hb_log", dbname=target))
    assert world(env, ignore=(target,)) == before
    query(env, "DROP DATABASE %s WITH (FORCE)" % target, fetch=False)


def test_database_level_changes_a_dump_makes_are_undone(env):
    """A dump may change its own database as its owner: rights for PUBLIC, settings that would steer
    later sessions, the template flag, a forged tenant metadata comment. All are undone at hand-over."""
    forged = json.dumps({"managed_by": "sysgenpro.odoo_ops", "kind": "template", "owner_managed": True})
    payload = (
        "DO $d$BEGIN EXECUTE format('GRANT ALL ON DATABASE %%I TO PUBLIC', current_database());"
        " EXECUTE format('ALTER DATABASE %%I SET search_path = public, pg_catalog', current_database());"
        " EXECUTE format('ALTER DATABASE %%I SET default_transaction_read_only = on', current_database());"
        " EXECUTE format('ALTER DATABASE %%I CONNECTION LIMIT 1', current_database());"
        " EXECUTE format('ALTER DATABASE %%I IS_TEMPLATE true', current_database());"
        " EXECUTE format('COMMENT ON DATABASE %%I IS %%L', current_database(), %s); END$d$;\n" % literal(forged)
    )
    key = upload(env, "dblevel", zip_of(hostile_dump(env, payload)))
    result = run(restore_task(env, "admin", key, "hb_dblevel")).results[-1]
    assert result["changed"] and not result.get("failed"), result.get("msg")
    acl, allow, limit, template, comment = query(
        env,
        "SELECT datacl::text, datallowconn, datconnlimit, datistemplate, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'hb_dblevel'",
    )[0]
    assert all(not entry.startswith("=") for entry in acl.strip("{}").split(",")), acl  # nothing for PUBLIC
    assert acl == "{%s=CTc/%s}" % (FLEET, FLEET), acl
    assert (allow, limit, template) == (True, -1, False)
    assert json.loads(comment).get("kind") is None and json.loads(comment)["tenant"] == "hb_dblevel"
    assert query(env, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'hb_dblevel'")[0][0] == 0
    query(env, "DROP DATABASE hb_dblevel WITH (FORCE)", fetch=False)


def test_a_view_in_place_of_an_odoo_table_is_never_read_by_the_admin(env):
    """A tenant that swaps ir_mail_server for a view (whose function would run as its reader) gets a
    clear refusal when the admin role would read it, not a function call."""
    query(env, "CREATE DATABASE hb_viewed TEMPLATE %s OWNER %s" % (SOURCE, FLEET), fetch=False)
    query(env, "COMMENT ON DATABASE hb_viewed IS '%s'" % json.dumps({"managed_by": "sysgenpro.odoo_ops", "tenant": "hb_viewed"}), fetch=False)
    query(
        env,
        "ALTER TABLE public.ir_mail_server RENAME TO ir_mail_server_t; "
        "CREATE FUNCTION public.hb_peek() RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN %s RETURN true; END $f$; "
        "CREATE VIEW public.ir_mail_server AS SELECT * FROM public.ir_mail_server_t WHERE public.hb_peek()" % escalation_sql(env, "view"),
        dbname="hb_viewed",
        fetch=False,
        user=FLEET,
    )
    before = world(env)
    options = dict(env["logins"]["admin"], name="hb_viewed", owner=FLEET, neutralize=True, filestore_root=env["root"])
    result = run({"sysgenpro.odoo_ops.odoo_tenant": options, "ignore_errors": True}).results[-1]
    assert result.get("failed") and "not a plain table" in result["msg"], result
    assert world(env) == before
    query(env, "DROP DATABASE hb_viewed WITH (FORCE)", fetch=False)


def test_rewritten_backups_are_refused_or_read_at_their_recorded_version(env):
    """A new version of a locked backup with a recomputed sidecar; a sidecar copied from another
    tenant; the object rewritten under its signed sidecar; a delete marker on it."""
    made = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                env["logins"]["admin"],
                **env["s3_options"],
                name=SOURCE,
                bucket=BUCKET,
                filestore_root=env["root"],
                object_lock_mode="GOVERNANCE",
                object_lock_days=1,
            )
        }
    ).results[-1]
    assert made["changed"] and made["objects"][0]["version_id"], made
    original = env["s3"].get_object(Bucket=BUCKET, Key=made["key"])["Body"].read()
    evil_body = zip_of(hostile_dump(env, "SELECT 1;\n"))
    # 1. object and sidecar rewritten, the sidecar recomputed without the key (the reported attack)
    sidecar = json.loads(env["s3"].get_object(Bucket=BUCKET, Key=made["manifest_key"])["Body"].read())
    env["s3"].put_object(Bucket=BUCKET, Key=made["key"], Body=evil_body)
    forged = dict(
        sidecar,
        size=len(evil_body),
        sha256=hashlib.sha256(evil_body).hexdigest(),
        objects=[{"key": made["key"], "size": len(evil_body), "sha256": hashlib.sha256(evil_body).hexdigest()}],
    )
    forged["signature"] = dict(sidecar["signature"], value=hashlib.sha256(json.dumps(forged).encode()).hexdigest())
    env["s3"].put_object(Bucket=BUCKET, Key=made["manifest_key"], Body=json.dumps(forged).encode())
    before = world(env)
    objects = run(
        {
            "name": "objects",
            "sysgenpro.odoo_ops.backup_verify": dict(
                env["logins"]["admin"], **env["s3_options"], name=SOURCE, bucket=BUCKET, key=made["key"], level=["objects"], tier=1, fail_on_error=False
            ),
        },
        restore_task(env, "admin", made["key"], "hb_forged"),
    ).results
    failures = {c["name"]: c["detail"] for c in objects[0]["checks"] if not c["ok"]}
    assert "objects.integrity" in failures and "signature" in failures["objects.integrity"], failures
    assert objects[1].get("failed") and "does not verify" in objects[1]["msg"], objects[1]
    # 2. the signed sidecar put back, the object still rewritten: restores read the recorded version
    env["s3"].put_object(Bucket=BUCKET, Key=made["manifest_key"], Body=json.dumps(sidecar).encode())
    found = run(
        {
            "name": "objects",
            "sysgenpro.odoo_ops.backup_verify": dict(
                env["logins"]["admin"], **env["s3_options"], name=SOURCE, bucket=BUCKET, key=made["key"], level=["objects"], tier=1, fail_on_error=False
            ),
        },
        restore_task(env, "admin", made["key"], "hb_pinned"),
    ).results
    failures = {c["name"]: c["detail"] for c in found[0]["checks"] if not c["ok"]}
    assert "newer version" in failures.get("objects.integrity", ""), failures
    assert made["key"] in failures["objects.integrity"]
    assert found[1]["changed"] and not found[1].get("failed"), found[1].get("msg")
    assert found[1]["origin"]["version_id"] == made["objects"][0]["version_id"]
    assert query(env, "SELECT count(*) FROM res_users", dbname="hb_pinned") == query(env, "SELECT count(*) FROM res_users", dbname=SOURCE)
    assert env["s3"].get_object(Bucket=BUCKET, Key=made["key"], VersionId=made["objects"][0]["version_id"])["Body"].read() == original
    # 3. a signed sidecar of another tenant's backup copied beside this one
    victim = run(
        {"sysgenpro.odoo_ops.odoo_backup": dict(env["logins"]["admin"], **env["s3_options"], name=VICTIM, bucket=BUCKET, filestore_root=env["root"])}
    ).results[-1]
    assert victim.get("manifest_key"), victim
    other_sidecar = env["s3"].get_object(Bucket=BUCKET, Key=victim["manifest_key"])["Body"].read()
    copied_key = made["key"].replace(".zip", "_copy.zip")
    env["s3"].put_object(Bucket=BUCKET, Key=copied_key, Body=original)
    env["s3"].put_object(Bucket=BUCKET, Key=copied_key + ".manifest.json", Body=other_sidecar)
    refused = run(restore_task(env, "admin", copied_key, "hb_copied")).results[-1]
    assert refused.get("failed") and "copied from another backup" in refused["msg"], refused
    assert world(env, ignore=("hb_pinned",)) == before
    query(env, "DROP DATABASE hb_pinned WITH (FORCE)", fetch=False)


def test_restores_are_bounded(env):
    """A small zip that expands to 2 GiB, members the signed sidecar does not record or records
    smaller, and a backup larger than the free space: each refused before it is written, nothing left."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("dump.sql", source_dump(env))
        archive.writestr("manifest.json", "{}")
        info = zipfile.ZipInfo("filestore/ab/" + "a" * 40)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            block = b"\0" * (16 * 1024 * 1024)
            for _block in range(128):
                member.write(block)
    bomb = bomb.getvalue()
    assert len(bomb) < 4 * 1024 * 1024
    honest = zip_of(source_dump(env), {"ab/" + "b" * 40: b"attachment"})
    archive = zipfile.ZipFile(io.BytesIO(honest))
    recorded = {i.filename: {"size": i.file_size, "sha256": hashlib.sha256(archive.read(i)).hexdigest()} for i in archive.infolist()}
    smaller = dict(recorded, **{"filestore/ab/" + "b" * 40: {"size": 3, "sha256": "0" * 64}})
    unlisted = {k: v for k, v in recorded.items() if not k.startswith("filestore/")}
    keys = {
        "bomb_unsigned": upload(env, "bomb_unsigned", bomb, sign=False),
        "bomb_signed": upload(env, "bomb_signed", bomb),
        "member_grown": upload(env, "member_grown", honest, members=smaller),
        "member_unlisted": upload(env, "member_unlisted", honest, members=unlisted),
    }
    before = world(env)
    results = run(
        restore_task(env, "admin", keys["bomb_unsigned"], "hb_bomb_u", backup={"allow_unsigned": True}),
        restore_task(env, "admin", keys["bomb_signed"], "hb_bomb_s"),
        restore_task(env, "admin", keys["member_grown"], "hb_grown"),
        restore_task(env, "admin", keys["member_unlisted"], "hb_unlisted"),
    ).results
    for name, result, word in zip(keys, results, ["zip bomb", "zip bomb", "not the 3 bytes", "not in"]):
        assert result.get("failed") and word in result["msg"], (name, result.get("msg"))
    assert world(env) == before
    assert not [n for n in os.listdir(env["root"]) if n.startswith(".")]


def test_free_space_is_checked_before_anything_is_written(env, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(small)], check=False).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        body = zip_of(source_dump(env), {"cd/" + "c" * 40: os.urandom(64 * 1024 * 1024)})
        key = upload(env, "too_big", body)
        before = world(env)
        options = dict(restore_task(env, "admin", key, "hb_too_big"))
        options["sysgenpro.odoo_ops.odoo_tenant"] = dict(options["sysgenpro.odoo_ops.odoo_tenant"], filestore_root=str(small))
        result = run(options).results[-1]
        assert result.get("failed") and "are free" in result["msg"], result.get("msg")
        assert world(env) == before and os.listdir(str(small)) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_many_tiny_members_are_checked_against_free_inodes(env, tmp_path):
    """A zip of thousands of one-byte members: its bytes fit anywhere, its files may not (inodes, a
    block each). Refused before a file is written, signed or not."""
    small = tmp_path / "few_inodes"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m,nr_inodes=4000", "tmpfs", str(small)], check=False).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        files = {"%02x/%s" % (i % 256, hashlib.sha1(b"%d" % i).hexdigest()): b"x" for i in range(5000)}
        body = zip_of(source_dump(env), files)
        keys = {"signed": upload(env, "tiny_signed", body), "unsigned": upload(env, "tiny_unsigned", body, sign=False)}
        before = world(env)
        tasks = []
        for name, key in keys.items():
            task = restore_task(env, "admin", key, "hb_tiny_%s" % name, backup={"allow_unsigned": True})
            task["sysgenpro.odoo_ops.odoo_tenant"]["filestore_root"] = str(small)
            tasks.append(task)
        for result in run(*tasks).results:
            assert result.get("failed") and "inodes are free" in result["msg"], result.get("msg")
        assert world(env) == before and os.listdir(str(small)) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_custom_format_tar_with_links_or_traversal_is_refused(env):
    """A custom backup's filestore tar holding a symlink or a ../ path (signed as if legitimate)."""
    made = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                env["logins"]["admin"], **env["s3_options"], name=SOURCE, bucket=BUCKET, format="custom", filestore_root=env["root"]
            )
        }
    ).results[-1]
    tar_key = made["key"][: -len(".dump")] + ".filestore.tar"
    before = world(env)
    for kind in ("symlink", "traversal"):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("filestore/ab/" + "d" * 40)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
                archive.addfile(info)
            else:
                info.name, info.size = "filestore/../../../../tmp/hb_traversal", 5
                archive.addfile(info, io.BytesIO(b"owned"))
        body = buffer.getvalue()
        answer = env["s3"].put_object(Bucket=BUCKET, Key=tar_key, Body=body)
        sidecar = json.loads(env["s3"].get_object(Bucket=BUCKET, Key=made["manifest_key"])["Body"].read())
        sidecar["objects"][1].update(size=len(body), sha256=hashlib.sha256(body).hexdigest(), version_id=answer.get("VersionId"))
        sidecar = sign_sidecar(sidecar, env["s3_options"]["backup_signing_key"].encode())
        env["s3"].put_object(Bucket=BUCKET, Key=made["manifest_key"], Body=json.dumps(sidecar).encode())
        result = run(restore_task(env, "admin", made["key"], "hb_tar_%s" % kind)).results[-1]
        assert result.get("failed") and ("not a regular file" in result["msg"] or "outside" in result["msg"]), result
        assert world(env) == before and not os.path.exists("/tmp/hb_traversal")


def test_custom_archives_carrying_objects_only_a_superuser_makes_are_refused(env):
    """A compromised backup host rewrites a custom backup (and signs its sidecar) with a dump whose
    table of contents holds what only a superuser creates: an event trigger (it would run on every
    later DDL in the tenant as whoever runs it), a publication of all tables, a subscription, an
    untrusted extension (adminpack writes server files). pg_restore runs as the role that owns only
    the new database: each entry fails, the restore stops, and nothing is left - on both paths."""
    made = run(
        {
            "sysgenpro.odoo_ops.odoo_backup": dict(
                env["logins"]["admin"], **env["s3_options"], name=SOURCE, bucket=BUCKET, format="custom", filestore_root=env["root"]
            )
        }
    ).results[-1]
    objects = {
        "event_trigger": "CREATE FUNCTION public.hb_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $f$BEGIN %s END$f$; "
        "CREATE EVENT TRIGGER hb_ddl ON ddl_command_end EXECUTE FUNCTION public.hb_ddl()" % escalation_sql(env, "event_trigger"),
        "publication": "CREATE PUBLICATION hb_everything FOR ALL TABLES",
        "subscription": "CREATE SUBSCRIPTION hb_sub CONNECTION 'dbname=%s' PUBLICATION hb_none WITH (connect = false)" % VICTIM,
        "extension": "CREATE EXTENSION adminpack",
    }
    keys, sidecar = {}, json.loads(env["s3"].get_object(Bucket=BUCKET, Key=made["manifest_key"])["Body"].read())
    for kind, statement in objects.items():
        crafted = "hb_craft_%s" % kind
        query(env, "CREATE DATABASE %s TEMPLATE %s" % (crafted, SOURCE), fetch=False)
        query(env, statement, dbname=crafted, fetch=False)
        dump = subprocess.run(
            [os.path.join(PG_BIN, "pg_dump"), "-Fc", "-h", env["superuser"]["host"], "-p", str(env["superuser"]["port"]), "-U", "postgres", crafted],
            capture_output=True,
            check=True,
        ).stdout
        if kind == "subscription":
            query(env, "ALTER SUBSCRIPTION hb_sub SET (slot_name = NONE)", dbname=crafted, fetch=False)
            query(env, "DROP SUBSCRIPTION hb_sub", dbname=crafted, fetch=False)
        query(env, "DROP DATABASE %s WITH (FORCE)" % crafted, fetch=False)
        key = made["key"].replace(".dump", "_%s.dump" % kind)
        answer = env["s3"].put_object(Bucket=BUCKET, Key=key, Body=dump)
        tar_key = made["key"][: -len(".dump")] + ".filestore.tar"
        forged = json.loads(json.dumps(sidecar))
        forged.update(key=key, size=len(dump), sha256=hashlib.sha256(dump).hexdigest())
        forged["objects"][0].update(key=key, size=len(dump), sha256=hashlib.sha256(dump).hexdigest(), version_id=answer.get("VersionId"))
        assert forged["objects"][1]["key"] == tar_key
        forged.pop("signature")
        copied_tar = key[: -len(".dump")] + ".filestore.tar"
        tar_answer = env["s3"].copy_object(Bucket=BUCKET, Key=copied_tar, CopySource={"Bucket": BUCKET, "Key": tar_key})
        forged["objects"][1].update(key=copied_tar, version_id=tar_answer.get("VersionId"))
        signed = sign_sidecar(forged, env["s3_options"]["backup_signing_key"].encode())
        env["s3"].put_object(Bucket=BUCKET, Key=key + ".manifest.json", Body=json.dumps(signed).encode())
        keys[kind] = key
    before = world(env)
    for login in ("admin", "superuser"):
        tasks = [restore_task(env, login, key, "hb_toc_%s_%s" % (login[:2], kind)) for kind, key in keys.items()]
        tasks += [verify_task(env, login, key) for key in keys.values()]
        results = run(*tasks).results
        for kind, result in zip(keys, results[: len(keys)]):
            assert result.get("failed") and "pg_restore" in result["msg"], (login, kind, result.get("msg"))
            assert any(word in result["msg"] for word in ("permission denied", "must be superuser", "must be owner")), (login, kind, result["msg"])
        for kind, result in zip(keys, results[len(keys) :]):
            check = restore_check(result)
            assert result["verified"] is False and check and not check["ok"] and "pg_restore" in check["detail"], (login, kind, check)
        assert world(env) == before, login
        assert not session_roles(env)
