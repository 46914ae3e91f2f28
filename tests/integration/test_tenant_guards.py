"""What odoo_tenant refuses or serialises so that one run, one input or one outside actor cannot
hurt another tenant (issue #14): concurrent runs on one tenant, an undo that would drop what
another created, removal of what is not a tenant, and a golden template any fleet could reach."""

import json
import os
import shutil
import stat
import tempfile
import threading
import time
import zlib

import psycopg2
import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import LOCK_CLASS
from tests.harness.odoo_fixture import create_odoo_fixture
from tests.harness.options import login_options, s3_client, s3_options
from tests.harness.pg import connect, query
from tests.harness.playbook import last_result as run
from tests.harness.playbook import run_tasks

FLEET = "guard_fleet"
OTHER_FLEET = "guard_other_fleet"
TEMPLATE_ROLE = "guard_template"
TEMPLATE = "guard_golden"


@pytest.fixture(scope="module")
def env(harness):
    state = harness.up("postgres")["postgres"]
    superuser = {"host": state["socket_dir"], "port": state["port"], "user": "postgres"}
    root = tempfile.mkdtemp(prefix="odoo_ops-guard-fs-")
    os.chmod(root, 0o755)
    with connect(superuser) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE ROLE %s LOGIN PASSWORD 'fleet-pw'; CREATE ROLE %s LOGIN PASSWORD 'other-pw'; CREATE ROLE %s NOLOGIN" % (FLEET, OTHER_FLEET, TEMPLATE_ROLE)
        )
    create_odoo_fixture(superuser, TEMPLATE, owner=TEMPLATE_ROLE, filestore_root=root)
    os.chmod(os.path.join(root, TEMPLATE), 0o755)  # as an Odoo container may leave it
    data = {
        "state": state,
        "superuser": superuser,
        "root": root,
        "login": login_options(state),
    }
    yield data
    shutil.rmtree(root, ignore_errors=True)


def tenant(env, **args):
    options = dict(env["login"], filestore_root=env["root"], owner=FLEET)
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_tenant": {k: v for k, v in options.items() if v is not None}}


def databases(env):
    return query(
        env,
        "SELECT datname, pg_get_userbyid(datdba), datallowconn, datistemplate, datacl::text, shobj_description(oid, 'pg_database') FROM pg_database ORDER BY 1",
    )


