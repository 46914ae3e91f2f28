"""odoo_tenant and odoo_tenant_info against a real PostgreSQL 15, through ansible-playbook.

Each scenario: bad input, check mode, apply, check mode again, apply again, then the real state.
The connecting role is the harness's odoo_ops_admin: CREATEDB, CREATEROLE, not a superuser.
"""

import hashlib
import os
import shutil
import stat
import tempfile

import psycopg2
import pytest

from tests.harness.contract import assert_same_plan_keys
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import s3_client, s3_options
from tests.harness.pg import connect, query
from tests.harness.playbook import last_result as run
from tests.harness.playbook import run_tasks

FLEET = "tenant_fleet"  # each test module has its own roles: they share one PostgreSQL
GOLDEN = "golden18"  # a template as the first versions of the collection left them: owned by the fleet, open
SEALED = "golden18_sealed"  # a template as odoo_tenant state=template leaves it
TEMPLATE_ROLE = "tenant_template"  # owns SEALED: a role no fleet uses


@pytest.fixture(scope="module")
def pg(harness):
    state = harness.up("postgres")["postgres"]
    superuser = {"host": state["socket_dir"], "port": state["port"], "user": "postgres"}
    root = tempfile.mkdtemp(prefix="odoo_ops-filestore-")
    os.chmod(root, 0o755)
    with connect(superuser) as conn:
        conn.cursor().execute("CREATE ROLE %s LOGIN PASSWORD 'fleet-pw'" % FLEET)
    create_odoo_fixture(superuser, GOLDEN, owner=FLEET, filestore_root=root)
    with connect(superuser) as conn:
        conn.cursor().execute("CREATE ROLE %s NOLOGIN" % TEMPLATE_ROLE)
    create_odoo_fixture(superuser, SEALED, owner=TEMPLATE_ROLE, filestore_root=root)
    env = {
        "superuser": superuser,
        "root": root,
        "port": state["port"],
        "fleet": {"host": "127.0.0.1", "port": state["port"], "user": FLEET, "password": "fleet-pw"},
        "login": {"login_host": "127.0.0.1", "login_port": state["port"], "login_user": state["admin_user"], "login_password": state["admin_password"]},
    }
    sealed = run(tenant(env, name=SEALED, state="template", owner=None))
    assert sealed["changed"], sealed
    yield env
    shutil.rmtree(root, ignore_errors=True)


def tenant(pg, **args):
    options = dict(pg["login"], filestore_root=pg["root"], owner=FLEET)
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_tenant": {k: v for k, v in options.items() if v is not None}}


def params(pg, dbname):
    return dict(query(pg, "SELECT key, value FROM ir_config_parameter", dbname=dbname))


def world(pg):
    """What the tests compare before and after a refusal: databases, roles, comments, files."""
    databases = query(
        pg,
        "SELECT datname, pg_get_userbyid(datdba), datallowconn, datconnlimit, shobj_description(oid, 'pg_database'), datacl::text FROM pg_database ORDER BY 1",
    )
    roles = query(pg, "SELECT rolname FROM pg_roles ORDER BY 1")
    files = sorted(os.path.relpath(os.path.join(d, f), pg["root"]) for d, _s, fs in os.walk(pg["root"]) for f in fs)
    dirs = sorted(os.path.relpath(d, pg["root"]) for d, _s, _f in os.walk(pg["root"]))
    return databases, roles, files, dirs


