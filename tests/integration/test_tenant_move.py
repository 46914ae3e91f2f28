"""odoo_tenant_move on the harness's PostgreSQL (no containers): the hand-over of a tenant's database
between two fleet roles in both directions - to a fleet that serves by name (access first, ownership
after the switch) and back to one that lists by owner (ownership first, the old role keeping access) -
with what each role may do at each phase, the owner's own rights intact, the filestore moved and
compared, check mode from the same plan, a re-run changing nothing, and hostile input refused before
anything changes. The move on the deployed platform with real Odoo under load:
test_site.py::test_a_tenant_moved_to_its_own_fleet_and_back_under_load."""

import json
import os
import shutil
import tempfile

import psycopg2
import pytest

from tests.harness.odoo_fixture import create_fleet_role, create_odoo_fixture
from tests.harness.pg import query
from tests.harness.options import login_options
from tests.harness.playbook import last_result as run

TENANT = "mvt_globex"
NEIGHBOUR = "mvt_acme"
SHARED, OWN = "mvshared", "mvown"  # fleets; their roles odoo_mvshared, odoo_mvown


@pytest.fixture(scope="module")
def env(harness):
    state = harness.up("postgres")["postgres"]
    superuser = {"host": state["socket_dir"], "port": state["port"], "user": "postgres"}
    root = tempfile.mkdtemp(prefix="odoo_ops-move-fs-")
    for fleet in (SHARED, OWN):
        role = "odoo_" + fleet
        create_fleet_role(superuser, role, member=state["admin_user"])
        query({"superuser": superuser}, "ALTER ROLE \"%s\" PASSWORD 'pw-%s'" % (role, fleet))
        os.makedirs(os.path.join(root, fleet, "filestore"))
    for name in (TENANT, NEIGHBOUR):
        create_odoo_fixture(superuser, name, owner="odoo_" + SHARED, filestore_root=os.path.join(root, SHARED, "filestore"))
        metadata = {"managed_by": "sysgenpro.odoo_ops", "tenant": name, "pattern": "shared", "tier": 1}
        query(
            {"superuser": superuser},
            "COMMENT ON DATABASE %s IS '%s'; REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC" % (name, json.dumps(metadata), name),
        )
    data = {
        "state": state,
        "superuser": superuser,
        "root": root,
        "login": login_options(state),
    }
    yield data
    shutil.rmtree(root, ignore_errors=True)


def move(env, phase, fleet, name=TENANT, **args):
    options = dict(env["login"], name=name, fleet=fleet, phase=phase, fleets_root=env["root"])
    options.update(args)
    return {"sysgenpro.odoo_ops.odoo_tenant_move": options}


def can(env, fleet, dbname=TENANT):
    """What fleet's role can do in dbname: 'none' (no connection), 'read-write' or 'denied' (connects, no table rights)."""
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=env["state"]["port"], user="odoo_" + fleet, password="pw-" + fleet, dbname=dbname, connect_timeout=5)
    except psycopg2.OperationalError:
        return "none"
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE res_partner SET name = name WHERE id = (SELECT min(id) FROM res_partner)")
            cur.execute("SELECT nextval('base_registry_signaling')")
        return "read-write"
    except psycopg2.Error:
        return "denied"
    finally:
        conn.close()


def files(env, fleet, name=TENANT):
    folder = os.path.join(env["root"], fleet, "filestore", name)
    if not os.path.isdir(folder):
        return None
    found = {}
    for parent, _dirs, names in os.walk(folder):
        for each in names:
            with open(os.path.join(parent, each), "rb") as handle:
                found[os.path.relpath(os.path.join(parent, each), folder)] = handle.read()
    return found


def owner(env, name=TENANT):
    return query(env, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))[0][0]


def neighbour(env):
    return (owner(env, NEIGHBOUR), can(env, SHARED, NEIGHBOUR), can(env, OWN, NEIGHBOUR), files(env, SHARED, NEIGHBOUR) is not None)


def test_hostile_or_unknown_input_changes_nothing(env):
    before = (owner(env), neighbour(env))
    for args, words in (
        (dict(name='x"; DROP DATABASE mvt_acme; --'), "not a valid tenant id"),
        (dict(fleet="../mvshared"), "not a valid fleet name"),
        (dict(fleet="nosuchfleet"), "has no role odoo_nosuchfleet"),
        (dict(name="postgres"), "not a tenant managed"),
        (dict(name="mvt_nothing"), "has no database"),
    ):
        options = dict(dict(name=TENANT, fleet=OWN), **args)
        result = run(move(env, "prepare", options.pop("fleet"), name=options.pop("name")))
        assert result.get("failed") and words in result["msg"], (args, result)
    finish = run(move(env, "finish", OWN))
    assert finish.get("failed") and "run the prepare phase first" in finish["msg"], finish
    assert (owner(env), neighbour(env)) == before


def test_to_a_fleet_serving_by_name_and_back(env):
    original = files(env, SHARED)
    untouched = neighbour(env)
    assert original and untouched == ("odoo_mvshared", "read-write", "none", True)
    # Prepare: the target (serving by name) gets access; the source keeps owning and serving.
    check = run(move(env, "prepare", OWN, serve_by_name=True), check=True)
    assert check["changed"] and check["source_fleet"] == SHARED and can(env, OWN) == "none" and files(env, OWN) is None
    done = run(move(env, "prepare", OWN, serve_by_name=True))
    assert done["steps"] == check["steps"], (done, check)
    assert owner(env) == "odoo_mvshared" and can(env, SHARED) == "read-write" and can(env, OWN) == "read-write"
    assert files(env, OWN) == original
    assert run(move(env, "prepare", OWN, serve_by_name=True))["changed"] is False
    # Finish: owned by the target with its own rights intact; the source has none; one folder.
    check = run(move(env, "finish", OWN), check=True)
    done = run(move(env, "finish", OWN))
    assert done["changed"] and done["steps"] == check["steps"], (done, check)
    assert owner(env) == "odoo_mvown" and can(env, OWN) == "read-write" and can(env, SHARED) == "none"
    assert files(env, OWN) == original and files(env, SHARED) is None
    metadata = json.loads(query(env, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (TENANT,))[0][0])
    assert metadata["fleet"] == OWN and metadata["moved_from"] == SHARED and "move" not in metadata
    for phase in ("prepare", "finish"):
        assert run(move(env, phase, OWN))["changed"] is False
    # Back to a fleet that lists by owner: ownership first, the by-name fleet keeping access.
    run(move(env, "prepare", SHARED))
    assert owner(env) == "odoo_mvshared" and can(env, SHARED) == "read-write" and can(env, OWN) == "read-write"
    run(move(env, "finish", SHARED))
    assert owner(env) == "odoo_mvshared" and can(env, SHARED) == "read-write" and can(env, OWN) == "none"
    assert files(env, SHARED) == original and files(env, OWN) is None
    assert neighbour(env) == untouched