def test_template_sealed_out_of_every_fleets_reach(env):
    """state=template: a template no Odoo process can serve or hold open, PUBLIC without rights, its
    owner a role no fleet uses, its filestore 0700; idempotent, check mode first."""
    seal = tenant(env, name=TEMPLATE, state="template", owner=None)
    check = run(seal, check=True)
    assert check["changed"] and query(env, "SELECT datallowconn FROM pg_database WHERE datname = %s", (TEMPLATE,)) == [(True,)]
    done = run(seal)
    assert done["changed"] and done["actions"] == check["actions"], (done, check)
    allow, is_template, public, comment = query(
        env,
        "SELECT datallowconn, datistemplate, has_database_privilege('public', datname, 'CONNECT'), "
        "shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (TEMPLATE,),
    )[0]
    assert (allow, is_template, public) == (False, True, False)
    assert json.loads(comment)["kind"] == "template"
    assert stat.S_IMODE(os.stat(os.path.join(env["root"], TEMPLATE)).st_mode) == 0o700
    assert run(seal)["changed"] is False
    # No fleet can connect to it (so no host name serves it and no session blocks tenant creation).
    for user, password in ((FLEET, "fleet-pw"), (OTHER_FLEET, "other-pw")):
        with pytest.raises(psycopg2.OperationalError, match="not currently accepting connections"):
            psycopg2.connect(host="127.0.0.1", port=env["state"]["port"], user=user, password=password, dbname=TEMPLATE, connect_timeout=5).close()
    # Tenants are made from it by the admin role (not a superuser), owned by their fleet.
    made = run(tenant(env, name="guard_acme", template=TEMPLATE, base_url="https://acme.guard.test"))
    assert made["changed"] and not made.get("warnings"), made
    assert query(env, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", dbname="guard_acme") == [(FLEET,)]
    # A fleet's role cannot own a template: it would change what every future tenant inherits.
    query(env, "CREATE DATABASE guard_fleet_tmpl OWNER %s TEMPLATE template0" % FLEET)
    refused = run(tenant(env, name="guard_fleet_tmpl", state="template", owner=None))
    assert refused.get("failed") and "a role no fleet uses" in refused["msg"], refused
    # A template is not a tenant: never converged, copied as a source, or removed.
    before = databases(env)
    for args, words in (
        (dict(name=TEMPLATE, base_url="https://x.test"), "is a template, not a tenant"),
        (dict(name="guard_from_tmpl", source=TEMPLATE, base_url="https://x.test"), "not a tenant managed"),
        (dict(name=TEMPLATE, state="absent", force=True), "is a template"),
    ):
        for check_mode in (True, False):
            result = run(tenant(env, **args), check=check_mode)
            assert result.get("failed") and words in result["msg"], (args, result)
    assert databases(env) == before


def test_removal_only_of_managed_tenants_in_check_mode_too(env):
    query(env, "CREATE DATABASE guard_plain TEMPLATE template0")
    before = databases(env)
    for name, words in (
        ("guard_plain", "not a tenant managed"),
        ("template1", "PostgreSQL's own"),
        ("postgres", "PostgreSQL's own"),
        (TEMPLATE, "is a template"),
    ):
        for check_mode in (True, False):
            result = run(tenant(env, name=name, state="absent", force=True), check=check_mode)
            assert result.get("failed") and words in result["msg"], (name, check_mode, result)
    assert databases(env) == before


def test_two_runs_creating_one_tenant_are_serialised(env):
    """Run at once, both converge on one tenant; neither undoes the other's work."""
    task = tenant(env, name="guard_race", template=TEMPLATE, base_url="https://race.guard.test")
    results = [None, None]

    def one(index):
        results[index] = run(task)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert all(r is not None and not r.get("failed") for r in results), results
    assert sorted(r["changed"] for r in results) == [False, True], results
    assert query(env, "SELECT count(*) FROM pg_database WHERE datname = 'guard_race'") == [(1,)]


def test_a_held_lock_makes_a_run_wait_then_give_up_without_changing_anything(env):
    """Another run on the same tenant (its advisory lock held) makes this one wait lock_timeout, then
    refuse naming the tenant."""
    key = zlib.crc32(b"guard_locked") - 2**31
    before = databases(env)
    with connect(env["superuser"]) as holder, holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key))
        started = time.monotonic()
        result = run(tenant(env, name="guard_locked", template=TEMPLATE, base_url="https://l.guard.test", lock_timeout=2))
        waited = time.monotonic() - started
    assert result.get("failed") and "guard_locked is being changed by another run" in result["msg"], result
    assert waited >= 2
    assert databases(env) == before
    assert run(tenant(env, name="guard_locked", template=TEMPLATE, base_url="https://l.guard.test"))["changed"]


def test_undo_never_drops_a_database_this_run_did_not_create(env, harness):
    """While a restore downloads its backup, something else (an Odoo server whose db_name lists the
    tenant, an operator) creates a database of that name. The run fails; the other database stays."""
    s3 = harness.up("s3")["s3"]
    client = s3_client(s3)
    client.create_bucket(Bucket="guard")
    big = os.path.join(env["root"], "guard_big")
    create_odoo_fixture(env["superuser"], "guard_big", owner=FLEET, filestore_root=env["root"], filestore_mb=120)
    query(env, "COMMENT ON DATABASE guard_big IS %s", (json.dumps({"managed_by": "sysgenpro.odoo_ops", "tenant": "guard_big"}),))
    made = run(
        {"sysgenpro.odoo_ops.odoo_backup": dict(env["login"], **s3_options(s3), name="guard_big", bucket="guard", filestore_root=env["root"])}, timeout=600
    )
    assert made["changed"], made
    restore = tenant(env, name="guard_taken", base_url="https://taken.guard.test", **s3_options(s3), from_backup={"bucket": "guard", "key": made["key"]})
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=run(restore, timeout=600)))
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not [n for n in os.listdir(env["root"]) if n.startswith(".odoo-restore-")]:
        time.sleep(0.02)
    query(env, "CREATE DATABASE guard_taken TEMPLATE template0")
    query(env, "CREATE TABLE someone_elses (x int)", dbname="guard_taken")
    worker.join(600)
    result = outcome["result"]
    assert result.get("failed") and "already exists" in result["msg"], result
    assert query(env, "SELECT count(*) FROM pg_tables WHERE tablename = 'someone_elses'", dbname="guard_taken") == [(1,)]
    assert not os.path.exists(os.path.join(env["root"], "guard_taken"))
    assert not [n for n in os.listdir(env["root"]) if n.startswith(".")]
    shutil.rmtree(big, ignore_errors=True)