def test_create_from_template_check_idempotent_and_real_state(pg):
    task = tenant(
        pg,
        name="acme",
        template=GOLDEN,
        base_url="https://acme.erp.test",
        connection_limit=25,
        statement_timeout=120,
        tier=1,
        filestore_owner="nobody",
        filestore_group="nogroup",
    )
    before = world(pg)
    check = run(task, check=True)
    assert check["changed"] and any("create database acme" in a for a in check["actions"])
    assert check["diff"]["before"] == {"exists": False, "filestore": False}
    assert check["diff"]["after"]["owner"] == FLEET and check["diff"]["after"]["connection_limit"] == 25
    assert world(pg) == before  # check mode created nothing

    first = run(task)
    assert first["changed"] and first["origin"] == {"template": GOLDEN, "copy": True, "sessions_cut": 0}, first.get("msg")
    assert_same_plan_keys(check, first, all_keys=True)
    assert first["steps"] == check["steps"] == check["actions"]
    assert run(task, check=True)["changed"] is False
    assert run(task)["changed"] is False

    owner, allow, limit, public = query(
        pg,
        "SELECT pg_get_userbyid(datdba), datallowconn, datconnlimit, "
        "has_database_privilege('public', datname, 'CONNECT') FROM pg_database "
        "WHERE datname = 'acme'",
    )[0]
    assert (owner, allow, limit, public) == (FLEET, True, 25, False)
    assert query(pg, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'acme'")[0][0] == [
        "statement_timeout=120s"
    ]
    copied, golden = params(pg, "acme"), params(pg, GOLDEN)
    assert copied["web.base.url"] == "https://acme.erp.test" and copied["web.base.url.freeze"] == "True"
    # Files: same names and bytes as the template's, each named by its SHA-1; folders 0700 owned by nobody.
    tenant_root = os.path.join(pg["root"], "acme")
    for store_fname, checksum in query(pg, "SELECT store_fname, checksum FROM ir_attachment WHERE store_fname IS NOT NULL", dbname="acme"):
        with open(os.path.join(tenant_root, store_fname), "rb") as handle:
            assert hashlib.sha1(handle.read()).hexdigest() == checksum == store_fname[3:]
    for folder, _dirs, _files in os.walk(tenant_root):
        info = os.stat(folder)
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == 65534, folder
    assert copied["database.uuid"] != golden["database.uuid"]


def test_template_filestore_from_another_fleets_folder(pg, tmp_path):
    """A dedicated fleet's tenant made from a template whose filestore is in another fleet's folder:
    source_filestore_root finds it, the files land under the tenant's own filestore_root."""
    other = str(tmp_path / "dedicated-filestore")
    os.makedirs(other)
    task = tenant(pg, name="solo", template=SEALED, base_url="https://solo.erp.test", filestore_root=other, source_filestore_root=pg["root"])
    planned = run(task, check=True)
    assert "actions" in planned, planned.get("msg")
    assert "build filestore %s/solo from %s/%s (copy)" % (other, pg["root"], SEALED) in planned["actions"]
    assert not planned.get("warnings"), planned.get("warnings")
    assert run(task)["changed"] and run(task)["changed"] is False
    rows = query(pg, "SELECT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL", dbname="solo")
    assert rows and all(os.path.isfile(os.path.join(other, "solo", fname)) for (fname,) in rows)
    assert not os.path.exists(os.path.join(pg["root"], "solo"))
    run(tenant(pg, name="solo", state="absent", filestore_root=other, force=True))


def test_limits_change_is_an_idempotent_update_with_a_diff(pg):
    base = dict(name="limits", template=GOLDEN, base_url="https://limits.erp.test")
    run(tenant(pg, connection_limit=10, **base))
    check = run(tenant(pg, connection_limit=30, statement_timeout=45, **base), check=True)
    assert check["changed"]
    assert check["diff"]["before"]["connection_limit"] == 10 and check["diff"]["after"]["connection_limit"] == 30
    assert check["diff"]["after"]["statement_timeout"] == "45s"
    assert query(pg, "SELECT datconnlimit FROM pg_database WHERE datname = 'limits'")[0][0] == 10
    assert run(tenant(pg, connection_limit=30, statement_timeout=45, **base))["changed"]
    assert run(tenant(pg, connection_limit=30, statement_timeout=45, **base))["changed"] is False
    assert query(pg, "SELECT datconnlimit FROM pg_database WHERE datname = 'limits'")[0][0] == 30


