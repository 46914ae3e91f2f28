"""The tenant planner's logic (tenant/lifecycle.py Tenant.plan) against a stand-in for the catalog
queries it makes: which steps, in which order, which refusals. Only the plan: applying it, and every
behaviour of PostgreSQL itself, is tested on a real server (tests/integration/test_odoo_tenant.py,
test_tenant_guards.py)."""

import collections
import json

import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.database import MANAGED_BY
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.tenant.lifecycle import Tenant

FLEET = "odoo_fleet"


class StandInServer:
    """Answers the read-only catalog queries of a plan from a description of the server; any write,
    or a query it does not know, fails the test (a plan changes nothing)."""

    user, where = "odoo_ops_admin", "stand-in:5432"

    def __init__(self, databases=None, roles=(FLEET, "odoo_template_owner"), superusers=("postgres",), sessions=None):
        self.databases = databases or {}
        self.roles = set(roles) | set(superusers)
        self.superusers = set(superusers)
        self.sessions = sessions or {}
        self.asked = []

    def query(self, statement, args=None, dbname="postgres"):
        text = str(statement)
        self.asked.append(text)
        if "FROM pg_database d WHERE d.datname = %s" in text:
            found = self.databases.get(args[0])
            if found is None:
                return []
            comment = json.dumps(found["metadata"]) if found.get("metadata") else None
            return [(found["owner"], found.get("allow", True), found.get("limit", -1), comment, None, found.get("public", False), found.get("template", False))]
        if "FROM pg_stat_activity" in text:
            return [(self.sessions.get(args[0], 0),)]
        if "FROM pg_roles WHERE rolname = %s AND rolsuper" in text:
            return [(1,)] if args[0] in self.superusers else []
        if text.startswith("SELECT 1 FROM pg_roles WHERE rolname = %s"):
            return [(1,)] if args[0] in self.roles else []
        if text.startswith("SELECT pg_has_role(current_user"):
            return [(True,)]
        if text.startswith("SELECT r.rolname, r.rolsuper, r.rolcreaterole"):  # the plain-owner check
            return [(args[0], True, False, False, False, False)] if args[0] in self.superusers else []
        raise AssertionError("the plan asked something the stand-in does not know: %s" % text)

    def execute(self, statement, args=None, dbname="postgres"):
        raise AssertionError("a plan must not write: %s" % statement)


def params(**given):
    """The module's parameters as the planner reads them (options not given are None)."""
    defaults = dict(state="present", copy=True, terminate_connections=False, filestore_copy="copy", freeze_base_url=True, neutralize=False)
    return collections.defaultdict(lambda: None, dict(defaults, **given))


def template(**extra):
    return dict({"owner": "odoo_template_owner", "allow": False, "template": True, "metadata": {"managed_by": MANAGED_BY, "kind": "template"}}, **extra)


def tenant_db(**extra):
    return dict({"owner": FLEET, "limit": 20, "metadata": {"managed_by": MANAGED_BY, "tenant": "acme", "pattern": "shared", "tier": 1}}, **extra)


def plan(server, **given):
    return Tenant(server, params(**given)).plan()


def test_create_from_a_template_plans_every_step_in_order_and_writes_nothing(tmp_path):
    (tmp_path / "golden").mkdir()
    server = StandInServer({"golden": template()})
    planned = plan(server, name="acme", template="golden", owner=FLEET, base_url="https://acme.test", connection_limit=20, filestore_root=str(tmp_path))
    labels = [step.label for step in planned.steps]
    assert [label.split(" ")[0] for label in labels] == ["create", "give", "reset", "web.base.url", "hand", "connection", "record", "build"], labels
    assert "create database acme from template golden (strategy wal_log)" in labels[0]
    assert planned.creating and planned.changed and planned.warnings == []
    assert planned.before == {"exists": False, "filestore": False}
    assert planned.after["owner"] == FLEET and planned.after["connection_limit"] == 20 and planned.after["filestore"] is True
    assert planned.after["metadata"]["template"] == "golden" and planned.after["metadata"]["copy"] is True
    assert planned.report["origin"] == {"template": "golden", "copy": True, "sessions_cut": 0} and planned.report["strategy"] == "wal_log"