def test_an_owner_that_could_escalate_is_refused(env):
    """A tenant's SQL (a restored dump, its Odoo's addons) runs with its owner's rights and may SET
    ROLE to any role the owner belongs to: an owner holding CREATEROLE or CREATEDB, a member (even
    indirect) of pg_execute_server_program or of another predefined role, or the collection's own
    login role is refused - for a new tenant and for work on an existing one - and nothing changes."""
    query(
        env,
        "CREATE ROLE guard_exec NOLOGIN; GRANT pg_execute_server_program TO guard_exec; "
        "CREATE ROLE guard_nested NOLOGIN IN ROLE guard_exec; CREATE ROLE guard_creator NOLOGIN CREATEROLE; "
        "CREATE ROLE guard_reader NOLOGIN IN ROLE pg_read_all_data; "
        "GRANT guard_exec, guard_nested, guard_creator, guard_reader TO %s" % env["state"]["admin_user"],
    )
    create_odoo_fixture(env["superuser"], "guard_owned_exec", owner="guard_nested")
    query(env, "CREATE ROLE guard_shared NOLOGIN; GRANT guard_shared TO %s" % env["state"]["admin_user"])
    query(env, "CREATE DATABASE guard_shared_t1 OWNER guard_shared")
    query(env, "COMMENT ON DATABASE guard_owned_exec IS %s", (json.dumps({"managed_by": "sysgenpro.odoo_ops", "tenant": "guard_owned_exec"}),))
    before = (databases(env), query(env, "SELECT rolname FROM pg_roles ORDER BY 1"), query(env, "SELECT roleid, member FROM pg_auth_members ORDER BY 1, 2"))
    cases = {
        "guard_exec": "member of pg_execute_server_program",
        "guard_nested": "member of pg_execute_server_program",
        "guard_creator": "has CREATEROLE",
        "guard_reader": "member of pg_read_all_data",
        "pg_execute_server_program": "is a predefined role",
        env["state"]["admin_user"]: "has CREATEROLE, CREATEDB",
        "postgres": "is a superuser",
        "odoo_ops_sessions": "session role group",
    }
    tasks = [dict(tenant(env, name="guard_escalate", template=TEMPLATE, owner=owner, base_url="https://e.guard.test"), ignore_errors=True) for owner in cases]
    # A dedicated tenant named like a role that already owns another database (its owner defaults to its name).
    cases["guard_shared"] = "already exists and owns guard_shared_t1"
    tasks.append(
        dict(tenant(env, name="guard_shared", template=TEMPLATE, pattern="dedicated", owner=None, base_url="https://s.guard.test"), ignore_errors=True)
    )
    for check in (True, False):
        for (owner, word), result in zip(cases.items(), run_tasks(tasks, check=check).results):
            assert result.get("failed") and word in result["msg"] and owner in result["msg"], (owner, check, result)
    for check in (True, False):
        existing = run(tenant(env, name="guard_owned_exec", owner=None, base_url="https://moved.guard.test"), check=check)
        assert existing.get("failed") and "guard_owned_exec's owner guard_nested is not a plain role" in existing["msg"], existing
        assert "member of pg_execute_server_program" in existing["msg"], existing
    assert (
        databases(env),
        query(env, "SELECT rolname FROM pg_roles ORDER BY 1"),
        query(env, "SELECT roleid, member FROM pg_auth_members ORDER BY 1, 2"),
    ) == before
    query(env, "DROP DATABASE guard_owned_exec")
    query(env, "DROP DATABASE guard_shared_t1")