def test_copy_resets_identity_and_move_keeps_it(pg):
    run(tenant(pg, name="prod", template=GOLDEN, base_url="https://prod.erp.test"))
    with connect(pg["superuser"], "prod") as conn:  # give the live tenant an enterprise subscription
        conn.cursor().execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES ('database.enterprise_code', 'M-PROD-1') ON CONFLICT (key) DO UPDATE SET value = 'M-PROD-1'"
        )
    source = params(pg, "prod")

    copied = run(tenant(pg, name="prod_copy", source="prod", base_url="https://copy.erp.test"))
    assert copied["changed"], copied.get("msg")
    after = params(pg, "prod_copy")
    for key in ("database.uuid", "database.secret", "database.create_date"):
        assert after[key] != source[key], key
    assert after["web.base.url"] == "https://copy.erp.test"
    assert (after["base.login_cooldown_after"], after["base.login_cooldown_duration"]) == ("10", "60")
    assert "database.enterprise_code" not in after and after["database.expiration_reason"] == "copy"

    moved = run(tenant(pg, name="prod_moved", source="prod", copy=False))
    assert moved["changed"] and any("suspend source prod" in a for a in moved["actions"])
    after = params(pg, "prod_moved")
    for key in ("database.uuid", "database.secret", "database.enterprise_code", "web.base.url"):
        assert after[key] == source[key], key
    assert query(pg, "SELECT datallowconn FROM pg_database WHERE datname = 'prod'")[0][0] is False
    assert run(tenant(pg, name="prod_moved", source="prod", copy=False))["changed"] is False