def test_an_unsealed_template_is_a_warning_and_its_sessions_a_refusal():
    server = StandInServer({"golden": template(allow=True, public=True)}, sessions={"golden": 2})
    with pytest.raises(ValueError, match="template golden has 2 open session"):
        plan(server, name="acme", template="golden", owner=FLEET, base_url="https://acme.test")
    planned = plan(server, name="acme", template="golden", owner=FLEET, base_url="https://acme.test", terminate_connections=True)
    assert any("is not sealed (it accepts connections from PUBLIC)" in warning for warning in planned.warnings)
    assert planned.report["origin"]["sessions_cut"] == 2


@pytest.mark.parametrize(
    "databases, given, message",
    [
        ({}, {}, "template database golden does not exist on stand-in:5432"),
        ({"golden": tenant_db()}, {}, "template golden is a tenant, not a template"),
        ({"golden": template()}, {"base_url": None}, "base_url is required to create acme as a copy"),
        ({"golden": template()}, {"owner": "postgres"}, "owner postgres is a superuser"),
        ({"golden": template()}, {"owner": "nobody"}, "owner role nobody does not exist"),
        ({"golden": template()}, {"template": "acme"}, "a tenant cannot be created from itself"),
        ({"acme": tenant_db(metadata=None)}, {}, "database acme already exists and is not a tenant managed by"),
    ],
)
def test_refusals_name_the_problem_before_anything_changes(databases, given, message):
    server = StandInServer(databases)
    with pytest.raises(ValueError, match=message):
        plan(server, **dict({"name": "acme", "template": "golden", "owner": FLEET, "base_url": "https://acme.test"}, **given))


def test_an_existing_filestore_is_refused(tmp_path):
    (tmp_path / "acme").mkdir()
    with pytest.raises(ValueError, match="filestore %s already exists" % (tmp_path / "acme")):
        plan(StandInServer({"golden": template()}), name="acme", template="golden", owner=FLEET, base_url="https://acme.test", filestore_root=str(tmp_path))


def test_an_existing_tenant_as_wanted_plans_nothing_and_a_changed_limit_one_step():
    server = StandInServer({"acme": tenant_db()})
    assert plan(server, name="acme", connection_limit=20).steps == []
    changed = plan(server, name="acme", connection_limit=30)
    assert [step.label for step in changed.steps] == ["connection limit 20 -> 30"] and changed.after["connection_limit"] == 30
    assert not changed.creating


def test_suspending_refuses_new_connections_then_cuts_the_open_ones():
    server = StandInServer({"acme": tenant_db()}, sessions={"acme": 3})
    planned = plan(server, name="acme", state="suspended")
    assert [step.label for step in planned.steps] == ["suspend acme: refuse new connections", "cut 3 open session(s) of acme"]
    assert planned.after["allow_connections"] is False and planned.report["sessions_cut"] == 3
    with pytest.raises(ValueError, match="does not exist, so it cannot be suspended"):
        plan(StandInServer(), name="acme", state="suspended")


def test_removal_refuses_templates_and_databases_without_tenant_metadata():
    with pytest.raises(ValueError, match="golden is a template: odoo_tenant never removes it"):
        plan(StandInServer({"golden": template()}), name="golden", state="absent")
    with pytest.raises(ValueError, match="it has no tenant metadata"):
        plan(StandInServer({"acme": tenant_db(metadata=None)}), name="acme", state="absent")
    with pytest.raises(ValueError, match="refusing to remove tenant acme without a final backup"):
        plan(StandInServer({"acme": tenant_db()}), name="acme", state="absent", final_backup_max_age=3600)
    assert plan(StandInServer(), name="acme", state="absent").steps == []  # nothing there: nothing to do