def test_live_source_copied_online_by_default_and_cut_only_when_asked(pg):
    """A live tenant always holds pooled sessions (real Odoo keeps some): its copy is taken online by
    default; a file-level copy (strategy wal_log) needs terminate_connections."""
    run(tenant(pg, name="busy", template=GOLDEN, base_url="https://busy.erp.test"))
    with connect(pg["fleet"], "busy") as one, connect(pg["fleet"], "busy"):  # the fleet's Odoo is connected
        online = run(tenant(pg, name="busy_online", source="busy", base_url="https://bo.erp.test"))
        assert online["changed"] and online["strategy"] == "dump" and online["origin"]["sessions_cut"] == 0, online
        one.cursor().execute("SELECT 1")  # the live tenant's sessions were not cut
        assert params(pg, "busy_online")["web.base.url"] == "https://bo.erp.test"
        assert params(pg, "busy_online")["database.uuid"] != params(pg, "busy")["database.uuid"]
        assert query(pg, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", dbname="busy_online") == [(FLEET,)]
        assert query(pg, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'odoo\\_ops\\_s\\_%%'")[0][0] == 0
        before = world(pg)
        refused = run(tenant(pg, name="busy_copy", source="busy", base_url="https://bc.erp.test", strategy="wal_log"))
        assert refused.get("failed") and "2 open session(s)" in refused["msg"] and "terminate_connections" in refused["msg"]
        assert world(pg) == before
        done = run(tenant(pg, name="busy_copy", source="busy", base_url="https://bc.erp.test", terminate_connections=True))
        assert done["changed"] and done["origin"]["sessions_cut"] == 2
    assert query(pg, "SELECT datallowconn FROM pg_database WHERE datname = 'busy'")[0][0] is True  # reopened


def test_neutralized_staging_copy(pg):
    run(tenant(pg, name="live", template=GOLDEN, base_url="https://live.erp.test"))
    staging = run(tenant(pg, name="live_staging", source="live", neutralize=True, tier=3, base_url="https://live-staging.erp.test"))
    assert staging["changed"] and staging["neutralized"]
    db = "live_staging"
    assert params(pg, db)["database.is_neutralized"] == "true"
    assert query(pg, "SELECT smtp_host, smtp_port FROM ir_mail_server WHERE active", dbname=db) == [("invalid", 1025)]
    assert query(pg, "SELECT c.cron_name FROM ir_cron c WHERE c.active", dbname=db) == [("Base: Auto-vacuum internal data",)]
    assert query(pg, "SELECT count(*) FROM ir_act_server WHERE state = 'webhook' AND webhook_url LIKE 'https://%%'", dbname=db)[0][0] == 0
    providers = query(pg, "SELECT state FROM payment_provider ORDER BY id", dbname=db)
    assert providers == [("disabled",), ("disabled",), ("test",)]
    assert query(pg, "SELECT bool_or(prod_environment) FROM delivery_carrier", dbname=db)[0][0] is False
    assert query(pg, "SELECT bool_or(active) FROM fetchmail_server", dbname=db)[0][0] is False
    assert query(pg, "SELECT account_token FROM iap_account", dbname=db)[0][0] == "tok-123+disabled"
    # The production tenant is untouched.
    assert query(pg, "SELECT count(*) FROM ir_mail_server WHERE active", dbname="live")[0][0] == 2
    again = run(tenant(pg, name="live_staging", source="live", neutralize=True, tier=3, base_url="https://live-staging.erp.test"))
    assert again["changed"] is False


def test_neutralize_on_an_existing_tenant(pg):
    run(tenant(pg, name="uat", template=GOLDEN, base_url="https://uat.erp.test", tier=2))
    assert query(pg, "SELECT count(*) FROM ir_mail_server WHERE active", dbname="uat")[0][0] == 2
    check = run(tenant(pg, name="uat", neutralize=True, tier=2), check=True)
    assert check["changed"] and query(pg, "SELECT count(*) FROM ir_mail_server WHERE active", dbname="uat")[0][0] == 2
    assert run(tenant(pg, name="uat", neutralize=True, tier=2))["changed"]
    assert run(tenant(pg, name="uat", neutralize=True, tier=2))["changed"] is False


def test_dedicated_tenant_role_isolation_and_secrets(pg, tmp_path):
    password_file = str(tmp_path / "globex.pass")
    secret = "Owner-" + os.urandom(6).hex()
    tasks = [
        tenant(pg, name="globex", template=GOLDEN, pattern="dedicated", owner=None, owner_password_file=password_file, base_url="https://globex.erp.test"),
        tenant(pg, name="initech", template=GOLDEN, pattern="dedicated", owner=None, owner_password=secret, base_url="https://initech.erp.test"),
    ]
    result = run_tasks(tasks, verbosity=3)
    assert all(r["changed"] for r in result.results), result
    generated = open(password_file).read().strip()
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    for value in (generated, secret, pg["login"]["login_password"]):
        assert value not in result.output and value not in result.stderr
    assert query(pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'globex'")[0][0] == "globex"
    assert query(pg, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'globex'")[0] == (False, False, False)
    # The tenant's own role owns its tables (not the template's owner) and can use them.
    own = {"host": "127.0.0.1", "port": pg["port"], "user": "globex", "password": generated}
    with connect(own, "globex") as conn, conn.cursor() as cur:
        cur.execute("UPDATE res_users SET active = active")
        cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert cur.fetchall() == [("globex",)]
    # ... and cannot reach another tenant's database; the fleet role cannot reach it either.
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        psycopg2.connect(dbname="initech", **own)
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        psycopg2.connect(dbname="globex", **pg["fleet"])
    removed = run(tenant(pg, name="globex", state="absent", owner=None, force=True))
    assert removed["removed"]["role"] == "globex"
    assert query(pg, "SELECT count(*) FROM pg_roles WHERE rolname = 'globex'")[0][0] == 0


def test_suspend_and_resume(pg):
    run(tenant(pg, name="paused", template=GOLDEN, base_url="https://paused.erp.test"))
    holder = psycopg2.connect(dbname="paused", **pg["fleet"])
    check = run(tenant(pg, name="paused", state="suspended"), check=True)
    assert check["changed"] and check["diff"]["after"]["allow_connections"] is False
    assert query(pg, "SELECT datallowconn FROM pg_database WHERE datname = 'paused'")[0][0] is True
    suspended = run(tenant(pg, name="paused", state="suspended"))
    assert suspended["changed"] and suspended["sessions_cut"] == 1
    with pytest.raises(psycopg2.Error):
        holder.cursor().execute("SELECT 1")
    with pytest.raises(psycopg2.OperationalError, match="not currently accepting connections"):
        psycopg2.connect(dbname="paused", **pg["fleet"])
    assert run(tenant(pg, name="paused", state="suspended"))["changed"] is False
    assert run(tenant(pg, name="paused"))["changed"]
    assert run(tenant(pg, name="paused"))["changed"] is False
    with connect(pg["superuser"], "paused"):
        pass


def test_remove_needs_a_recent_final_backup(pg, harness):
    """The final backup counts as the store and its signed sidecar say, never as the task says."""
    s3 = harness.up("s3")["s3"]
    store = s3_client(s3)
    store.create_bucket(Bucket="tenant-final")
    run(tenant(pg, name="leaving", template=GOLDEN, base_url="https://leaving.erp.test"))
    backup_task = {"sysgenpro.odoo_ops.odoo_backup": dict(pg["login"], **s3_options(s3), name="leaving", bucket="tenant-final", filestore_root=pg["root"])}
    taken = run(backup_task)
    assert taken["changed"], taken
    other = run(tenant(pg, name="other_t", template=GOLDEN, base_url="https://other.erp.test"))
    assert other["changed"]
    other_backup = run(dict(backup_task, **{"sysgenpro.odoo_ops.odoo_backup": dict(backup_task["sysgenpro.odoo_ops.odoo_backup"], name="other_t")}))
    real = {k: taken[k] for k in ("bucket", "key", "tenant", "created")}
    before = world(pg)
    for backup, message in [
        (None, "without a final backup"),
        ({"tenant": "leaving", "created": "2099-01-01T00:00:00+00:00"}, "must name the backup"),
        (dict(real, key="odoo/leaving/leaving_20990101T000000Z.zip"), "does not exist"),
        (dict(real, key=other_backup["key"]), "not of tenant leaving"),
    ]:
        refused = run(tenant(pg, name="leaving", state="absent", final_backup=backup, **s3_options(s3)))
        assert refused.get("failed") and message in refused["msg"], refused
        assert world(pg) == before
    # Older than allowed: judged by the sidecar's time.
    refused = run(tenant(pg, name="leaving", state="absent", final_backup=real, final_backup_max_age=0, **s3_options(s3)))
    assert refused.get("failed") and "older than" in refused["msg"], refused
    # A task that claims a fresh time for an old backup does not change what counts.
    check = run(tenant(pg, name="leaving", state="absent", final_backup=real, **s3_options(s3)), check=True)
    assert check["changed"] and world(pg) == before
    removed = run(tenant(pg, name="leaving", state="absent", final_backup=real, **s3_options(s3)))
    assert removed["changed"] and removed["removed"]["database_bytes"] > 0 and removed["removed"]["filestore_bytes"] > 0
    assert removed["final_backup"]["checked"] is True and removed["final_backup"]["created"] == taken["created"]
    assert not os.path.exists(os.path.join(pg["root"], "leaving"))
    assert query(pg, "SELECT count(*) FROM pg_database WHERE datname = 'leaving'")[0][0] == 0
    assert run(tenant(pg, name="leaving", state="absent", final_backup=real, **s3_options(s3)))["changed"] is False


def test_bad_input_changes_nothing(pg, tmp_path):
    run(tenant(pg, name="existing", template=GOLDEN, base_url="https://existing.erp.test"))
    read_only = tmp_path / "ro"
    read_only.mkdir()
    cases = [
        (dict(name="Bad-Name", template=GOLDEN, base_url="https://x.test"), "is not a valid tenant id"),
        (dict(name="x" * 64, template=GOLDEN, base_url="https://x.test"), "is not a valid tenant id"),
        (dict(name="newline\n", template=GOLDEN, base_url="https://x.test"), "is not a valid tenant id"),
        (dict(name="badurl", template=GOLDEN, base_url="ftp://x.test"), "needs a scheme (http|https://host:port)"),
        (dict(name="badurl", template=GOLDEN, base_url="javascript:alert(1)"), "needs a scheme"),
        (dict(name="badurl", template=GOLDEN, base_url="https://x.test/web"), "must not carry a path"),
        (dict(name="badurl", template=GOLDEN, base_url="https://x.test\n"), "contains white space, a control character"),
        (dict(name="badowner", template=GOLDEN, owner=FLEET + "\n", base_url="https://x.test"), "is not a valid tenant id"),
        (dict(name="nope", template="no_such_template", base_url="https://x.test"), "template database no_such_template does not exist"),
        (dict(name="existing", source=GOLDEN, base_url="https://x.test"), "already exists and is not a clone of"),
        (dict(name="nourl", template=GOLDEN), "base_url is required"),
        (dict(name="noowner", template=GOLDEN, owner=None, base_url="https://x.test"), "owner is required"),
        (dict(name="ghost", template=GOLDEN, owner="no_such_role", base_url="https://x.test"), "does not exist"),
        (dict(name="ghost", state="suspended"), "does not exist, so it cannot be suspended"),
        (dict(name="existing", state="absent"), "without a final backup"),
        (
            dict(name="hl", template=GOLDEN, base_url="https://x.test", filestore_copy="hardlink", filestore_owner="nobody"),
            "hardlink would leave the files owned",
        ),
        (dict(name="noroot", template=GOLDEN, base_url="https://x.test", filestore_root="/nonexistent/fs"), "filestore_root /nonexistent/fs does not exist"),
    ]
    before = world(pg)
    for args, message in cases:
        result = run(tenant(pg, **args))
        assert result.get("failed") and message in result["msg"], (args, result)
        assert result.get("changed") is False
        assert world(pg) == before, args


def test_template_with_a_live_connection_is_refused(pg):
    before = world(pg)
    with connect(pg["fleet"], GOLDEN):
        result = run(tenant(pg, name="fromlive", template=GOLDEN, base_url="https://x.test"))
        assert result.get("failed") and "1 open session(s)" in result["msg"]
        assert world(pg) == before


def test_unwritable_filestore_root_is_refused(pg, tmp_path):
    root = tempfile.mkdtemp(prefix="odoo_ops-ro-fs-")
    os.chmod(root, 0o755)  # root's; the playbook runs as nobody below
    try:
        task = tenant(pg, name="rofs", template=GOLDEN, base_url="https://x.test", filestore_root=root)
        result = run(task, as_user="nobody") if os.geteuid() == 0 else None
        if result is None:
            os.chmod(root, 0o555)
            result = run(task)
        assert result.get("failed") and "is not writable" in result["msg"], result
        assert os.listdir(root) == []
        assert query(pg, "SELECT count(*) FROM pg_database WHERE datname = 'rofs'")[0][0] == 0
    finally:
        shutil.rmtree(root)


def test_unreachable_server_and_wrong_password(pg):
    unreachable = run(tenant(pg, name="x", template=GOLDEN, base_url="https://x.test", login_port=1))
    assert unreachable.get("failed") and "127.0.0.1:1" in unreachable["msg"]
    wrong = "Wrong-" + os.urandom(6).hex()
    denied = run_tasks([tenant(pg, name="x", template=GOLDEN, base_url="https://x.test", login_password=wrong)], verbosity=3)
    result = denied.results[-1]
    assert result.get("failed") and "password authentication failed" in result["msg"]
    assert wrong not in denied.output and wrong not in denied.stderr


def test_failure_half_way_leaves_nothing_behind(pg):
    # A dangling symlink in the template's filestore makes the filestore copy fail after the
    # database was created: the database, the staged copy and the source's state must be undone.
    broken = os.path.join(pg["root"], GOLDEN, "zz_broken")
    os.symlink("/nonexistent/odoo_ops", broken)
    try:
        before = world(pg)
        result = run(tenant(pg, name="halfway", template=GOLDEN, base_url="https://x.test"))
        assert result.get("failed") and "build filestore" in result["msg"] and "undone" in result["msg"], result
        assert result.get("changed") is False
        assert world(pg) == before
        assert not [n for n in os.listdir(pg["root"]) if "halfway" in n]
    finally:
        os.unlink(broken)


def test_tenant_info_lists_tenants(pg):
    run(tenant(pg, name="info_a", template=GOLDEN, base_url="https://a.erp.test", tier=2))
    run(tenant(pg, name="info_b", template=GOLDEN, base_url="https://b.erp.test", tier=2))
    run(tenant(pg, name="info_b", state="suspended"))
    task = {"sysgenpro.odoo_ops.odoo_tenant_info": dict(pg["login"], tier=2, filestore_root=pg["root"])}
    result = run(task)
    assert_same_plan_keys(run(task, check=True), result, all_keys=True)
    found = {t["name"]: t for t in result["tenants"]}
    assert {"info_a", "info_b"} <= set(found)
    assert found["info_a"]["state"] == "active" and found["info_b"]["state"] == "suspended"
    assert found["info_a"]["odoo_version"] == "18.0.1.3" and found["info_a"]["neutralized"] is False
    assert found["info_b"]["odoo_version"] is None  # cannot be read while suspended
    assert found["info_a"]["database_bytes"] > 0 and found["info_a"]["filestore_bytes"] > 0
    assert found["info_a"]["metadata"]["template"] == GOLDEN and found["info_a"]["managed"]
    assert all(t["metadata"].get("tier") == 2 for t in result["tenants"])
    owned = run({"sysgenpro.odoo_ops.odoo_tenant_info": dict(pg["login"], owner=FLEET, name=GOLDEN)})
    assert [t["name"] for t in owned["tenants"]] == [GOLDEN] and owned["tenants"][0]["managed"] is False


def test_concurrent_session_during_clone_is_refused_new_connections(pg):
    """While a live source is copied it refuses new connections, then it is reopened."""
    run(tenant(pg, name="hot", template=GOLDEN, base_url="https://hot.erp.test"))
    holder = psycopg2.connect(dbname="hot", **pg["fleet"])
    result = run(tenant(pg, name="hot_copy", source="hot", terminate_connections=True, base_url="https://hc.test"))
    assert result["changed"] and result["origin"]["sessions_cut"] == 1
    with pytest.raises(psycopg2.Error):  # the session was cut
        holder.cursor().execute("SELECT 1")
    with connect(pg["superuser"], "hot"):  # and the source accepts connections again
        pass


def test_batch_plans_every_tenant_before_applying_any(pg):
    before = world(pg)
    refused = run(
        tenant(
            pg,
            template=GOLDEN,
            tenants=[
                {"name": "batch_ok", "base_url": "https://ok.erp.test"},
                {"name": "batch_bad", "template": "no_such_template", "base_url": "https://bad.erp.test"},
            ],
        )
    )
    assert refused.get("failed") and "no_such_template does not exist" in refused["msg"]
    assert world(pg) == before  # batch_ok was not created either
    doubled = run(tenant(pg, template=GOLDEN, tenants=[{"name": "twice", "base_url": "https://a.test"}, {"name": "twice", "base_url": "https://b.test"}]))
    assert doubled.get("failed") and "lists twice more than once" in doubled["msg"]


def test_batch_creates_converges_and_reports_each_tenant(pg):
    batch = tenant(
        pg,
        template=GOLDEN,
        connection_limit=15,
        tier=2,
        tenants=[
            {"name": "fleet_a", "base_url": "https://a.erp.test"},
            {"name": "fleet_b", "base_url": "https://b.erp.test", "connection_limit": 30},
            {"name": "fleet_c", "base_url": "https://c.erp.test", "tier": 3},
        ],
    )
    before = world(pg)
    check = run(batch, check=True)
    assert check["changed"] and [t["name"] for t in check["tenants"]] == ["fleet_a", "fleet_b", "fleet_c"]
    assert len(check["diff"]) == 3 and check["diff"][1]["after_header"] == "fleet_b"
    assert world(pg) == before
    first = run(batch)
    assert first["changed"] and all(t["changed"] for t in first["tenants"])
    limits = dict(query(pg, "SELECT datname, datconnlimit FROM pg_database WHERE datname LIKE 'fleet_%%'"))
    assert limits == {"fleet_a": 15, "fleet_b": 30, "fleet_c": 15}
    assert params(pg, "fleet_c")["web.base.url"] == "https://c.erp.test"
    again = run(batch)
    assert again["changed"] is False and not any(t["changed"] for t in again["tenants"])
    # Entries that do not restate tier or limits keep what the tenants have.
    suspend_b = run(tenant(pg, tenants=[{"name": "fleet_a"}, {"name": "fleet_b", "state": "suspended"}]))
    assert [t["changed"] for t in suspend_b["tenants"]] == [False, True]
    assert query(pg, "SELECT shobj_description(oid, 'pg_database')::json->>'tier' FROM pg_database WHERE datname = 'fleet_a'")[0][0] == "2"
